"""Lightning's MLFlowLogger as `logger=mlflow` builds it: a local SQLite store under `paths.root`,
the run named by its overrides like its TensorBoard run, and a resumed run dir going on in the MLflow
run it started."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from pytorch_lightning.loggers import MLFlowLogger

from dlrun.tensorboard_hparams import run_name
from dlrun.trackers.extras import require

log = logging.getLogger(__name__)

# In the run dir: which MLflow run this run dir writes to, for `dlrun resume` and for people.
RECORD = "mlflow_run.json"
SQLITE = "sqlite:///"


def absolute_store(tracking_uri: str) -> str:
    """A SQLite store given by a relative path (`sqlite:///outputs/mlflow.db`) as an absolute one, its
    folder made: the run dir records it, and `dlrun resume` from another folder must find it."""
    if not tracking_uri.startswith(SQLITE) or tracking_uri[len(SQLITE) :] in ("", ":memory:"):
        return tracking_uri
    path = Path(tracking_uri[len(SQLITE) :]).expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    return SQLITE + str(path)


def absolute_location(location: str | None) -> str | None:
    """Artifacts under a relative path are kept where the run was started from, not where `mlflow ui` runs."""
    if not location or "://" in location:
        return location
    return str(Path(location).expanduser().resolve())


class MLflowRunLogger(MLFlowLogger):
    """MLFlowLogger with `run_name` the job's overrides (`model=cnn,seed=1`; "defaults" when there
    are none) and `run_dir` the run's dir: the MLflow run's ids are written to `<run_dir>/mlflow_run.json`,
    and a run dir that has one (a run `dlrun resume` continues) logs to that MLflow run again when
    the store still has it, else to a new one."""

    def __init__(
        self,
        run_dir: str | Path | None = None,
        experiment_name: str = "dlrun",
        run_name: str | None = None,
        tracking_uri: str | None = None,
        artifact_location: str | None = None,
        **kwargs: Any,
    ) -> None:
        require("mlflow", "mlflow")
        # MLflow announces making and migrating its store ("Creating initial MLflow database tables...")
        # at INFO on every new store; the epoch lines and warnings are what the terminal and train.log are for.
        for store_logger in ("mlflow.store.db.utils", "alembic"):
            logging.getLogger(store_logger).setLevel(logging.WARNING)
        tracking_uri = absolute_store(tracking_uri) if tracking_uri else tracking_uri
        self._record = Path(run_dir, RECORD) if run_dir is not None else None
        earlier = _earlier_run(self._record, tracking_uri) if tracking_uri else None
        super().__init__(
            experiment_name=experiment_name,
            run_name=_named(run_name),
            tracking_uri=tracking_uri,
            artifact_location=absolute_location(artifact_location),
            run_id=earlier or kwargs.pop("run_id", None),
            **kwargs,
        )
        self._continues = earlier is not None
        self._recorded = False

    @property
    def experiment(self) -> Any:
        client = super().experiment
        if self._record is not None and self._run_id is not None and not self._recorded:
            self._recorded = True
            self._record.parent.mkdir(parents=True, exist_ok=True)
            record = {"tracking_uri": self._tracking_uri, "experiment_id": self._experiment_id, "run_id": self._run_id}
            self._record.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        if self._continues:
            self._continues = False
            client.update_run(self._run_id, status="RUNNING")  # Lightning ended it with the earlier fit
        return client


def _named(overrides: str | None) -> str | None:
    if overrides is None:
        return None
    return run_name(overrides) or "defaults"


def _earlier_run(record: Path | None, tracking_uri: str) -> str | None:
    """The MLflow run this run dir wrote to before, if it did, into this store, and the store still has it."""
    if record is None or not record.is_file():
        return None
    try:
        earlier = json.loads(record.read_text(encoding="utf-8"))
        if earlier.get("tracking_uri") != tracking_uri:
            return None
        from mlflow.tracking import MlflowClient

        run = MlflowClient(tracking_uri).get_run(str(earlier["run_id"]))
    except Exception as error:  # unreadable record, or a run the store no longer has: start a new one
        log.warning("%s names no MLflow run this store has (%s): starting a new MLflow run", record, error)
        return None
    return run.info.run_id if run.info.lifecycle_stage == "active" else None
