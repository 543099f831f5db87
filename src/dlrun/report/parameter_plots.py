"""The best value of each run against one numeric hyperparameter.

A sweeper that samples a range (Optuna's `interval`) gives every run its own value: a line through
"the mean at each value" would only join random points, so those runs are a scatter plot. A small
grid a person typed (lr=1e-3,1e-2,1e-1, maybe over seeds) is drawn with its runs and the mean ± std
at each value, joined in order, ticks at the values. A log axis only where positive values span a
factor of LOG_SPAN or more, as learning rates do; never for values that include 0 or negatives.
"""

from __future__ import annotations

import statistics

from dlrun.report.collect import as_number
from dlrun.report.figures import figure
from dlrun.report.numbers import METRIC_DIGITS, parameter_text, written_digits
from dlrun.report.table import Report

GRID_MOST = 12  # more distinct values than this are samples of a range, whatever their digits
LOG_SPAN = 10.0


def use_log_scale(values: list[float]) -> bool:
    """Log x when the values are all positive and span a factor of LOG_SPAN or more (learning rates)."""
    return bool(values) and min(values) > 0 and max(values) / min(values) >= LOG_SPAN


def is_continuous(texts: list[str]) -> bool:
    """Whether a key's values are samples of a range rather than a small grid.

    Many distinct values are samples; so are floats written with more digits than a person types
    (0.002054762512591136). A few whole numbers (widths, batch sizes) are a grid.
    """
    numbers = {n for text in texts if (n := as_number(text)) is not None}
    if len(numbers) > GRID_MOST:
        return True
    whole = all(n.is_integer() for n in numbers)
    return not whole and any(written_digits(text) > METRIC_DIGITS for text in texts)


def metric_vs_parameter_figure(group: Report, key: str, points: list[tuple[float, float]]):
    """A Figure of the group's best value against `key`: (value of key, best value) per run."""

    fig, ax = figure()
    xs = [x for x, _ in points]
    ys = [y for _, y in points]
    texts = [r.overrides[key] for r in group.runs if key in r.overrides]
    log = use_log_scale(xs)
    if log:
        ax.set_xscale("log")
    if is_continuous(texts):
        ax.scatter(xs, ys, alpha=0.7)
        kind = f"{len(xs)} runs"
    elif _grid(ax, group, key, points, log):
        kind = "mean ± std at each value"
        ax.legend(fontsize="small")
    else:
        kind = "one run at each value"
    ax.set_xlabel(key)
    ax.set_ylabel(f"best {group.monitor}")
    ax.set_title(f"best {group.monitor} vs {key} ({group.better()}; {kind})", fontsize="medium")
    return fig


def _grid(ax, group: Report, key: str, points: list[tuple[float, float]], log: bool) -> bool:
    """The grid's values joined in order; with repeats, each run and the mean ± std. Whether repeats."""
    from matplotlib.ticker import NullFormatter, NullLocator

    by_value: dict[float, list[float]] = {}
    for x, y in points:
        by_value.setdefault(x, []).append(y)
    values = sorted(by_value)
    means = [statistics.mean(by_value[x]) for x in values]
    repeats = any(len(ys) > 1 for ys in by_value.values())
    if repeats:
        ax.scatter([x for x, _ in points], [y for _, y in points], alpha=0.4, label="runs")
        stds = [statistics.stdev(by_value[x]) if len(by_value[x]) > 1 else 0.0 for x in values]
        ax.errorbar(values, means, yerr=stds, marker="o", capsize=4, label="mean ± std")
    else:
        ax.plot(values, means, marker="o")
    # Ticks at the grid's values, written as the table writes them.
    text_of = {as_number(text): text for r in group.runs if (text := r.overrides.get(key)) is not None}
    digits = group.parameter_digits.get(key, 3)
    ax.set_xticks(values, [parameter_text(text_of.get(x, repr(x)), digits) for x in values])
    if log:
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_minor_formatter(NullFormatter())
    return repeats
