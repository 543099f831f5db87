"""How torch's CPU threads wait, chosen before torch is imported.

OpenMP's worker threads spin while they wait for work (GNU OpenMP's default, OMP_WAIT_POLICY=ACTIVE
in effect). On a machine whose cores are not all free (a laptop with a browser open, a shared
server, a CI runner) the spinning workers take the time the run's own main thread needs: a default
run beside one busy process trained 2-3x slower, and the same run with passive waiting as fast as
on an idle machine, while on an idle machine the two did not differ measurably (see the closing
note of issue 24). So dlrun makes the workers sleep while they wait, unless the user chose a policy.
The variable is read once, when torch's OpenMP runtime starts, so it is set before torch is first
imported; child processes (sweep workers, DDP ranks) inherit it.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

WAIT_POLICY = "OMP_WAIT_POLICY"
PASSIVE = "PASSIVE"


def settle_openmp_waiting(environ: MutableMapping[str, str] = os.environ) -> str:
    """Passive waiting unless `environ` already names a policy (the user's choice stands); returns
    the policy in effect."""
    return environ.setdefault(WAIT_POLICY, PASSIVE)


def wait_policy(environ: MutableMapping[str, str] = os.environ) -> str:
    """The policy this process runs with, as OpenMP read it at start (ACTIVE when none was set)."""
    return environ.get(WAIT_POLICY, "ACTIVE (OpenMP's default)")
