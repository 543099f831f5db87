"""Turn one group's run records into its table: best first, repeats over seeds averaged, failures kept.

Completed runs that differ only in their seed are one setting tried several times, so they share a
row with mean ± std (sample std) and n. Runs that did not complete are listed one by one after the
completed rows: averaging them in would hide that something went wrong, and dropping them would too.
Beside those rows, `run_rows` holds every run on its own, ranked the same way, for the per-run table.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TypeGuard

from dlrun.report.collect import SEED, UNREADABLE, RunRecord, best_value_of, natural_key, same_value, varied_keys
from dlrun.report.numbers import distinct_digits, mean_std, parameter_digits, parameter_text, significant

COMPLETED = "completed"
# Order of the rows that did not complete, and of the counts in the title after completed and failed.
OTHER_STATUSES = ("running", "interrupted", "diverged", "failed", UNREADABLE)
NOT_SET = "(default)"  # a varied key this run does not override


@dataclass
class Stat:
    """One quantity over the runs of a row: its mean, and the sample std when there are two or more."""

    values: list[float]

    @property
    def mean(self) -> float | None:
        return statistics.mean(self.values) if self.values else None

    @property
    def std(self) -> float | None:
        return statistics.stdev(self.values) if len(self.values) > 1 else None

    @classmethod
    def of(cls, values: list[float | None]) -> Stat:
        return cls([v for v in values if v is not None])


@dataclass
class Row:
    """One line of a table: a single run, or a setting's completed runs over several seeds."""

    runs: list[RunRecord]
    status: str
    settings: dict[str, str | None]  # varied key -> this row's value, None where not set
    best: Stat
    test: dict[str, Stat]
    epochs: Stat
    wall_time: Stat
    error: str | None = None
    rank: int | None = None  # place among the group's completed rows

    @property
    def n(self) -> int:
        return len(self.runs)


@dataclass
class Report:
    """One group's table: runs of one data set, task and monitor, ranked against each other only."""

    heading: str  # what the group is, e.g. "data iris, val/acc"
    runs: list[RunRecord]
    rows: list[Row]  # seed repeats averaged
    run_rows: list[Row]  # every run on its own
    varied: list[str]
    test_keys: list[str]
    monitor: str | None
    mode: str  # "max" or "min"
    warnings: list[str] = field(default_factory=list)
    slug: str = "group"  # the group in a file name, e.g. "iris_val_acc"

    def counts(self) -> dict[str, int]:
        """Runs per status: completed and failed always, the others when there are any."""
        return status_counts(self.runs)

    def best_run(self) -> RunRecord | None:
        """The single completed run with the best value of the group's monitor."""
        candidates = [r for r in self.runs if r.status == COMPLETED and _finite(r.best_value)]
        if not candidates:
            return None
        return max(candidates, key=best_value_of) if self.mode == "max" else min(candidates, key=best_value_of)

    def best_line(self) -> str:
        best = self.best_run()
        if best is None:
            return "no completed run with a best value yet"
        assert best.best_value is not None
        return f"best run: {best.monitor} {significant(best.best_value)} ({self.better()}) in {best.run_dir}"

    def better(self) -> str:
        return "higher is better" if self.mode == "max" else "lower is better"

    def averages_seeds(self) -> bool:
        """Whether some row stands for several runs, so that the per-run table says more."""
        return any(row.n > 1 for row in self.rows)

    def best_header(self) -> str:
        return "best value" if self.monitor is None else f"best {self.monitor}"

    def shows_seed(self) -> bool:
        return any(r.seed is not None or SEED in r.overrides for r in self.runs)

    def headers(self, each_run: bool = False) -> list[str]:
        """The columns of the rows table, or with `each_run` of the per-run table (seed for n)."""
        headers = ["#", *self.varied, *([SEED] if each_run and self.shows_seed() else [])]
        headers += [self.best_header(), *self.test_keys, "epochs", "wall time"]
        headers += ([] if each_run else ["n"]) + ["status", "run dir"]
        return headers + (["error"] if self.has_errors() else [])

    def cells(self, row: Row, each_run: bool = False) -> list[str]:
        """The row as text, in the order of headers(each_run)."""
        cells = ["" if row.rank is None else str(row.rank)]
        cells += [self.setting_text(row, key) for key in self.varied]
        if each_run and self.shows_seed():
            cells.append(seed_of(row.runs[0]))
        digits = self.metric_digits
        cells.append(format_stat(row.best, digits.get(self.best_header(), 4)))
        cells += [format_stat(row.test[key], digits.get(key, 4)) if key in row.test else "" for key in self.test_keys]
        cells.append(format_stat(row.epochs, 3, whole=True))
        wall = format_stat(row.wall_time, 3)
        cells += [f"{wall} s" if wall else ""]
        cells += [] if each_run else [str(row.n)]
        cells += [row.status, display_dirs([r.run_dir for r in row.runs])]
        return cells + ([row.error or ""] if self.has_errors() else [])

    @cached_property
    def metric_digits(self) -> dict[str, int]:
        """Significant digits per metric column: 4, or more where 4 would show different runs alike."""
        columns = {self.best_header(): [r.best_value for r in self.runs]}
        columns.update({key: [r.test_metrics.get(key) for r in self.runs] for key in self.test_keys})
        return {name: distinct_digits(v for v in values if v is not None) for name, values in columns.items()}

    def setting_text(self, row: Row, key: str) -> str:
        """The row's value of a varied key, rounded as its column needs; blank for an unreadable run."""
        if row.status == UNREADABLE:
            return ""
        value = row.settings.get(key)
        return NOT_SET if value is None else parameter_text(value, self.parameter_digits[key])

    @cached_property
    def parameter_digits(self) -> dict[str, int]:
        """Significant digits per varied key: enough to show its different values apart."""
        return {key: parameter_digits(r.overrides[key] for r in self.runs if key in r.overrides) for key in self.varied}

    def setting_label(self, settings: dict[str, str | None]) -> str:
        """'optimizer.lr=0.00205 model=cnn': the set varied keys, rounded, for plot labels."""
        return " ".join(
            f"{key}={parameter_text(value, self.parameter_digits[key])}"
            for key, value in settings.items()
            if value is not None
        )

    def has_errors(self) -> bool:
        return any(row.error for row in self.rows)


