"""`dlrun report --plots`: PNGs of the sweep in <first dir>/report_plots/.

Three views of each group answer the usual questions about a sweep: how the monitored metric moves
with each numeric hyperparameter (parameter_plots.py), how the best runs learned (curves.py), and how
much of a difference between settings is only the seed (here). With several groups each gets a
subdir of its own, since their metrics mean different things. An Optuna sweep adds Optuna's own
plots of its study (optuna_plots.py). Figures are drawn on matplotlib's Agg canvas, so no display is
ever needed.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import cast

from dlrun.report.collect import as_number
from dlrun.report.curves import learning_curves_figure
from dlrun.report.figures import figure, file_name, make_dir, save
from dlrun.report.groups import SweepReport
from dlrun.report.optuna_plots import write_optuna_plots
from dlrun.report.parameter_plots import metric_vs_parameter_figure
from dlrun.report.table import COMPLETED, Report, Row

PLOTS_DIR = "report_plots"
MOST_BARS = 40  # beyond this many settings a bar chart is unreadable; the best ones are shown


def write_plots(report: SweepReport, directory: Path) -> tuple[list[Path], list[str]]:
    """The PNGs written, and a note for each plot that had nothing to show."""
    out = make_dir(directory / PLOTS_DIR)
    ranked = [group for group in report.groups if group.monitor is not None]  # not the unreadable runs
    written: list[Path] = []
    notes: list[str] = []
    for group in ranked:
        group_out = out if len(ranked) == 1 else make_dir(out / file_name(group.slug))
        pngs, group_notes = write_group_plots(group, group_out)
        written += pngs
        notes += group_notes if len(ranked) == 1 else [f"{group.heading}: {note}" for note in group_notes]
    pngs, optuna_notes = write_optuna_plots(report.runs, out)
    return written + pngs, notes + optuna_notes


def write_group_plots(group: Report, out: Path) -> tuple[list[Path], list[str]]:
    runs = plotted_runs(group)
    if not runs:
        return [], [f"No completed run has a best {group.monitor}, so there is nothing to plot."]
    written: list[Path] = []
    notes: list[str] = []
    for key in group.varied:
        points = [(as_number(r.overrides.get(key)), r.best_value) for r in runs]
        if any(x is None for x, _ in points) or len({x for x, _ in points}) < 2:
            continue  # not numeric everywhere (a name, or unset in some runs): nothing to put on an axis
        numbers = cast(list[tuple[float, float]], points)  # numbers everywhere, as checked just above
        figure = metric_vs_parameter_figure(group, key, numbers)
        written.append(save(figure, out / f"best_{file_name(group.monitor)}_vs_{file_name(key)}.png"))
    if not written:
        notes.append("No hyperparameter varies over numbers in these runs, so there is no metric-vs-parameter plot.")

    curves = learning_curves_figure(group, runs)
    if curves is not None:
        written.append(save(curves, out / "learning_curves.png"))
    else:
        notes.append(f"No run's history has {group.monitor}, so there are no learning curves.")

    rows = [row for row in group.rows if row.status == COMPLETED and row.best.mean is not None]
    if any(row.n > 1 for row in rows):
        written.append(save(seed_groups_figure(group, rows), out / "seed_groups.png"))
    else:
        notes.append("No runs differ only in their seed, so there is no seed-group bar chart.")
    return written, notes


def plotted_runs(group: Report):
    """The group's completed runs that have a finite best value."""
    return [r for r in group.runs if r.status == COMPLETED and r.best_value is not None and math.isfinite(r.best_value)]


def seed_groups_figure(group: Report, rows: list[Row]):
    """Mean best value per setting with its sample std as the error bar."""
    shown = rows[:MOST_BARS]
    fig, ax = figure(width=max(6.4, 0.5 * len(shown)))
    positions = range(len(shown))
    ax.bar(positions, [row.best.mean for row in shown], yerr=[row.best.std or 0.0 for row in shown], capsize=4)
    ax.set_xticks(
        list(positions),
        [f"{group.setting_label(row.settings) or 'run'}\nn={row.n}" for row in shown],
        rotation=30 if len(shown) > 4 else 0,
        ha="right" if len(shown) > 4 else "center",
        fontsize="small",
    )
    ax.set_ylabel(f"best {group.monitor}, mean ± std over seeds")
    more = f", best {len(shown)} of {len(rows)} settings" if len(rows) > len(shown) else ""
    ax.set_title(f"best {group.monitor} per setting ({group.better()}{more})")
    return fig
