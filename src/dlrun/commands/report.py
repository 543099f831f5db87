"""`dlrun report SWEEP_DIR [MORE_DIRS...]`: tables comparing the runs of sweeps, best first, one per group."""

from __future__ import annotations

from pathlib import Path

from dlrun.report.collect import collect
from dlrun.report.files import EACH_RUN_HEADING, MD_NAME, write_report_files
from dlrun.report.groups import SweepReport, build_sweep_report
from dlrun.report.table import Report

UNLIMITED = 100_000  # a width to measure a table's natural size with


def report(dirs: list[Path], plots: bool = False, each_run: bool = False) -> SweepReport:
    """Print the tables of the runs under `dirs` and write their files into the first dir.

    With `each_run`, a group whose rows average seeds is followed by its table of every run; without
    it a note says where that table is (report.md has it always).
    """
    from rich.console import Console
    from rich.text import Text

    summary = build_sweep_report(collect(dirs))
    written = write_report_files(summary, dirs[0])
    notes: list[str] = []
    if plots:
        from dlrun.report.plots import write_plots

        pngs, notes = write_plots(summary, dirs[0])
        written += pngs

    errors = Console(stderr=True, soft_wrap=True)
    for warning in summary.warnings:
        errors.print(f"Warning: {warning}", markup=False, style="yellow")
    console = Console(soft_wrap=True)
    console.print(Text(summary.title(), style="bold"))
    left_out: set[str] = set()
    for group in summary.groups:
        tables = [(summary.group_title(group), False)]
        if group.averages_seeds() and each_run:
            tables.append((f"{EACH_RUN_HEADING}: {group.heading}", True))
        for title, runs_table in tables:
            console.print()
            console.print(_printed_table(group, title, runs_table, console, left_out))
    if left_out:
        notes.insert(
            0,
            f"Left out to fit the terminal: {', '.join(sorted(left_out))} (all columns are in report.md and report.csv).",
        )
    if not each_run and any(group.averages_seeds() for group in summary.groups):
        notes.append(f"Each run on its own row: add --runs, or see {MD_NAME}.")
    console.print()
    for note in notes:
        console.print(note, markup=False)
    console.print("wrote " + ", ".join(str(path) for path in written), markup=False)
    return summary


def _printed_table(group: Report, title: str, each_run: bool, console, left_out: set[str]):
    if console.is_terminal:
        table, dropped = fitting_table(group, title, each_run, console)
        left_out.update(dropped)
        return table
    # Piped or redirected: one line per row, however wide, beats wrapping every cell.
    table = rich_table(group, title, group.test_keys, each_run)
    console.width = max(console.width, natural_width(console, table))
    return table


def fitting_table(group: Report, title: str, each_run: bool, console) -> tuple[object, list[str]]:
    """The table with as many test metrics as fit the terminal (one at least), and those left out."""
    shown = list(group.test_keys)
    table = rich_table(group, title, shown, each_run)
    while len(shown) > 1 and natural_width(console, table) > console.width:
        shown.pop()
        table = rich_table(group, title, shown, each_run)
    return table, [key for key in group.test_keys if key not in shown]


def natural_width(console, renderable) -> int:
    return console.measure(renderable, options=console.options.update_width(UNLIMITED)).maximum


def rich_table(group: Report, title: str, test_keys: list[str], each_run: bool = False):
    """The group's rows (or with `each_run` its runs) as a Rich table with these test metrics; cells
    are plain text, so [brackets] stay."""
    from rich.table import Table
    from rich.text import Text

    headers = group.headers(each_run)
    numeric = {"#", group.best_header(), *group.test_keys, "epochs", "wall time", "n", "seed"}
    table = Table(title=Text(title), title_justify="left")
    columns = [i for i, header in enumerate(headers) if header not in group.test_keys or header in test_keys]
    for i in columns:
        table.add_column(Text(headers[i]), justify="right" if headers[i] in numeric else "left", overflow="fold")
    for row in group.run_rows if each_run else group.rows:
        cells = group.cells(row, each_run)
        style = None if row.status == "completed" else ("yellow" if row.status == "running" else "red")
        table.add_row(*(Text(cells[i]) for i in columns), style=style)
    return table
