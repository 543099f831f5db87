"""Shared test set-up: no network, and helpers to run `dlrun` the way users do."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

NO_NETWORK = Path(__file__).parent / "no_network"
sys.path.insert(0, str(NO_NETWORK))
import sitecustomize  # noqa: E402,F401  (guards this process too)


def dlrun_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(NO_NETWORK), env.get("PYTHONPATH", "")]))
    env.pop("HYDRA_FULL_ERROR", None)
    return env


@pytest.fixture
def dlrun(tmp_path):
    """Run the `dlrun` command in a fresh directory, as a user would; returns CompletedProcess."""

    def run(*args: str, timeout: float = 300, cwd: Path | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "dlrun", *args],
            cwd=cwd or tmp_path,
            env=dlrun_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run

