"""`dlrun report SWEEP_DIR [MORE_DIRS...]`: one table comparing the runs of sweeps, best first."""

from __future__ import annotations

from pathlib import Path

from dlrun.report.collect import collect
from dlrun.report.files import write_report_files
from dlrun.report.table import Report, build_report

UNLIMITED = 100_000  # a width to measure a table's natural size with


def report(dirs: list[Path], plots: bool = False) -> Report:
    """Print the table of the runs under `dirs` and write its files into the first dir."""
    from rich.console import Console

    summary = build_report(collect(dirs))
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
    if console.is_terminal:
        table, left_out = fitting_table(summary, console)
        if left_out:
            notes.insert(
                0, f"Left out to fit the terminal: {', '.join(left_out)} (all columns are in report.md and report.csv)."
            )
    else:  # piped or redirected: one line per row, however wide, beats wrapping every cell
        table = rich_table(summary, summary.test_keys)
        console = Console(soft_wrap=True, width=max(console.width, natural_width(console, table)))
    console.print(table)
    for note in notes:
        console.print(note, markup=False)
    console.print("wrote " + ", ".join(str(path) for path in written), markup=False)
    return summary


def fitting_table(summary: Report, console) -> tuple[object, list[str]]:
    """The table with as many test metrics as fit the terminal (one at least), and those left out."""
    shown = list(summary.test_keys)
    table = rich_table(summary, shown)
    while len(shown) > 1 and natural_width(console, table) > console.width:
        shown.pop()
        table = rich_table(summary, shown)
    return table, [key for key in summary.test_keys if key not in shown]


def natural_width(console, renderable) -> int:
    return console.measure(renderable, options=console.options.update_width(UNLIMITED)).maximum


def rich_table(summary: Report, test_keys: list[str]):
    """The report's rows as a Rich table with these test metrics; cells are plain text, so [brackets] stay."""
    from rich.table import Table
    from rich.text import Text

    numeric = {"#", summary.best_header(), *summary.test_keys, "epochs", "wall time", "n"}
    table = Table(title=Text(summary.title()), title_justify="left")
    columns = [
        i for i, header in enumerate(summary.headers()) if header not in summary.test_keys or header in test_keys
    ]
    for i in columns:
        header = summary.headers()[i]
        table.add_column(Text(header), justify="right" if header in numeric else "left", overflow="fold")
    for row in summary.rows:
        cells = summary.cells(row)
        style = None if row.status == "completed" else ("yellow" if row.status == "running" else "red")
        table.add_row(*(Text(cells[i]) for i in columns), style=style)
    return table
