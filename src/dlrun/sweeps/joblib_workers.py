"""Start a parallel sweep's worker processes while the main process still checks the sweep.

Hydra's joblib launcher runs jobs in loky workers, which are spawned, not forked: each imports torch,
Lightning and dlrun afresh, about 5 s on 2 cores, and the first jobs would wait for that after the
main process's own checks (as long again). Started as soon as the launcher's settings are composed,
the workers import while the main process checks every value and builds the first job's task.
joblib keeps one executor per process and reuses it for a later Parallel call with the same settings,
so the launcher's own call finds the same workers, warm.
"""

from __future__ import annotations

import os
import threading
from typing import Any, cast

from omegaconf import DictConfig, OmegaConf

from dlrun.sweeps.parallel_jobs import concurrent_jobs, usable_cores


def _import_what_a_job_imports() -> int:
    import dlrun.fit_and_test  # noqa: F401
    import dlrun.hydra_job  # noqa: F401

    return os.getpid()


def launcher_settings(cfg: DictConfig) -> dict:
    """The Parallel(...) arguments Hydra's joblib launcher will use, as it derives them."""
    from hydra_plugins.hydra_joblib_launcher._core import process_joblib_cfg

    settings = cast(dict[str, Any], OmegaConf.to_container(cfg.hydra.launcher, resolve=True))  # from a DictConfig
    settings.pop("_target_", None)
    settings["backend"] = "loky"  # the launcher's own choice, whatever the config says
    process_joblib_cfg(settings)
    return settings


class WarmWorkers:
    """The workers of a joblib sweep, importing in the background from construction on."""

    def __init__(self, settings: dict) -> None:
        from joblib import Parallel, delayed

        workers = concurrent_jobs(int(settings["n_jobs"]), usable_cores())
        self._parallel = Parallel(**settings)
        self.pids: list[int] = []  # the workers that imported, once ready()
        tasks = [delayed(_import_what_a_job_imports)() for _ in range(workers)]
        self._thread = threading.Thread(target=self._warm, args=(tasks,), name="dlrun-warm-workers", daemon=True)
        self._thread.start()

    def _warm(self, tasks: list) -> None:
        try:
            self.pids = self._parallel(tasks)
        except Exception:  # noqa: BLE001 - a head start only: the launcher starts its own workers
            pass

    def ready(self) -> None:
        """Wait until the workers have imported, before the launcher's Parallel call uses them."""
        self._thread.join()

    def stop(self) -> None:
        """End the workers at once (the sweep is over, or stopped before its first job)."""
        from joblib.externals.loky import reusable_executor

        executor = getattr(reusable_executor, "_executor", None)  # joblib's one executor, if started
        if executor is not None:
            executor.shutdown(wait=False, kill_workers=True)


def warm_workers(cfg: DictConfig) -> WarmWorkers | None:
    """Start the workers when the sweep runs on `hydra/launcher=joblib`, else None."""
    if cfg.hydra.runtime.choices.get("hydra/launcher") != "joblib":
        return None
    try:
        settings = launcher_settings(cfg)
        int(settings["n_jobs"])
    except Exception:  # noqa: BLE001 - a launcher setting that does not resolve: the checks that follow say so
        return None
    return WarmWorkers(settings)
