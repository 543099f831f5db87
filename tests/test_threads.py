"""trainer.threads: how many CPU threads a run computes with, and why (dlrun.threads)."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
import torch
from conftest import build_from_overrides
from helpers import run_cli
from torch import nn

from dlrun import threads
from dlrun.threads import (
    SMALL_FORWARD_FLOPS,
    CpuTimes,
    ThreadChoice,
    busy_elsewhere,
    choose_threads,
    cpu_times,
    load_between,
)
from dlrun.training.trainer import ThreadsForTheRun

SMALL, LARGE = SMALL_FORWARD_FLOPS / 2, SMALL_FORWARD_FLOPS * 20


@pytest.fixture(autouse=True)
def one_thread_after():
    """Every test leaves torch on the one thread the suite runs with (conftest)."""
    yield
    torch.set_num_threads(1)


def auto(**given) -> ThreadChoice:
    given = {"cores": 2, "busy_elsewhere": 0.0, "forward_flops": LARGE, "environ": {}} | given
    return choose_threads("auto", **given)


def test_a_model_that_gains_takes_every_free_core():
    assert auto(cores=2) == ThreadChoice(2, "auto: all 2 cores free")
    assert auto(cores=8, busy_elsewhere=0.4).threads == 8  # a browser idling on a core leaves it free
    assert auto(cores=8, busy_elsewhere=2.6) == ThreadChoice(5, "auto: 5 free of 8 cores")


def test_a_busy_machine_gets_one_thread_per_free_core_and_never_none():
    assert auto(cores=2, busy_elsewhere=1.0) == ThreadChoice(1, "auto: 1 free of 2 cores")
    assert auto(cores=2, busy_elsewhere=0.6).threads == 1
    assert auto(cores=4, busy_elsewhere=9.0).threads == 1  # more load than cores still leaves this run one


def test_a_small_model_takes_one_thread_even_on_an_idle_machine():
    choice = auto(cores=16, forward_flops=SMALL)
    assert choice.threads == 1 and f"{SMALL / 1e6:.1f} MFLOP" in choice.reason
    assert auto(cores=16, forward_flops=SMALL_FORWARD_FLOPS).threads == 16


def test_what_is_not_known_leaves_torchs_default_of_every_core():
    assert auto(cores=4, busy_elsewhere=None, forward_flops=None) == ThreadChoice(4, "auto: 4 cores")


def test_a_share_of_the_machine_bounds_auto():
    # A parallel sweep's jobs (or DDP's ranks) split the cores; the load they make is their own.
    assert auto(cores=8, share=2, busy_elsewhere=None) == ThreadChoice(
        2, "auto: its share of the machine (2 of 8 cores)"
    )
    assert auto(cores=8, share=2, forward_flops=SMALL).threads == 1


def test_the_users_setting_wins():
    assert choose_threads(3, cores=2, busy_elsewhere=1.0, forward_flops=SMALL) == ThreadChoice(3, "trainer.threads=3")
    # OMP_NUM_THREADS, which torch read as it started, is never overridden by auto
    for environ in ({"OMP_NUM_THREADS": "2"}, {"OMP_NUM_THREADS": "2", "OMP_WAIT_POLICY": "PASSIVE"}):
        choice = auto(cores=8, forward_flops=SMALL, busy_elsewhere=7.0, environ=environ)
        assert choice == ThreadChoice(2, "OMP_NUM_THREADS=2 in the environment")
    assert auto(cores=2, environ={"OMP_NUM_THREADS": "lots"}).threads == 2  # not a number: OpenMP ignores it too


def test_the_load_is_the_machines_busy_time_less_this_processs_own():
    # 2 s in which the cores were busy for 4 s, 1 of them this process's: 1.5 cores busy elsewhere.
    assert load_between(CpuTimes(10.0, 100.0, 5.0), CpuTimes(12.0, 104.0, 6.0)) == 1.5
    assert load_between(CpuTimes(10.0, 100.0, 5.0), CpuTimes(12.0, 101.0, 6.0)) == 0.0


def test_the_load_of_another_program_is_measured():
    if cpu_times() is None:
        pytest.skip("no /proc/stat here")
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)  # started
        since = cpu_times()
        time.sleep(1.0)
        assert busy_elsewhere(since) >= 0.6
    finally:
        spinner.kill()
        spinner.wait()


def test_no_proc_stat_means_the_load_is_not_known(monkeypatch):
    monkeypatch.setattr(threads.Path, "read_text", lambda self: (_ for _ in ()).throw(OSError("no such file")))
    assert cpu_times() is None and busy_elsewhere(None) is None


def test_a_run_counts_its_models_flops_and_records_why(tmp_path, monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS")
    run = build_from_overrides(tmp_path)  # the digits MLP
    run.trainer.fit(run.task, datamodule=run.datamodule)
    batch = run.datamodule.batch_size
    expected = sum(
        2 * batch * m.in_features * m.out_features for m in run.task.model.modules() if isinstance(m, nn.Linear)
    )
    assert expected < SMALL_FORWARD_FLOPS
    choice = run.trainer.thread_choice
    assert choice == ThreadChoice(1, f"auto: a small model ({expected / 1e6:.1f} MFLOP in a forward pass on one batch)")
    assert torch.get_num_threads() == 1


def test_a_run_takes_the_number_it_is_given(tmp_path):
    run = build_from_overrides(tmp_path, "trainer.threads=2")
    run.trainer.fit(run.task, datamodule=run.datamodule)
    assert run.trainer.thread_choice == ThreadChoice(2, "trainer.threads=2") and torch.get_num_threads() == 2


def test_a_resumed_run_computes_with_the_threads_of_the_run_it_continues(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS")
    callback = ThreadsForTheRun("auto")
    callback.load_state_dict({"threads": 1})
    assert callback.choice == ThreadChoice(1, "auto: as in the run it resumes") and torch.get_num_threads() == 1
    callback.load_state_dict({"threads": 10**6})  # a checkpoint is untrusted: no more threads than cores
    assert callback.choice is not None and callback.choice.threads == threads.usable_cores()
    assert ThreadsForTheRun("auto").state_dict() == {}


@pytest.mark.parametrize(("setting", "environ"), [(3, {}), ("auto", {"OMP_NUM_THREADS": "1"})])
def test_a_setting_of_the_users_wins_over_the_resumed_runs(setting, environ, monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS")
    for key, value in environ.items():
        monkeypatch.setenv(key, value)
    callback = ThreadsForTheRun(setting)
    callback.load_state_dict({"threads": 2})
    assert callback.choice is None


def test_the_cli_keeps_the_users_openmp_settings_and_records_them(tmp_path):
    done = run_cli(
        tmp_path,
        "train",
        "debug=fast",
        "logger=none",
        "hydra.run.dir=run",
        OMP_NUM_THREADS="1",
        OMP_WAIT_POLICY="PASSIVE",
    )
    assert done.returncode == 0, done.stderr
    recorded = json.loads((tmp_path / "run" / "results.json").read_text())
    assert [recorded[key] for key in ("torch_threads", "threads_reason", "openmp_wait_policy")] == [
        1,
        "OMP_NUM_THREADS=1 in the environment",
        "PASSIVE",
    ]
