"""Turn run records into the report's rows: best first, repeats over seeds averaged, failures kept.

Completed runs that differ only in their seed are one setting tried several times, so they share a
row with mean ± std (sample std) and n. Runs that did not complete are listed one by one after the
completed rows: averaging them in would hide that something went wrong, and dropping them would too.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeGuard

from dlrun.report.collect import UNREADABLE, RunRecord, best_value_of, natural_key, same_value, varied_keys

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
    """One line of the report: a single run, or a setting's completed runs over several seeds."""

    runs: list[RunRecord]
    status: str
    settings: dict[str, str | None]  # varied key -> this row's value, None where not set
    monitor: str | None
    best: Stat
    test: dict[str, Stat]
    epochs: Stat
    wall_time: Stat
    error: str | None = None
    rank: int | None = None  # place among the completed rows of the report's monitor

    @property
    def n(self) -> int:
        return len(self.runs)


@dataclass
class Report:
    runs: list[RunRecord]
    rows: list[Row]
    varied: list[str]
    test_keys: list[str]
    monitor: str | None  # the first run's: what the rows are ranked by
    mode: str  # "max" or "min"
    mixed_monitors: bool
    warnings: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Runs per status: completed and failed always, the others when there are any."""
        counts = {COMPLETED: 0, "failed": 0}
        for run in sorted(self.runs, key=lambda r: _status_order(r.status)):
            counts[run.status] = counts.get(run.status, 0) + 1
        return counts

    def best_run(self) -> RunRecord | None:
        """The single completed run with the best value of the report's monitor."""
        candidates = [
            r for r in self.runs if r.status == COMPLETED and r.monitor == self.monitor and _finite(r.best_value)
        ]
        if not candidates:
            return None
        return max(candidates, key=best_value_of) if self.mode == "max" else min(candidates, key=best_value_of)

    def title(self) -> str:
        counts = ", ".join(f"{count} {status}" for status, count in self.counts().items())
        noun = "run" if len(self.runs) == 1 else "runs"
        lines = [f"dlrun report: {len(self.runs)} {noun} ({counts})"]
        best = self.best_run()
        if best is None:
            lines.append("no completed run with a best value yet")
        else:
            better = "higher" if self.mode == "max" else "lower"
            lines.append(f"best run: {best.monitor} {best.best_value:.4f} ({better} is better) in {best.run_dir}")
        return "\n".join(lines)

    def best_header(self) -> str:
        return "best value" if self.mixed_monitors or self.monitor is None else f"best {self.monitor}"

    def headers(self) -> list[str]:
        headers = [
            "#",
            *self.varied,
            *(["monitor"] if self.mixed_monitors else []),
            self.best_header(),
            *self.test_keys,
        ]
        headers += ["epochs", "wall time", "n", "status", "run dir"]
        return headers + (["error"] if self.has_errors() else [])

    def cells(self, row: Row) -> list[str]:
        """The row as text, in the order of headers()."""
        cells = ["" if row.rank is None else str(row.rank)]
        cells += [self.setting_text(row, key) for key in self.varied]
        cells += [row.monitor or ""] if self.mixed_monitors else []
        cells.append(format_stat(row.best, 4))
        cells += [format_stat(row.test[key], 4) if key in row.test else "" for key in self.test_keys]
        cells.append(format_stat(row.epochs, 1, whole=True))
        wall = format_stat(row.wall_time, 1)
        cells += [f"{wall} s" if wall else "", str(row.n), row.status, display_dirs([r.run_dir for r in row.runs])]
        return cells + ([row.error or ""] if self.has_errors() else [])

    def setting_text(self, row: Row, key: str) -> str:
        """The row's value of a varied key; blank for an unreadable run, whose overrides are unknown."""
        if row.status == UNREADABLE:
            return ""
        value = row.settings.get(key)
        return NOT_SET if value is None else value

    def has_errors(self) -> bool:
        return any(row.error for row in self.rows)


