"""Write the report as report.csv (numbers, for scripts) and report.md (the table, for people).

Both go into the first dir given. They are derived from the runs, so a previous report's files are
replaced; any other file of those names is the user's, and is never overwritten.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from dlrun.errors import DlrunError
from dlrun.report.table import Report, Row

CSV_NAME = "report.csv"
MD_NAME = "report.md"
# How this module's own files begin; anything else of the same name belongs to someone else.
CSV_FIRST_COLUMN = "rank"
CSV_LAST_COLUMN = "error"
MD_HEADING = "# dlrun report"


def write_report_files(report: Report, directory: Path) -> list[Path]:
    """report.csv and report.md in `directory`; refuses before writing either if one is not ours."""
    csv_path, md_path = directory / CSV_NAME, directory / MD_NAME
    for path, ours in ((csv_path, _is_our_csv), (md_path, _is_our_md)):
        if path.exists() and not ours(path):
            raise DlrunError(
                f"'{path}' exists and was not written by dlrun report, so it is left alone. dlrun report "
                f"writes {CSV_NAME} and {MD_NAME} into the first dir given: move that file away, or name "
                f"another of the dirs first."
            )
    try:
        csv_path.write_text(report_csv(report), encoding="utf-8", newline="")
        md_path.write_text(report_markdown(report), encoding="utf-8")
    except OSError as e:
        raise DlrunError(
            f"Cannot write the report into '{directory}': {e.strerror or e}. Name a dir you can write to first."
        ) from None
    return [csv_path, md_path]


def csv_columns(report: Report) -> list[str]:
    """Fixed names around the varied overrides and test metrics, each metric with its _std column."""
    columns = [CSV_FIRST_COLUMN, *report.varied, "monitor", "best_value", "best_value_std"]
    for key in report.test_keys:
        columns += [key, f"{key}_std"]
    return columns + ["epochs", "wall_time_s", "n", "status", "run_dirs", CSV_LAST_COLUMN]


def csv_record(report: Report, row: Row) -> list[object]:
    """The row's numbers at full precision; empty where there is none (no std for n=1)."""
    values: list[object] = [row.rank if row.rank is not None else ""]
    values += [row.settings[key] if row.settings[key] is not None else "" for key in report.varied]
    values += [row.monitor or "", _blank(row.best.mean), _blank(row.best.std)]
    for key in report.test_keys:
        stat = row.test.get(key)
        values += [_blank(stat.mean), _blank(stat.std)] if stat else ["", ""]
    values += [_blank(row.epochs.mean), _blank(row.wall_time.mean), row.n, row.status]
    return values + [";".join(str(r.run_dir) for r in row.runs), row.error or ""]


def report_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(csv_columns(report))
    writer.writerows(csv_record(report, row) for row in report.rows)
    return out.getvalue()


def report_markdown(report: Report) -> str:
    """The terminal's table as a markdown table, with the title and any warnings above it."""
    title, *subtitle = report.title().splitlines()
    lines = [MD_HEADING, ""]
    for paragraph in [title.removeprefix("dlrun report: "), *subtitle, *(f"> {w}" for w in report.warnings)]:
        lines += [paragraph, ""]
    lines.append(_md_line(report.headers()))
    lines.append(_md_line(["---"] * len(report.headers())))
    lines += [_md_line(report.cells(row)) for row in report.rows]
    return "\n".join(lines) + "\n"


def _md_line(cells: list[str]) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def _blank(value: float | None) -> object:
    return "" if value is None else value


def _is_our_csv(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8", newline="") as f:
            header = next(csv.reader(f), [])
    except (OSError, UnicodeDecodeError, csv.Error):
        return False
    return len(header) > 1 and header[0] == CSV_FIRST_COLUMN and header[-1] == CSV_LAST_COLUMN


def _is_our_md(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8") as f:
            return f.readline().rstrip("\n") == MD_HEADING
    except (OSError, UnicodeDecodeError):
        return False
