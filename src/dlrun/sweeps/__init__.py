"""Sweeps: the checks before the first job, machine sharing for parallel jobs, dlrun's Optuna sweeper
(`hydra/sweeper=optuna`), the summary after the last job."""