def build_report(runs: list[RunRecord]) -> Report:
    """The rows for these runs, sorted best first in the direction of the runs' monitor_mode."""
    varied = varied_keys(runs)
    readable = [r for r in runs if r.status != UNREADABLE]
    monitors = list(dict.fromkeys(r.monitor for r in readable))
    monitor = monitors[0] if monitors else None
    modes = {m: next(r.monitor_mode for r in readable if r.monitor == m) for m in monitors}
    warnings = _disagreements(readable, monitors, modes)

    completed = [r for r in runs if r.status == COMPLETED]
    groups: dict[tuple, list[RunRecord]] = {}
    for run in completed:
        groups.setdefault(_setting(run, varied), []).append(run)
    done_rows = [_row(group, varied) for group in groups.values()]
    done_rows.sort(key=lambda row: _rank_key(row, monitors, modes))
    for rank, row in enumerate(r for r in done_rows if r.monitor == monitor):
        row.rank = rank + 1

    others = sorted(
        (r for r in runs if r.status != COMPLETED),
        key=lambda r: (_status_order(r.status), natural_key(r.run_dir)),
    )
    other_rows = [_row([run], varied, error=run.error) for run in others]

    test_keys = list(dict.fromkeys(key for r in runs for key in r.test_metrics))
    return Report(
        runs=runs,
        rows=done_rows + other_rows,
        varied=varied,
        test_keys=test_keys,
        monitor=monitor,
        mode=_mode(modes.get(monitor)),
        mixed_monitors=len(monitors) > 1,
        warnings=warnings,
    )


def _setting(run: RunRecord, varied: list[str]) -> tuple:
    """What tells this run apart from the others, seed left out; runs with equal settings are repeats."""
    return (run.monitor, tuple(same_value(run.overrides.get(key)) for key in varied))


def _row(runs: list[RunRecord], varied: list[str], error: str | None = None) -> Row:
    first = runs[0]
    test_keys = dict.fromkeys(key for r in runs for key in r.test_metrics)
    return Row(
        runs=runs,
        status=first.status,
        settings={key: first.overrides.get(key) for key in varied},
        monitor=first.monitor,
        best=Stat.of([r.best_value for r in runs]),
        test={key: Stat.of([r.test_metrics.get(key) for r in runs]) for key in test_keys},
        epochs=Stat.of([r.epochs for r in runs]),
        wall_time=Stat.of([r.wall_time_s for r in runs]),
        error=_one_line(error),
    )


def _rank_key(row: Row, monitors: list[str | None], modes: dict) -> tuple:
    """Rows of the first run's monitor first, best value first; rows without a value last."""
    value = row.best.mean
    if not _finite(value):
        return (monitors.index(row.monitor), 1, 0.0)
    return (monitors.index(row.monitor), 0, -value if _mode(modes[row.monitor]) == "max" else value)


def _disagreements(runs: list[RunRecord], monitors: list[str | None], modes: dict) -> list[str]:
    warnings = []
    if len(monitors) > 1:
        counts = ", ".join(f"{m} in {sum(r.monitor == m for r in runs)}" for m in monitors)
        warnings.append(
            f"The runs monitor different metrics ({counts}); rows are ranked by {monitors[0]}, the first "
            f"run's monitor, and the rows of the other monitors follow, each sorted by its own."
        )
    for monitor in monitors:
        disagreeing = {_mode(r.monitor_mode) for r in runs if r.monitor == monitor}
        if len(disagreeing) > 1:
            warnings.append(
                f"The runs that monitor {monitor} disagree on whether more is better (monitor_mode max and "
                f"min); they are sorted as the first of them says: {_mode(modes[monitor])}."
            )
    return warnings


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
    text = f"{stat.mean:.{digits}f}"
    return text if stat.std is None else f"{text} ± {stat.std:.{digits}f}"


def display_dirs(dirs: list[Path]) -> str:
    """One run dir as it is; several that share a parent as parent/{0,2,5}."""
    if len(dirs) == 1:
        return str(dirs[0])
    parents = {d.parent for d in dirs}
    if len(parents) == 1:
        return str(parents.pop() / ("{" + ",".join(d.name for d in dirs) + "}"))
    return ", ".join(str(d) for d in dirs)
