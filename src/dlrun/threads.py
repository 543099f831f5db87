"""How torch's CPU threads wait for work, as a run records it and `dlrun doctor` shows it.

OpenMP's workers spin while they wait unless OMP_WAIT_POLICY says PASSIVE. Measured with
scripts/bench_busy.py (README, Speed): spinning threads make a run beside a busy process up to 2.3x
slower, but sleeping ones make two threads on an idle machine 1.5-2x slower than spinning ones, so
neither policy is a good default alone; dlrun leaves the variable to the user for now.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

WAIT_POLICY = "OMP_WAIT_POLICY"


def wait_policy(environ: Mapping[str, str] = os.environ) -> str | None:
    """The policy this process's OpenMP read at start; None: OpenMP's default (spinning)."""
    return environ.get(WAIT_POLICY)
