"""Where a run's numbers and pictures go: `sinks` (the one way dlrun writes figures, histograms, text
and the final summary to every logger of a run that can take them), the MLflow and W&B loggers of
`conf/logger/`, and the check that their packages (the `trackers` extra) are installed.

Scalars need none of this: Lightning's `log_metrics` sends them to every logger already.
"""
