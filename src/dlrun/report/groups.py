"""Split the runs into groups whose numbers mean the same thing, each with its own table.

A val/loss of a forecaster and of a classifier are different quantities, and so are accuracies on
two data sets: runs are grouped by their data choice, their task choice (when not `auto`, which the
data decides) and their monitor, and a group is ranked only within itself. Runs whose results.json
cannot be read are listed in the only group there is, or with several in one of their own, last.
"""

from __future__ import annotations

from dataclasses import dataclass

from dlrun.report.collect import UNREADABLE, RunRecord
from dlrun.report.table import Report, build_report, counts_text, status_counts

AUTO_TASK = "auto"  # task=auto: the data decides the task, so the data choice says it already
UNREADABLE_HEADING = "runs whose results.json cannot be read"


@dataclass
class SweepReport:
    """Every run found, and the groups they fall into, in the order their first runs were found."""

    runs: list[RunRecord]
    groups: list[Report]

    def counts(self) -> dict[str, int]:
        return status_counts(self.runs)

    def title(self) -> str:
        title = f"dlrun report: {counts_text(self.runs)}"
        if len(self.groups) > 1:
            title += f" in {len(self.groups)} groups (by data, task and monitor), each ranked on its own"
        return title

    def group_title(self, group: Report) -> str:
        """The group's heading (with its count when there are several) and, below it, its best run."""
        heading = f"{group.heading}: {counts_text(group.runs)}" if len(self.groups) > 1 else group.heading
        return heading if group.monitor is None else f"{heading}\n{group.best_line()}"  # unreadable: no best

    @property
    def warnings(self) -> list[str]:
        return [warning for group in self.groups for warning in group.warnings]


def build_sweep_report(runs: list[RunRecord]) -> SweepReport:
    """The runs grouped by what their metric means, each group's table built on its own."""
    by_key: dict[tuple[str | None, ...], list[RunRecord]] = {}
    for run in runs:
        by_key.setdefault(group_key(run), []).append(run)
    readable = [key for key in by_key if key != UNREADABLE_KEY]
    if len(readable) == 1 and UNREADABLE_KEY in by_key:  # one group they can only belong to: list them in it
        by_key[readable[0]] = [run for run in runs if run.status == UNREADABLE or group_key(run) == readable[0]]
        del by_key[UNREADABLE_KEY]
    keys = sorted(by_key, key=lambda key: key == UNREADABLE_KEY)  # stable: otherwise in the order found
    groups = []
    for key in keys:
        group = build_report(by_key[key], heading_of(key))
        group.slug = "_".join(part for part in key if part) or "group"
        groups.append(group)
    return SweepReport(runs=runs, groups=groups)


UNREADABLE_KEY: tuple[str | None, ...] = (UNREADABLE,)


def group_key(run: RunRecord) -> tuple[str | None, ...]:
    if run.status == UNREADABLE:
        return UNREADABLE_KEY
    task = run.choices.get("task")
    return (run.choices.get("data"), None if task == AUTO_TASK else task, run.monitor)


def heading_of(key: tuple[str | None, ...]) -> str:
    """'data iris, task regression, val/loss': what the group's numbers are (its best line says which way is better)."""
    if key == UNREADABLE_KEY:
        return UNREADABLE_HEADING
    data, task, monitor = key
    parts = [f"data {data}" if data else "", f"task {task}" if task else "", monitor or "no monitor"]
    return ", ".join(part for part in parts if part)
