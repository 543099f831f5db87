"""`dlrun resume RUN_DIR [OVERRIDES]`: continue an interrupted run from its last checkpoint, in its
own dir, with its own config.

The run is started again as a Hydra run in the same dir with the overrides it was started with
(plus any that extend it: a larger trainer.max_epochs, say), and Lightning restores everything the
checkpoint holds: weights, optimizer and scheduler states, the loops, early stopping (with its best
weights), checkpointing, the metric history, the random generators and the training shuffle. On a
CPU the resumed run ends with the weights and metrics of a run that was never interrupted.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

import yaml

from dlrun.errors import ConfigError

# What a resumed run may change: how long it trains. Anything else would make it another run.
EXTENDABLE = ("trainer.max_epochs", "trainer.max_steps", "trainer.max_time")


def resume(run_dir: Path, overrides: list[str]) -> int:
    from dlrun.checkpoints import load_checkpoint
    from dlrun.config.compose import ConfigSource
    from dlrun.config.validate import check
    from dlrun.experiment import RESUME_CHECKPOINT
    from dlrun.launch import run_single

    run_dir = run_dir.resolve()
    hydra_dir, last = run_dir / ".hydra", run_dir / "checkpoints" / "last.ckpt"
    if not (hydra_dir / "config.yaml").is_file():
        raise ConfigError(f"'{run_dir}' is not a dlrun run dir (it has no .hydra/config.yaml); give the dir a `dlrun train` made.")
    if not last.is_file():
        raise ConfigError(
            f"'{run_dir}' has no checkpoints/last.ckpt to resume from: the run stopped before its first "
            "epoch ended (or ran with callbacks.model_checkpoint=null). Start it again with dlrun train."
        )
    status = _status(run_dir)
    checkpoint = load_checkpoint(last)  # refuses a pickle that carries code, before anything runs
    extension = _extension(overrides, checkpoint)
    if status == "completed" and not extension:
        raise ConfigError(
            f"The run in '{run_dir}' completed ({checkpoint.get('epoch', 0) + 1} epochs). To train it further, "
            "give a larger limit, e.g. `dlrun resume RUN_DIR trainer.max_epochs=N`."
        )
    started_with = yaml.safe_load((hydra_dir / "overrides.yaml").read_text()) or []
    extended_keys = {o.split("=", 1)[0] for o in extension}
    job_overrides = [o for o in started_with if o.lstrip("+").split("=", 1)[0] not in extended_keys] + extension
    config_dir = _config_dir(hydra_dir)
    source = ConfigSource(config_dir)
    checked = check(source, job_overrides)  # the run's config must still compose here
    print(f"dlrun: resuming '{run_dir}' after epoch {checkpoint.get('epoch', 0) + 1} (status was {status})", flush=True)
    os.environ[RESUME_CHECKPOINT] = str(last)
    try:
        return run_single(checked.cfg, source, run_dir, output_subdir=f".hydra/resumed-{time.strftime('%Y-%m-%d_%H-%M-%S')}")
    finally:
        os.environ.pop(RESUME_CHECKPOINT, None)


def _status(run_dir: Path) -> str:
    """The recorded status; refuses a run whose process is still training."""
    path = run_dir / "results.json"
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return "unknown"
    status = record.get("status", "unknown")
    if status == "running" and record.get("host") == socket.gethostname() and _alive(record.get("pid")):
        raise ConfigError(
            f"The run in '{run_dir}' is still training (process {record['pid']}); resume it once that "
            "process has stopped."
        )
    return "interrupted" if status == "running" else status


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0 or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _extension(overrides: list[str], checkpoint: dict) -> list[str]:
    """The overrides, checked to only lengthen the run."""
    for override in overrides:
        key, _, value = override.partition("=")
        if key not in EXTENDABLE or not value:
            raise ConfigError(
                f"dlrun resume continues a run as it was configured; '{override}' would change it. Only "
                f"{', '.join(k + '=...' for k in EXTENDABLE)} may be given, to train longer. Start a new run "
                "(dlrun train) to change anything else."
            )
        if key == "trainer.max_epochs" and not (value.isdigit() and int(value) > checkpoint.get("epoch", 0) + 1):
            raise ConfigError(
                f"trainer.max_epochs={value} does not extend the run: its last checkpoint is after epoch "
                f"{checkpoint.get('epoch', 0) + 1}; give a whole number above that."
            )
    return list(overrides)


def _config_dir(hydra_dir: Path) -> str | None:
    """The --config-dir the run was started with, from Hydra's record of its config sources."""
    try:
        sources = yaml.safe_load((hydra_dir / "hydra.yaml").read_text())["hydra"]["runtime"]["config_sources"]
    except (OSError, KeyError, TypeError, yaml.YAMLError):
        return None
    for source in sources or []:
        if source.get("provider") == "command-line" and source.get("schema") == "file":
            return source["path"]
    return None
