"""Sweeps: the checks before the first job, machine sharing for parallel jobs, the summary after the last."""
