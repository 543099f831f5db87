"""`dlrun report --plots`: PNGs of the sweep in <first dir>/report_plots/.

Three views answer the usual questions about a sweep: how the monitored metric moves with each
numeric hyperparameter, how the best runs learned, and how much of a difference between settings
is only the seed. Figures are drawn on matplotlib's Agg canvas, so no display is ever needed.
"""

from __future__ import annotations

import math
import re
import statistics
from pathlib import Path
from typing import cast

from dlrun.errors import DlrunError
from dlrun.report.collect import SEED, RunRecord, as_number, best_value_of
from dlrun.report.table import COMPLETED, Report, Row

PLOTS_DIR = "report_plots"
TOP_CURVES = 5
MOST_BARS = 40  # beyond this many settings a bar chart is unreadable; the best ones are shown
LOG_SPAN = 10.0  # a log x axis once positive values span more than this factor


def write_plots(report: Report, directory: Path) -> tuple[list[Path], list[str]]:
    """The PNGs written, and a note for each plot that had nothing to show."""
    out = directory / PLOTS_DIR
    try:
        out.mkdir(exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise DlrunError(
            f"'{out}' exists and is not a dir; dlrun report --plots writes its PNGs into it. Move it away."
        ) from None
    except OSError as e:
        raise DlrunError(
            f"Cannot make '{out}' for the plots: {e.strerror or e}. Name a dir you can write to first."
        ) from None
    runs = [r for r in report.runs if r.status == COMPLETED and r.monitor == report.monitor and _finite(r.best_value)]
    written: list[Path] = []
    notes: list[str] = []
    if not runs:
        return written, [f"No completed run has a best {report.monitor}, so there is nothing to plot."]

    numeric = 0
    for key in report.varied:
        points = [(as_number(r.overrides.get(key)), r.best_value) for r in runs]
        if any(x is None for x, _ in points) or len({x for x, _ in points}) < 2:
            continue  # not numeric everywhere (a name, or unset in some runs): nothing to put on an axis
        numbers = cast(list[tuple[float, float]], points)  # numbers everywhere, as checked just above
        written.append(_metric_vs_parameter(report, key, numbers, out))
        numeric += 1
    if not numeric:
        notes.append("No hyperparameter varies over numbers in these runs, so there is no metric-vs-parameter plot.")

    curves = _learning_curves(report, runs, out)
    if curves:
        written.append(curves)
    else:
        notes.append(f"No run's history has {report.monitor}, so there are no learning curves.")

    rows = [row for row in report.rows if row.rank is not None and row.best.mean is not None]
    if any(row.n > 1 for row in rows):
        written.append(_seed_groups(report, rows, out))
    else:
        notes.append("No runs differ only in their seed, so there is no seed-group bar chart.")
    return written, notes


def use_log_scale(values: list[float]) -> bool:
    """Log x when the values are all positive and span more than a factor of LOG_SPAN (learning rates)."""
    return bool(values) and min(values) > 0 and max(values) / min(values) > LOG_SPAN


def _metric_vs_parameter(report: Report, key: str, points: list[tuple[float, float]], out: Path) -> Path:
    fig, ax = _figure()
    xs = [x for x, _ in points]
    ax.scatter(xs, [y for _, y in points], alpha=0.6, label="runs")
    by_value: dict[float, list[float]] = {}
    for x, y in points:
        by_value.setdefault(x, []).append(y)
    means = sorted((x, statistics.mean(ys)) for x, ys in by_value.items())
    ax.plot([x for x, _ in means], [y for _, y in means], marker="o", label="mean at each value")
    if use_log_scale(xs):
        ax.set_xscale("log")
    ax.set_xlabel(key)
    ax.set_ylabel(f"best {report.monitor}")
    ax.set_title(f"best {report.monitor} vs {key} ({_better(report)})")
    ax.legend()
    return _save(fig, out / f"best_{_file_name(report.monitor)}_vs_{_file_name(key)}.png")


def _learning_curves(report: Report, runs: list[RunRecord], out: Path) -> Path | None:
    """The monitored metric per epoch of the TOP_CURVES best runs, overlaid."""
    monitor = report.monitor
    if monitor is None:  # no history holds a metric without a name
        return None
    best_first = sorted(runs, key=lambda r: -best_value_of(r) if report.mode == "max" else best_value_of(r))
    curves = []
    for run in best_first:
        epochs = [(e.get("epoch", i), e[monitor]) for i, e in enumerate(run.history) if e.get(monitor) is not None]
        if epochs:
            curves.append((run, epochs))
        if len(curves) == TOP_CURVES:
            break
    if not curves:
        return None
    fig, ax = _figure()
    for run, epochs in curves:
        ax.plot([e + 1 for e, _ in epochs], [v for _, v in epochs], marker=".", label=_run_label(report, run))
    ax.set_xlabel("epoch")
    ax.set_ylabel(report.monitor)
    ax.set_title(f"{report.monitor} of the {len(curves)} best runs ({_better(report)})")
    ax.legend(fontsize="small")
    return _save(fig, out / "learning_curves.png")


def _seed_groups(report: Report, rows: list[Row], out: Path) -> Path:
    """Mean best value per setting with its sample std as the error bar."""
    shown = rows[:MOST_BARS]
    fig, ax = _figure(width=max(6.4, 0.5 * len(shown)))
    positions = range(len(shown))
    ax.bar(positions, [row.best.mean for row in shown], yerr=[row.best.std or 0.0 for row in shown], capsize=4)
    ax.set_xticks(
        list(positions),
        [f"{_setting_label(row.settings) or 'run'}\nn={row.n}" for row in shown],
        rotation=30 if len(shown) > 4 else 0,
        ha="right" if len(shown) > 4 else "center",
        fontsize="small",
    )
    ax.set_ylabel(f"best {report.monitor}, mean ± std over seeds")
    more = f", best {len(shown)} of {len(rows)} settings" if len(rows) > len(shown) else ""
    ax.set_title(f"best {report.monitor} per setting ({_better(report)}{more})")
    return _save(fig, out / "seed_groups.png")


def _figure(width: float = 6.4):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, 4.8), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _save(fig, path: Path) -> Path:
    fig.savefig(path, dpi=100)
    return path


def _better(report: Report) -> str:
    return "higher is better" if report.mode == "max" else "lower is better"


def _setting_label(settings: dict[str, str | None]) -> str:
    return " ".join(f"{key}={value}" for key, value in settings.items() if value is not None)


def _run_label(report: Report, run: RunRecord) -> str:
    label = _setting_label({key: run.overrides.get(key) for key in report.varied})
    seed = run.overrides.get(SEED)
    label = " ".join(part for part in (label, f"seed={seed}" if seed is not None else "") if part)
    return label or run.run_dir.name


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _file_name(text: str | None) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(text)).strip("_") or "value"
