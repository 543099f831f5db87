"""Write the report as report.csv (numbers, for scripts) and report.md (the tables, for people).

Both go into the first dir given. They are derived from the runs, so a previous report's files are
replaced; any other file of those names is the user's, and is never overwritten.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from dlrun.errors import DlrunError
from dlrun.report.groups import SweepReport
from dlrun.report.table import Report, Row

CSV_NAME = "report.csv"
MD_NAME = "report.md"
# How this module's own files begin; anything else of the same name belongs to someone else.
CSV_FIRST_COLUMN = "rank"
CSV_LAST_COLUMN = "error"
MD_HEADING = "# dlrun report"
EACH_RUN_HEADING = "Each run"


def write_report_files(report: SweepReport, directory: Path) -> list[Path]:
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


def csv_columns(report: SweepReport) -> list[str]:
    """Fixed names around every group's varied overrides and test metrics, each metric with its _std."""
    varied = list(dict.fromkeys(key for group in report.groups for key in group.varied))
    test_keys = list(dict.fromkeys(key for group in report.groups for key in group.test_keys))
    columns = [CSV_FIRST_COLUMN, "group", *varied, "monitor", "best_value", "best_value_std"]
    for key in test_keys:
        columns += [key, f"{key}_std"]
    return columns + ["epochs", "wall_time_s", "n", "status", "run_dirs", CSV_LAST_COLUMN]


def csv_record(group: Report, row: Row) -> dict[str, object]:
    """The row's numbers at full precision, by column; a column the group lacks stays empty."""
    values: dict[str, object] = {CSV_FIRST_COLUMN: row.rank if row.rank is not None else "", "group": group.heading}
    values.update({key: row.settings[key] if row.settings[key] is not None else "" for key in group.varied})
    values.update(monitor=group.monitor or "", best_value=_blank(row.best.mean), best_value_std=_blank(row.best.std))
    for key, stat in row.test.items():
        values.update({key: _blank(stat.mean), f"{key}_std": _blank(stat.std)})
    values.update(epochs=_blank(row.epochs.mean), wall_time_s=_blank(row.wall_time.mean), n=row.n, status=row.status)
    values["run_dirs"] = ";".join(str(r.run_dir) for r in row.runs)
    values[CSV_LAST_COLUMN] = row.error or ""
    return values


def report_csv(report: SweepReport) -> str:
    """One line per row of every group: full precision, since scripts read it and round as they need."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=csv_columns(report), restval="")
    writer.writeheader()
    writer.writerows(csv_record(group, row) for group in report.groups for row in group.rows)
    return out.getvalue()


def report_markdown(report: SweepReport) -> str:
    """The terminal's tables in markdown: per group its rows, then (when seeds were averaged) each run."""
    lines = [MD_HEADING, "", report.title().removeprefix("dlrun report: "), ""]
    for group in report.groups:
        heading, *subtitle = report.group_title(group).splitlines()
        lines += [f"## {heading}", ""]
        for paragraph in [*subtitle, *(f"> {w}" for w in group.warnings)]:
            lines += [paragraph, ""]
        lines += _md_table(group.headers(), [group.cells(row) for row in group.rows])
        if group.averages_seeds():
            lines += ["", f"### {EACH_RUN_HEADING}", ""]
            lines += _md_table(
                group.headers(each_run=True), [group.cells(row, each_run=True) for row in group.run_rows]
            )
        lines.append("")
    return "\n".join(lines)


def _md_table(headers: list[str], rows: list[list[str]]) -> list[str]:
    return [_md_line(headers), _md_line(["---"] * len(headers)), *(_md_line(cells) for cells in rows)]


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
