"""Optuna's messages in the sweep's own log format, without colour codes or alembic's set-up lines."""

from __future__ import annotations

import logging


def quiet_optuna() -> None:
    """Optuna's records through the logging Hydra configures, not its own coloured handler.

    Optuna writes to stderr with colorlog's escape codes whether or not stderr is a terminal, which
    leaves them in CI logs and files; passed on to the root logger, its records take Hydra's format
    and, inside a job, reach the job's log. Its sqlite storage imports alembic, which announces
    each plugin it sets up at INFO.
    """
    logging.getLogger("alembic").setLevel(logging.WARNING)  # before importing optuna, which imports alembic
    import optuna

    optuna.logging.disable_default_handler()
    optuna.logging.enable_propagation()
