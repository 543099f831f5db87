"""DDP under Hydra: the processes Lightning starts re-run this one job, never the whole command.

Lightning's DDP launcher starts the other ranks by running the command line again, with
`hydra.run.dir` taken from Hydra's run config. Under a sweep that command line holds `-m` (a
second sweep in every child) and Hydra's run dir pattern (a stray timestamped dir), the known
Lightning#11300 / hydra#2070 problem. So while a job fits, the command line says exactly this job
(its own overrides and its resolved run dir), and afterwards the DDP environment variables that the
launcher leaves in this process are removed, and its process group is closed, or the next job of a sweep would wait for ranks that
nobody starts.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import cast

# What Lightning's subprocess launcher sets in the launching process.
LAUNCHER_VARIABLES = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE")


def is_rank_zero() -> bool:
    """Whether this process is the one that writes a run's files (rank 0, or not distributed)."""
    for name in ("RANK", "SLURM_PROCID"):
        if name in os.environ:
            return os.environ[name] == "0"
    return os.environ.get("LOCAL_RANK", "0") == "0" and os.environ.get("NODE_RANK", "0") == "0"


@contextlib.contextmanager
def command_line_of_this_job(run_dir: str, overrides: list[str]) -> Iterator[None]:
    """While fitting: sys.argv and Hydra's run dir say this job alone, for the ranks DDP starts."""
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import DictConfig, read_write

    saved_argv = list(sys.argv)
    saved_env = {name: os.environ.get(name) for name in LAUNCHER_VARIABLES}
    hydra_cfg = cast(DictConfig, HydraConfig.get())  # a DictConfig of the HydraConf schema, as Hydra keeps it
    saved_run_dir = hydra_cfg.run.dir
    sys.argv = [_script(saved_argv[0]), "train", *overrides]
    with read_write(hydra_cfg):
        hydra_cfg.run.dir = run_dir
    try:
        yield
    finally:
        import torch.distributed as dist

        # Lightning keeps its process group; the next job's ranks are new processes that need a new one.
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
        sys.argv = saved_argv
        with read_write(hydra_cfg):
            hydra_cfg.run.dir = saved_run_dir
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _script(argv0: str) -> str:
    """A path Python can run for `dlrun`: the console script, or `python -m dlrun`'s module file."""
    import __main__

    if getattr(__main__, "__spec__", None) is not None:
        return argv0  # Lightning runs `python -m <module>` then, and ignores argv[0]
    from pathlib import Path
    from shutil import which

    beside_python = Path(sys.executable).with_name("dlrun")  # the console script of this environment
    return str(beside_python) if beside_python.is_file() else which("dlrun") or argv0
