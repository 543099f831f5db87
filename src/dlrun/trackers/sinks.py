"""The one way dlrun writes what is not a scalar (figures, histograms, text) and a run's final summary
(hyperparameters and final metrics) to the loggers of a run: each logger that can take them gets them
in its own form, at the same optimizer step.

- TensorBoard: `add_figure`, `add_histogram_raw`, `add_text`, and the HParams session
  (`tensorboard_hparams.write_hparams`), exactly as the callbacks wrote them before.
- MLflow: figures as PNG and text as Markdown artifacts named `<tag>/step_<step>.png|md`, the
  hyperparameters as params (cut to MLflow's longest value), `best/<monitor>` as a metric and the
  final table as `results.md`. MLflow has no histogram: the diagnostics' histograms are left out.
- W&B: `wandb.Image`, `wandb.Histogram`, a one-cell table for text (W&B has no text panel), the
  hyperparameters in the run's config and the final metrics in its summary.
- CSV and any other logger take scalars only: they get nothing from here.

A callback asks `Sinks.of(trainer.loggers)` and does no work (no figure drawn) when it is empty.
"""

from __future__ import annotations

import contextlib
import logging
import re
import shlex
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from pytorch_lightning.loggers import Logger, MLFlowLogger, TensorBoardLogger, WandbLogger
from pytorch_lightning.utilities.rank_zero import rank_zero_only

from dlrun.results import display_path
from dlrun.tensorboard_hparams import HparamValue, results_table, write_hparams
from dlrun.trackers.mlflow_run import SQLITE

log = logging.getLogger(__name__)

# What `dlrun.callbacks.diagnostics.histograms.histogram_parts` makes: add_histogram_raw's arguments.
HistogramParts = Mapping[str, Any]


class Sink(Protocol):
    def figure(self, tag: str, figure: Any, step: int) -> None: ...
    def histogram(self, tag: str, parts: HistogramParts, step: int) -> None: ...
    def text(self, tag: str, text: str, step: int) -> None: ...
    def summary(self, params: Mapping[str, HparamValue], metrics: Mapping[str, float], step: int) -> None: ...
    def flush(self) -> None: ...


class TensorBoardSink:
    def __init__(self, logger: TensorBoardLogger) -> None:
        self.writer = logger.experiment

    def figure(self, tag: str, figure: Any, step: int) -> None:
        # close=False: the caller's figure goes on to the other sinks, and it closes it itself.
        self.writer.add_figure(tag, figure, global_step=step, close=False)

    def histogram(self, tag: str, parts: HistogramParts, step: int) -> None:
        self.writer.add_histogram_raw(tag, global_step=step, **parts)

    def text(self, tag: str, text: str, step: int) -> None:
        self.writer.add_text(tag, text, global_step=step)

    def summary(self, params: Mapping[str, HparamValue], metrics: Mapping[str, float], step: int) -> None:
        write_hparams(self.writer, params, metrics, step)

    def flush(self) -> None:
        self.writer.flush()


# MLflow takes these characters in names (mlflow.utils.validation); others become "_".
_NOT_IN_MLFLOW_NAME = re.compile(r"[^\w\-. /:]")
# MLflow's longest param value (mlflow.utils.validation.MAX_PARAM_VAL_LENGTH in MLflow 3) and the most
# params one call may log; a longer value (a long list in the config) is cut and marked as cut.
MLFLOW_LONGEST_PARAM = 6000
MLFLOW_PARAMS_PER_CALL = 100


def mlflow_artifact(tag: str, step: int, suffix: str) -> str:
    """`val/confusion_matrix` at step 40 -> `val/confusion_matrix/step_000040.png`: one folder per
    tag in MLflow's artifact view, its files in step order."""
    return f"{_NOT_IN_MLFLOW_NAME.sub('_', tag)}/step_{step:06d}.{suffix}"


def mlflow_param(value: object) -> str:
    text = str(value)
    return text if len(text) <= MLFLOW_LONGEST_PARAM else text[: MLFLOW_LONGEST_PARAM - 1] + "…"


class MLflowSink:
    def __init__(self, logger: MLFlowLogger) -> None:
        self.client = logger.experiment
        self.run_id = logger.run_id

    def figure(self, tag: str, figure: Any, step: int) -> None:
        self.client.log_figure(self.run_id, figure, mlflow_artifact(tag, step, "png"))

    def histogram(self, tag: str, parts: HistogramParts, step: int) -> None:
        pass  # MLflow has no histogram; one PNG per layer and epoch would bury the figures

    def text(self, tag: str, text: str, step: int) -> None:
        self.client.log_text(self.run_id, text, mlflow_artifact(tag, step, "md"))

    @rank_zero_only
    def summary(self, params: Mapping[str, HparamValue], metrics: Mapping[str, float], step: int) -> None:
        from mlflow.entities import Metric, Param

        logged = self.client.get_run(self.run_id).data.params
        new = {_NOT_IN_MLFLOW_NAME.sub("_", k): mlflow_param(v) for k, v in params.items()}
        # A resumed run (dlrun resume) continues its MLflow run, whose params MLflow never lets change:
        # a value that changed (trainer.max_epochs) is kept as the tag `resumed.<key>` instead.
        changed = {k: v for k, v in new.items() if k in logged and logged[k] != v}
        fresh = [Param(k, v) for k, v in new.items() if k not in logged]
        for start in range(0, len(fresh), MLFLOW_PARAMS_PER_CALL):
            self.client.log_batch(self.run_id, params=fresh[start : start + MLFLOW_PARAMS_PER_CALL])
        for key, value in changed.items():
            self.client.set_tag(self.run_id, f"resumed.{key}", value)
        # The test values are logged already (Lightning's log_metrics); `best/<monitor>` is not.
        best = [Metric(k, float(v), 0, step) for k, v in metrics.items() if k.startswith("best/")]
        if best:
            self.client.log_batch(self.run_id, metrics=best)
        if metrics:
            self.client.log_text(self.run_id, results_table(metrics), "results.md")

    def flush(self) -> None:
        pass  # every call above has reached the store when it returns


