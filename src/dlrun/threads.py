"""How many CPU threads torch computes with in a run (`trainer.threads`), and how they wait.

Measured with scripts/bench_busy.py on 2 cores (README, Speed): a second intra-op thread makes an
LSTM or a LeNet-5 run a quarter to two fifths faster on an idle machine, but gives a small MLP
nothing, and beside one busy process two threads make a run 2.5-3.4 times slower than one thread,
because a parallel region waits for the thread that the other process has pushed off its core. So
`auto` gives a run one thread when its model's forward pass on one batch is small (under
SMALL_FORWARD_FLOPS) or when other programs keep all but one of its cores busy, and otherwise every
core they leave free. Free cores are measured over the seconds dlrun spends starting (its imports,
building the data and model), from the machine's CPU time less this process's own.

OpenMP's wait policy is left as the user has it: sleeping waits (OMP_WAIT_POLICY=PASSIVE) made two
threads on an idle machine 1.5-2 times slower, and one thread never waits. Nothing here overrides
a user's OMP_NUM_THREADS: torch read it when it started, and `auto` keeps it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

WAIT_POLICY = "OMP_WAIT_POLICY"
NUM_THREADS = "OMP_NUM_THREADS"
ThreadsSetting = int | Literal["auto"]

# A forward pass on one batch below this many FLOPs runs in about a millisecond on a CPU core, and
# a step that short gains nothing from a second thread (measured: the digits MLP's 11 MFLOP does
# not, LeNet-5's 53 MFLOP on Fashion-MNIST does).
SMALL_FORWARD_FLOPS = 25e6
# Shorter windows than this say little about a machine's load (CPU time comes in 10 ms ticks).
SHORTEST_WINDOW_S = 0.25


@dataclass(frozen=True)
class ThreadChoice:
    threads: int
    reason: str  # why, for the run's provenance and `dlrun doctor`


def choose_threads(
    setting: ThreadsSetting,
    *,
    cores: int,
    busy_elsewhere: float | None,
    forward_flops: float | None,
    share: int | None = None,
    environ: Mapping[str, str] = os.environ,
) -> ThreadChoice:
    """The threads a run computes with.

    `cores`: the cores this process may use; `busy_elsewhere`: how many of them other programs kept
    busy lately (None: not known here); `forward_flops`: the model's forward pass on one training
    batch (None: unknown, or not on the CPU); `share`: the cores this process gets when it shares the
    machine with others of the same run or sweep (DDP ranks, parallel sweep jobs)."""
    if setting != "auto":
        return ThreadChoice(int(setting), f"trainer.threads={setting}")
    user_threads = environ.get(NUM_THREADS, "").strip()
    if user_threads.isdigit() and int(user_threads) > 0:
        return ThreadChoice(int(user_threads), f"{NUM_THREADS}={user_threads} in the environment")
    if share is not None:
        free, where = share, f"its share of the machine ({share} of {cores} cores)"
    elif busy_elsewhere is not None:
        busy = min(cores - 1, int(busy_elsewhere + 0.5))
        free = cores - busy
        where = f"{free} free of {cores} cores" if busy else f"all {cores} cores free"
    else:
        free, where = cores, f"{cores} cores"
    if forward_flops is not None and forward_flops < SMALL_FORWARD_FLOPS:
        return ThreadChoice(1, f"auto: a small model ({forward_flops / 1e6:.1f} MFLOP in a forward pass on one batch)")
    return ThreadChoice(free, f"auto: {where}")


def wait_policy(environ: Mapping[str, str] = os.environ) -> str | None:
    """The policy this process's OpenMP read at start; None: OpenMP's default (spinning)."""
    return environ.get(WAIT_POLICY)


# The cores of this process's share when it is one of a parallel sweep's jobs (set by
# dlrun.sweeps.parallel_jobs.share_machine); None: it has the machine to itself.
job_share: int | None = None


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


# -- the machine's load ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CpuTimes:
    """A moment's CPU seconds: the usable cores' busy time (all programs) and this process's own."""

    at: float
    machine_busy: float
    own: float


def cpu_times() -> CpuTimes | None:
    """Now's CPU times; None where the machine does not say (no /proc/stat: not Linux)."""
    try:
        lines = Path("/proc/stat").read_text().splitlines()
        usable = os.sched_getaffinity(0)
    except (OSError, AttributeError):
        return None
    busy_ticks = 0
    for line in lines:
        name, *fields = line.split()
        if not name.startswith("cpu") or name == "cpu" or int(name[3:]) not in usable:
            continue
        # user nice system idle iowait irq softirq steal: all but idle and iowait are taken
        # (steal too: a virtual machine's core that the host gave to another is not free).
        ticks = [int(f) for f in fields[:8]]
        busy_ticks += sum(ticks) - ticks[3] - ticks[4]
    own = os.times()
    return CpuTimes(time.monotonic(), busy_ticks / os.sysconf("SC_CLK_TCK"), own.user + own.system)


def busy_elsewhere(since: CpuTimes | None) -> float | None:
    """How many usable cores other programs kept busy since `since`, on average (sampling for
    SHORTEST_WINDOW_S if `since` is more recent than that, or None)."""
    now = cpu_times()
    if now is None:
        return None
    if since is None or now.at - since.at < SHORTEST_WINDOW_S:
        since = now
        time.sleep(SHORTEST_WINDOW_S)
        now = cpu_times()
        assert now is not None  # it was readable a moment ago
    return load_between(since, now)


def load_between(earlier: CpuTimes, later: CpuTimes) -> float:
    """Cores other programs kept busy between two moments: the machine's busy time less this process's."""
    others = (later.machine_busy - earlier.machine_busy) - (later.own - earlier.own)
    return max(0.0, others / (later.at - earlier.at))


# Taken when dlrun first imports this module (the CLI does so before its heavy imports), so the
# window over which a run's free cores are measured costs it no time.
STARTED = cpu_times()


def busy_since_start() -> float | None:
    """Cores busy elsewhere since dlrun started (or since the last call: a process that runs one
    experiment after another measures each over the time since the one before)."""
    global STARTED
    found = busy_elsewhere(STARTED)
    STARTED = cpu_times()
    return found
