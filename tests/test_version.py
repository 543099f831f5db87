"""`dlrun --version`: one line from dlrun.__version__, exit 0, and no torch or Lightning imported."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import dlrun_env

from dlrun import __version__


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version_prints_the_package_version(dlrun, flag):
    done = dlrun(flag)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"dlrun {__version__}\n"
    assert done.stderr == ""


def test_version_wins_over_a_verb(dlrun):
    # Eager, as --help: a verb after it is not run.
    done = dlrun("--version", "doctor")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"dlrun {__version__}\n"


def test_version_imports_neither_torch_nor_lightning():
    # -X importtime names every module imported, on stderr; start-up must stay instant.
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "dlrun", "--version"],
        capture_output=True,
        text=True,
        env=dlrun_env(),
        check=True,
    )
    imported = [line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if "|" in line]
    assert imported, done.stderr
    heavy = [m for m in imported if m.split(".")[0] in ("torch", "pytorch_lightning", "lightning", "hydra")]
    assert not heavy, heavy