def build_report(runs: list[RunRecord], heading: str = "") -> Report:
    """One group's table of these runs, sorted best first in the direction of their monitor_mode."""
    varied = varied_keys(runs)
    readable = [r for r in runs if r.status != UNREADABLE]
    monitor = readable[0].monitor if readable else None
    mode = _mode(readable[0].monitor_mode if readable else None)
    warnings = []
    if len({_mode(r.monitor_mode) for r in readable}) > 1:
        warnings.append(
            f"The runs that monitor {monitor} disagree on whether more is better (monitor_mode max and "
            f"min); they are sorted as the first of them says: {mode}."
        )

    completed = [r for r in runs if r.status == COMPLETED]
    groups: dict[tuple, list[RunRecord]] = {}
    for run in completed:
        groups.setdefault(_setting(run, varied), []).append(run)
    others = sorted(
        (r for r in runs if r.status != COMPLETED),
        key=lambda r: (_status_order(r.status), natural_key(r.run_dir)),
    )
    other_rows = [_row([run], varied, error=run.error) for run in others]

    return Report(
        heading=heading,
        runs=runs,
        rows=_ranked([_row(group, varied) for group in groups.values()], mode) + other_rows,
        run_rows=_ranked([_row([run], varied) for run in completed], mode)
        + [_row([run], varied, error=run.error) for run in others],
        varied=varied,
        test_keys=list(dict.fromkeys(key for r in runs for key in r.test_metrics)),
        monitor=monitor,
        mode=mode,
        warnings=warnings,
    )


def status_counts(runs: list[RunRecord]) -> dict[str, int]:
    """Runs per status: completed and failed always, the others when there are any."""
    counts = {COMPLETED: 0, "failed": 0}
    for run in sorted(runs, key=lambda r: _status_order(r.status)):
        counts[run.status] = counts.get(run.status, 0) + 1
    return counts


def counts_text(runs: list[RunRecord]) -> str:
    """'7 runs (6 completed, 1 failed)'."""
    counts = ", ".join(f"{count} {status}" for status, count in status_counts(runs).items())
    return f"{len(runs)} {'run' if len(runs) == 1 else 'runs'} ({counts})"


def seed_of(run: RunRecord) -> str:
    """The seed as overridden, else as results.json recorded it."""
    if SEED in run.overrides:
        return run.overrides[SEED]
    return "" if run.seed is None else str(run.seed)


def _ranked(rows: list[Row], mode: str) -> list[Row]:
    """The rows best value first, those without one last, numbered 1, 2, ... in that order."""
    rows = sorted(rows, key=lambda row: _rank_key(row, mode))
    for rank, row in enumerate(rows):
        row.rank = rank + 1
    return rows


def _setting(run: RunRecord, varied: list[str]) -> tuple:
    """What tells this run apart from the others, seed left out; runs with equal settings are repeats."""
    return tuple(same_value(run.overrides.get(key)) for key in varied)


def _row(runs: list[RunRecord], varied: list[str], error: str | None = None) -> Row:
    first = runs[0]
    test_keys = dict.fromkeys(key for r in runs for key in r.test_metrics)
    return Row(
        runs=runs,
        status=first.status,
        settings={key: first.overrides.get(key) for key in varied},
        best=Stat.of([r.best_value for r in runs]),
        test={key: Stat.of([r.test_metrics.get(key) for r in runs]) for key in test_keys},
        epochs=Stat.of([r.epochs for r in runs]),
        wall_time=Stat.of([r.wall_time_s for r in runs]),
        error=_one_line(error),
    )


def _rank_key(row: Row, mode: str) -> tuple:
    value = row.best.mean
    if not _finite(value):
        return (1, 0.0)
    return (0, -value if mode == "max" else value)


def _mode(mode: str | None) -> str:
    return "max" if mode == "max" else "min"


def _status_order(status: str) -> int:
    return OTHER_STATUSES.index(status) if status in OTHER_STATUSES else len(OTHER_STATUSES)


def _finite(value: float | None) -> TypeGuard[float]:
    return value is not None and math.isfinite(value)


def _one_line(text: str | None) -> str | None:
    return " ".join(str(text).split()) if text else None


def format_stat(stat: Stat, digits: int, whole: bool = False) -> str:
    """'0.8123 ± 0.0100' for several runs, '0.8123' for one, '' for none; whole numbers stay whole."""
    if stat.mean is None:
        return ""
    if whole and all(float(v).is_integer() for v in stat.values) and len(set(stat.values)) == 1:
        return str(int(stat.values[0]))
    return mean_std(stat.mean, stat.std, digits)


def display_dirs(dirs: list[Path]) -> str:
    """One run dir as it is; several that share a parent as parent/{0,2,5}."""
    if len(dirs) == 1:
        return str(dirs[0])
    parents = {d.parent for d in dirs}
    if len(parents) == 1:
        return str(parents.pop() / ("{" + ",".join(d.name for d in dirs) + "}"))
    return ", ".join(str(d) for d in dirs)
