"""The learning curves of a group's best runs: the monitored metric per entry of each history.

Only the TOP_CURVES best runs are drawn (more is a tangle), each labelled by its varied overrides as
the table writes them (rounded), with its seed where seeds differ. The x axis is what the history
in results.json records (its `epoch` or `step` numbers as written there, else the entry's place),
so the plot says what the file says. The legend goes below the axes, where long labels cannot
squeeze the plot.
"""

from __future__ import annotations

from dlrun.report.collect import RunRecord, best_value_of
from dlrun.report.figures import figure
from dlrun.report.table import Report, seed_of

TOP_CURVES = 5
X_KEYS = ("epoch", "step")  # what a history entry may count itself by, in order of preference


def learning_curves_figure(group: Report, runs: list[RunRecord]):
    """A Figure of the monitor over the histories of the best `runs`; None when no history has it."""
    from matplotlib.ticker import MaxNLocator

    monitor = group.monitor
    if monitor is None:  # no history holds a metric without a name
        return None
    best_first = sorted(runs, key=lambda r: -best_value_of(r) if group.mode == "max" else best_value_of(r))
    curves = [(run, entries) for run in best_first if (entries := _entries_with(run, monitor))][:TOP_CURVES]
    if not curves:
        return None
    x_key = next(
        (
            key
            for key in X_KEYS
            if all(isinstance(e.get(key), (int, float)) for _, entries in curves for _, e in entries)
        ),
        None,
    )
    seeds_differ = len({seed_of(run) for run, _ in curves}) > 1
    fig, ax = figure(width=7.2)
    for run, entries in curves:
        xs = [e[x_key] if x_key else i for i, e in entries]
        ax.plot(xs, [e[monitor] for _, e in entries], marker=".", label=curve_label(group, run, seeds_differ))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs and steps are counts
    ax.set_xlabel(x_key or "entry of the history in results.json")
    ax.set_ylabel(monitor)
    ax.set_title(f"{monitor} of the {len(curves)} best runs ({group.better()})", fontsize="medium")
    fig.legend(loc="outside lower center", fontsize="small")
    return fig


def curve_label(group: Report, run: RunRecord, with_seed: bool) -> str:
    """'optimizer.lr=0.00205 model=cnn seed=1', or the run dir's name when nothing tells it apart."""
    label = group.setting_label({key: run.overrides.get(key) for key in group.varied})
    seed = seed_of(run)
    if with_seed and seed:
        label = f"{label} seed={seed}".strip()
    return label or run.run_dir.name


def _entries_with(run: RunRecord, monitor: str) -> list[tuple[int, dict]]:
    """The history entries (with their place) that hold a number for the monitor."""
    return [(i, e) for i, e in enumerate(run.history) if isinstance(e.get(monitor), (int, float))]
