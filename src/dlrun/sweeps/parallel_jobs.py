"""Share one machine between the jobs of a parallel sweep (`hydra/launcher=joblib`).

Every job's torch would take a thread per core, so N jobs at once would run N times more threads
than cores and slow each other down. Each job gets cores // N threads instead, and on a machine
with GPUs the jobs take the GPUs in turn; a machine without one runs them on the CPU.
"""

from __future__ import annotations

import os

from dlrun import threads as machine_threads
from dlrun.threads import usable_cores

# The GPUs the sweep started with, kept once: a worker that ran an earlier job has narrowed
# CUDA_VISIBLE_DEVICES to that job's GPU.
ALL_GPUS = "DLRUN_SWEEP_GPUS"


def concurrent_jobs(n_jobs: int, cores: int) -> int:
    """How many jobs joblib runs at once for its `n_jobs` (-1 all cores, -2 all but one, ...)."""
    return max(1, n_jobs if n_jobs > 0 else cores + 1 + n_jobs)


def trials_at_a_time(sweeper_n_jobs: int | None, launcher_n_jobs: object) -> int:
    """How many Optuna trials to ask and launch together: `hydra.sweeper.n_jobs`, or where it is None
    as many as the launcher runs at once (joblib's `hydra.launcher.n_jobs`; other launchers: one)."""
    if sweeper_n_jobs is not None:
        return sweeper_n_jobs
    return concurrent_jobs(launcher_n_jobs, usable_cores()) if isinstance(launcher_n_jobs, int) else 1


def threads_per_job(parallel: int, cores: int) -> int:
    return max(1, cores // parallel)


def gpu_for_job(job_num: int, gpus: list[str]) -> str | None:
    return gpus[job_num % len(gpus)] if gpus else None


def share_machine(job_num: int, n_jobs: int) -> tuple[int, str | None]:
    """Set this job's torch threads and GPU; returns (threads, GPU id or None)."""
    import torch

    cores = usable_cores()
    threads = threads_per_job(concurrent_jobs(n_jobs, cores), cores)
    torch.set_num_threads(threads)
    machine_threads.job_share = threads  # trainer.threads=auto keeps within it
    if ALL_GPUS not in os.environ:
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        count = torch.cuda.device_count()
        os.environ[ALL_GPUS] = visible if visible is not None else ",".join(map(str, range(count)))
    gpus = [g for g in os.environ[ALL_GPUS].split(",") if g.strip()]
    gpu = gpu_for_job(job_num, gpus)
    if gpu is not None and not torch.cuda.is_initialized():
        # Only before CUDA starts in this process does the variable take effect.
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
    return threads, gpu
