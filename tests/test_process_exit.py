"""dlrun's processes skip Python's final garbage collection (dlrun/process_exit.py): a cycle still alive at
exit is left to the OS rather than collected, which is what saves the CLI about a second at exit."""

from __future__ import annotations

import subprocess
import sys

import pytest

# A cycle made after the setup, with a finalizer that reports its collection straight to stdout.
CYCLE = """
import os
class Cycle:
    def __del__(self):
        os.write(1, b"collected")
cycle = Cycle(); cycle.self = cycle; del cycle
"""


def exit_output(setup: str) -> str:
    return subprocess.run([sys.executable, "-c", setup + CYCLE], capture_output=True, text=True, check=True).stdout


def test_without_it_the_final_collection_finalizes_the_last_cycle():
    assert exit_output("") == "collected"  # the control: what the skipping removes


@pytest.mark.parametrize(
    "setup",
    [
        "from dlrun.process_exit import skip_final_collection; skip_final_collection()",
        "import dlrun.cli",  # the CLI registers it as it is imported
    ],
)
def test_a_process_that_skips_it_leaves_the_last_cycle_to_the_os(setup):
    assert exit_output(setup + "\n") == ""
