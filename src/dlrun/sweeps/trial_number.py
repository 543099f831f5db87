"""How a job learns which Optuna trial it is: the sweeper sets an environment variable for the job.

The sweeper hands it as `++hydra.job.env_set.DLRUN_OPTUNA_TRIAL=N`, an override of Hydra's own node:
Hydra sets the variable only while the job runs (in whichever process the launcher runs it), records
it in the job's hydra.yaml, and keeps it out of the job's overrides.yaml, its `override_dirname` (the
run's name) and so out of `dlrun report`'s columns. A plain run or a `dlrun resume` has no such
variable, and its pruning is off.
"""

from __future__ import annotations

import os

TRIAL_NUMBER_VARIABLE = "DLRUN_OPTUNA_TRIAL"


def trial_number_override(number: int) -> str:
    return f"++hydra.job.env_set.{TRIAL_NUMBER_VARIABLE}={number}"


def trial_number_of_this_job() -> int | None:
    """The number of the Optuna trial this job runs, or None outside an Optuna sweep."""
    text = os.environ.get(TRIAL_NUMBER_VARIABLE, "").strip()
    return int(text) if text.isdigit() else None
