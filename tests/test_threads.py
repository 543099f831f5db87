"""OpenMP's workers sleep while they wait unless the user chose otherwise, set by the CLI before torch
is imported (the variable is read once, when torch's OpenMP runtime starts)."""

from __future__ import annotations

import subprocess
import sys

from conftest import dlrun_env

from dlrun.threads import PASSIVE, WAIT_POLICY, settle_openmp_waiting, wait_policy

SHOW_POLICY_AT_IMPORT = (
    "import os, sys; import dlrun.cli; print(os.environ.get('OMP_WAIT_POLICY'), 'torch' in sys.modules)"
)


def test_passive_unless_the_user_chose_a_policy():
    environ: dict[str, str] = {}
    assert settle_openmp_waiting(environ) == PASSIVE and environ == {WAIT_POLICY: PASSIVE}
    chosen = {WAIT_POLICY: "ACTIVE"}
    assert settle_openmp_waiting(chosen) == "ACTIVE" and chosen == {WAIT_POLICY: "ACTIVE"}
    assert wait_policy({}).startswith("ACTIVE") and wait_policy({WAIT_POLICY: PASSIVE}) == PASSIVE


def test_the_cli_sets_the_policy_before_torch_is_imported():
    for user_setting, expected in ((None, "PASSIVE"), ("ACTIVE", "ACTIVE")):
        env = dlrun_env()
        env.pop(WAIT_POLICY, None)
        if user_setting is not None:
            env[WAIT_POLICY] = user_setting
        shown = subprocess.run(
            [sys.executable, "-c", SHOW_POLICY_AT_IMPORT], env=env, capture_output=True, text=True, check=True
        )
        assert shown.stdout.split() == [expected, "False"], shown.stdout + shown.stderr
