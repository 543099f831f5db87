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

from dlrun.epochs import user_epoch
from dlrun.errors import ConfigError

# What a resumed run may change: how long it trains. Anything else would make it another run.
EXTENDABLE = ("trainer.max_epochs", "trainer.max_steps", "trainer.max_time")


def resume(run_dir: Path, overrides: list[str], trust_config: bool = False) -> int:
    from dlrun.checkpoints import load_checkpoint
    from dlrun.config.compose import ConfigSource
    from dlrun.fit_and_test import RESUME_CHECKPOINT
    from dlrun.hydra_job import run_single
    from dlrun.run_dir.reading import compose_run, open_run, quoted

    run = open_run(run_dir, trust_config)
    last = run.path / "checkpoints" / "last.ckpt"
    if not last.is_file():
        raise ConfigError(
            f"'{run.path}' has no checkpoints/last.ckpt to resume from: the run stopped before its first "
            "epoch ended (or ran with callbacks.model_checkpoint=null). Start it again with dlrun train."
        )
    status = _status(run.path)
    checkpoint = load_checkpoint(last)  # refuses a pickle that carries code, before anything runs
    extension = _extension(overrides, checkpoint)
    if status == "completed" and not extension:
        raise ConfigError(
            f"The run in '{run.path}' completed ({user_epoch(checkpoint.get('epoch', 0))} epochs). To train it further, "
            "give a larger limit, e.g. `dlrun resume RUN_DIR trainer.max_epochs=N`."
        )
    started_with = run.overrides()
    extended_keys = {o.split("=", 1)[0] for o in extension}
    job_overrides = [o for o in started_with if o.lstrip("+").split("=", 1)[0] not in extended_keys] + extension
    source = ConfigSource(run.recorded_config_dir())
    pin = [f"hydra.run.dir={quoted(run.path)}"]  # the run writes into its own dir, as it did
    # The run's config must still compose here, and build only what its trust allows.
    checked = compose_run(run, source, job_overrides + pin, run_overrides=started_with, users_overrides=extension + pin)
    print(
        f"dlrun: resuming '{run.path}' after epoch {user_epoch(checkpoint.get('epoch', 0))} (status was {status})",
        flush=True,
    )
    os.environ[RESUME_CHECKPOINT] = str(last)
    try:
        return run_single(
            checked.cfg, source, run.path, output_subdir=f".hydra/resumed-{time.strftime('%Y-%m-%d_%H-%M-%S')}"
        )
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
                f"{user_epoch(checkpoint.get('epoch', 0))}; give a whole number above that."
            )
    return list(overrides)