class WandbSink:
    def __init__(self, logger: WandbLogger) -> None:
        self.logger = logger

    def figure(self, tag: str, figure: Any, step: int) -> None:
        self.logger.log_image(tag, [figure], step=step)

    def histogram(self, tag: str, parts: HistogramParts, step: int) -> None:
        import numpy as np
        import wandb

        edges = np.array([parts["min"], *parts["bucket_limits"]])
        histogram = wandb.Histogram(np_histogram=(np.array(parts["bucket_counts"]), edges))
        self.logger.log_metrics({tag: histogram}, step=step)  # type: ignore[dict-item]  # W&B takes media here

    def text(self, tag: str, text: str, step: int) -> None:
        self.logger.log_text(tag, columns=["text"], data=[[text]], step=step)

    @rank_zero_only
    def summary(self, params: Mapping[str, HparamValue], metrics: Mapping[str, float], step: int) -> None:
        run = self.logger.experiment
        run.config.update(dict(params), allow_val_change=True)
        run.summary.update(dict(metrics))

    def flush(self) -> None:
        pass  # W&B's service writes on its own; `finish` (close_trackers) waits for it


def _sink_of(logger: Logger) -> Sink | None:
    if isinstance(logger, TensorBoardLogger):
        return TensorBoardSink(logger)
    if isinstance(logger, MLFlowLogger):
        return MLflowSink(logger)
    if isinstance(logger, WandbLogger):
        return WandbSink(logger)
    return None  # CSV, or a logger dlrun does not know: scalars only


class Sinks(tuple[Sink, ...]):
    """The sinks of the loggers that take more than scalars; empty (falsy) when none does."""

    @classmethod
    def of(cls, loggers: Iterable[Logger]) -> Sinks:
        return cls(sink for sink in map(_sink_of, loggers) if sink is not None)

    def figure(self, tag: str, figure: Any, step: int) -> None:
        """A matplotlib Figure to every sink; the caller still owns (and closes) it."""
        for sink in self:
            sink.figure(tag, figure, step)

    def histogram(self, tag: str, parts: HistogramParts, step: int) -> None:
        for sink in self:
            sink.histogram(tag, parts, step)

    def text(self, tag: str, text: str, step: int) -> None:
        """Markdown (TensorBoard's Text tab draws its tables)."""
        for sink in self:
            sink.text(tag, text, step)

    def summary(self, params: Mapping[str, HparamValue], metrics: Mapping[str, float], step: int) -> None:
        """The run's hyperparameters and final metrics (test values and `best/<monitor>`), at its last step."""
        for sink in self:
            sink.summary(params, metrics, step)

    def flush(self) -> None:
        for sink in self:
            sink.flush()


def look_at_commands(loggers: Sequence[Logger], run_dir: str | Path) -> list[str]:
    """The command that opens what each logger wrote, for the end-of-run summary."""
    commands = []
    for logger in loggers:
        if isinstance(logger, TensorBoardLogger):
            commands.append(f"tensorboard --logdir {shlex.quote(display_path(run_dir))}")
        elif isinstance(logger, MLFlowLogger):
            store = str(logger._tracking_uri)
            if store.startswith(SQLITE):
                store = SQLITE + display_path(store[len(SQLITE) :])
            commands.append(f"mlflow ui --backend-store-uri {shlex.quote(store)}")
        elif isinstance(logger, WandbLogger) and logger._offline:
            offline_runs = Path(display_path(logger.save_dir or run_dir)) / "wandb" / "offline-run-*"
            commands.append(f"wandb sync {offline_runs}")  # unquoted: the shell finds the run
    return commands


@contextlib.contextmanager
def closing_trackers(loggers: Sequence[Logger]) -> Iterator[None]:
    """Ends the run's W&B run when the job ends, failed or not: Lightning's `finalize` leaves it open
    (testing comes after fitting), and in a sweep the next job's logger would otherwise join it.
    MLflow's run is ended by Lightning's `finalize` itself."""
    failed = True
    try:
        yield
        failed = False
    finally:
        if any(isinstance(logger, WandbLogger) for logger in loggers):
            _finish_wandb(failed)


@rank_zero_only
def _finish_wandb(failed: bool) -> None:
    import wandb

    if wandb.run is not None:
        wandb.run.finish(exit_code=1 if failed else 0)
