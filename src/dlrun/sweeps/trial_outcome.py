"""What an Optuna trial is told when its job ends, and what it records of the run.

- COMPLETE with the job's value: the best monitored value of a run that completed.
- PRUNED: the pruning callback stopped the run (its results.json has `pruned_at_epoch`); Optuna
  takes the trial's last reported value as its value.
- FAIL: the job raised, or returned no finite number (dlrun's job returns None for a run that
  failed or diverged); the study goes on.

Each trial's user attributes say where its run is and how it did: `run_dir`, `status` (the run's,
from its results.json), each test metric under its own name (`test/acc`, ...), and `error` or
`pruned_at_epoch` where there is one.
"""

from __future__ import annotations

import json
import math
import numbers
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dlrun.results import RESULTS_FILE

if TYPE_CHECKING:
    from hydra.core.utils import JobReturn
    from optuna import Study
    from optuna.trial import Trial, TrialState


@dataclass
class TrialOutcome:
    state: TrialState
    value: float | None = None
    user_attrs: dict[str, Any] = field(default_factory=dict)


def outcome_of(job: JobReturn) -> TrialOutcome:
    from hydra.core.utils import JobStatus
    from optuna.trial import TrialState

    run_dir = _run_dir(job)
    record = _results(run_dir)
    attrs: dict[str, Any] = {"run_dir": str(run_dir) if run_dir else None, "status": record.get("status", "unknown")}
    # One attribute per metric (test/acc, test/loss, ...): the dashboard sorts and filters trials by each.
    attrs.update({str(k): _finite_or_none(v) for k, v in (record.get("test_metrics") or {}).items()})
    if job.status == JobStatus.FAILED:
        # What the task raised (the `return_value` getter would raise it, after a line on stderr).
        raised = job._return_value
        if isinstance(raised, BaseException):
            attrs["error"] = "".join(traceback.format_exception_only(raised)).strip()
        if attrs["status"] in ("running", "unknown"):
            attrs["status"] = "failed"
        return TrialOutcome(TrialState.FAIL, None, attrs)
    value = _finite_or_none(job.return_value)
    if value is None:
        attrs["error"] = record.get("error") or f"the job returned {job.return_value!r}, not a finite number"
        return TrialOutcome(TrialState.FAIL, None, attrs)
    if record.get("pruned_at_epoch") is not None:
        attrs["pruned_at_epoch"] = record["pruned_at_epoch"]
        return TrialOutcome(TrialState.PRUNED, None, attrs)
    return TrialOutcome(TrialState.COMPLETE, value, attrs)


def tell(study: Study, trial: Trial, job: JobReturn) -> TrialOutcome:
    """Record the job's run on its trial and tell the study how the trial ended."""
    outcome = outcome_of(job)
    for key, value in outcome.user_attrs.items():
        trial.set_user_attr(key, value)
    study.tell(trial, outcome.value, state=outcome.state)
    return outcome


def _run_dir(job: JobReturn) -> Path | None:
    from omegaconf import OmegaConf

    output_dir = OmegaConf.select(job.hydra_cfg, "hydra.runtime.output_dir") if job.hydra_cfg is not None else None
    return Path(output_dir) if output_dir else None


def _results(run_dir: Path | None) -> dict[str, Any]:
    """The run's results.json, or {} where it wrote none (its process died first) or it is damaged."""
    if run_dir is None:
        return {}
    try:
        record = json.loads((run_dir / RESULTS_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _finite_or_none(value: Any) -> float | None:
    """A finite number as a float; None for anything else (Optuna stores user attributes as JSON, where
    NaN would make its dashboard fail to read the trial)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):  # numpy's floats are Real too
        return None
    return float(value) if math.isfinite(value) else None
