"""`dlrun report`: results.json files written by hand, then the rows, files, plots and CLI checked."""

from __future__ import annotations

import csv
import json
import math
import os
import socket
import statistics
import subprocess
import sys
import warnings
from decimal import Decimal
from pathlib import Path

import pytest
from helpers import assert_user_error

from dlrun.report.collect import collect, varied_keys
from dlrun.report.groups import build_sweep_report
from dlrun.report.parameter_plots import metric_vs_parameter_figure, use_log_scale
from dlrun.report.table import build_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def write_run(
    run_dir: Path,
    overrides: list[str],
    best: float | None,
    *,
    status: str = "completed",
    monitor: str = "val/acc",
    mode: str = "max",
    test: dict[str, float] | None = None,
    error: str | None = None,
    epochs: int = 3,
    data: str | None = None,
    **extra,
) -> Path:
    """A results.json as `dlrun train` writes it, with a history whose best epoch holds `best`;
    with `data`, Hydra's record of the run (.hydra/hydra.yaml) names that data choice."""
    run_dir.mkdir(parents=True, exist_ok=True)
    if data is not None:
        (run_dir / ".hydra").mkdir(exist_ok=True)
        choices = f"hydra:\n  runtime:\n    choices:\n      model: mlp\n      task: auto\n      data: {data}\n"
        (run_dir / ".hydra" / "hydra.yaml").write_text(choices)
    history = (
        [
            {"epoch": e, monitor: best if e == epochs - 1 else (best or 0) * 0.5, "train/loss": 1.0 / (e + 1)}
            for e in range(epochs)
        ]
        if best is not None
        else []
    )
    record = {
        "run_dir": str(run_dir),
        "overrides": overrides,
        "monitor": monitor,
        "monitor_mode": mode,
        "status": status,
        "best_value": best,
        "best_epoch": epochs - 1 if best is not None else None,
        "test_metrics": test or {},
        "tested_on": "best",
        "epochs": epochs,
        "wall_time_s": 2.5,
        "history": history,
        "baselines": {},
        "tensorboard": False,
        "error": error,
        **extra,
    }
    (run_dir / "results.json").write_text(json.dumps(record, indent=2))
    return run_dir


def report_of(*dirs: Path):
    """The table of the runs under `dirs`, which all fall in one group."""
    [group] = build_sweep_report(collect(list(dirs))).groups
    return group


def row_with(report, **settings):
    """The completed row whose varied overrides have these values (keys with dots as __)."""
    wanted = {key.replace("__", "."): value for key, value in settings.items()}
    [row] = [
        r for r in report.rows if r.status == "completed" and all(r.settings.get(k) == v for k, v in wanted.items())
    ]
    return row


@pytest.fixture
def sweep(tmp_path) -> Path:
    """A multirun-shaped sweep: lr 0.01 over three seeds, lr 0.1 over two, lr 1.0 once."""
    root = tmp_path / "sweep"
    values = {
        ("0.01", 0): 0.80,
        ("0.01", 1): 0.84,
        ("0.01", 2): 0.83,
        ("0.1", 0): 0.90,
        ("0.1", 1): 0.86,
        ("1.0", 0): 0.40,
    }
    for job, ((lr, seed), best) in enumerate(values.items()):
        write_run(
            root / str(job),
            ["debug=fast", f"optimizer.lr={lr}", f"seed={seed}"],
            best,
            test={"test/acc": best - 0.05, "test/loss": 1 - best},
        )
    (root / "multirun.yaml").write_text("hydra: {}\n")
    return root


# -- rows: grouping, sorting, status ----------------------------------------------------------


def test_seed_repeats_share_a_row_with_mean_and_sample_std(sweep):
    report = report_of(sweep)
    assert [row.n for row in report.rows] == [2, 3, 1]

    three = row_with(report, optimizer__lr="0.01")
    bests = [0.80, 0.84, 0.83]
    assert three.best.mean == pytest.approx(statistics.mean(bests))
    assert three.best.std == pytest.approx(statistics.stdev(bests))
    assert three.test["test/acc"].mean == pytest.approx(statistics.mean(b - 0.05 for b in bests))
    assert three.test["test/acc"].std == pytest.approx(statistics.stdev(b - 0.05 for b in bests))
    cells = dict(zip(report.headers(), report.cells(three)))
    assert cells["best val/acc"] == f"{statistics.mean(bests):.4f} ± {statistics.stdev(bests):.4f}"
    assert cells["n"] == "3" and cells["run dir"] == str(sweep / "{0,1,2}")

    single = row_with(report, optimizer__lr="1.0")
    assert single.best.std is None and single.n == 1
    assert dict(zip(report.headers(), report.cells(single)))["best val/acc"] == "0.4000"


@pytest.mark.parametrize("mode, order", [("max", ["b", "c", "a"]), ("min", ["a", "c", "b"])])
def test_rows_are_sorted_best_first_in_the_monitor_mode(tmp_path, mode, order):
    for name, best in (("a", 0.2), ("b", 0.9), ("c", 0.5)):
        write_run(tmp_path / name, [f"model={name}"], best, monitor="val/metric", mode=mode)
    report = report_of(tmp_path)
    assert [row.settings["model"] for row in report.rows] == order
    assert [row.rank for row in report.rows] == [1, 2, 3]
    best_dir = tmp_path / order[0]
    assert report.best_run().run_dir == best_dir and str(best_dir) in report.best_line()


def test_runs_that_did_not_complete_are_listed_last_and_never_averaged(sweep):
    overrides = ["debug=fast", "optimizer.lr=0.01", "seed=3"]
    write_run(sweep / "6", overrides, 0.99, status="failed", error="RuntimeError: CUDA out of memory.\nmore text")
    write_run(sweep / "7", overrides[:-1] + ["seed=4"], None, status="diverged", error="val/loss is nan at epoch 2")
    report = report_of(sweep)

    assert row_with(report, optimizer__lr="0.01").n == 3  # neither joined the lr=0.01 group
    assert [row.status for row in report.rows] == ["completed"] * 3 + ["diverged", "failed"]
    failed = report.rows[-1]
    assert failed.rank is None and failed.runs[0].run_dir == sweep / "6"
    cells = dict(zip(report.headers(), report.cells(failed)))
    assert cells["error"] == "RuntimeError: CUDA out of memory. more text"  # one line
    assert report.counts() == {"completed": 6, "failed": 1, "diverged": 1}
    assert "8 runs (6 completed, 1 failed, 1 diverged)" in build_sweep_report(collect([sweep])).title()
    assert report.best_run().best_value == 0.90  # the failed 0.99 is not the best run


def test_a_running_run_whose_process_has_ended_shows_as_interrupted(tmp_path):
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    here = socket.gethostname()
    write_run(tmp_path / "dead", ["model=a"], 0.5, status="running", pid=ended.pid, host=here)
    write_run(tmp_path / "alive", ["model=b"], 0.5, status="running", pid=os.getpid(), host=here)
    write_run(tmp_path / "elsewhere", ["model=c"], 0.5, status="running", pid=ended.pid, host=here + "-other")
    write_run(tmp_path / "no_pid", ["model=d"], 0.5, status="running")
    statuses = {run.run_dir.name: run.status for run in collect([tmp_path])}
    assert statuses == {"dead": "interrupted", "alive": "running", "elsewhere": "running", "no_pid": "running"}
    [dead] = [run for run in collect([tmp_path]) if run.status == "interrupted"]
    assert str(ended.pid) in dead.error


def test_varied_columns_are_the_overrides_that_tell_runs_apart(tmp_path):
    write_run(tmp_path / "0", ["debug=fast", "model=cnn", "optimizer.lr=0.1", "seed=0", "hydra.job.chdir=true"], 0.5)
    write_run(tmp_path / "1", ["debug=fast", "model=mlp", "optimizer.lr=1e-1", "seed=1", "hydra.job.chdir=false"], 0.6)
    write_run(tmp_path / "2", ["debug=fast", "model=mlp", "+optimizer.lr=0.1", "seed=2", "+model.dropout=0.2"], 0.7)
    runs = collect([tmp_path])
    # debug is the same everywhere, seed repeats, hydra.* is how Hydra ran, 0.1 == 1e-1; dropout is set in one run only.
    assert varied_keys(runs) == ["model", "model.dropout"]
    report = build_report(runs)
    assert report.headers()[1:3] == ["model", "model.dropout"]
    assert [report.cells(row)[1:3] for row in report.rows] == [
        ["mlp", "0.2"],
        ["mlp", "(default)"],
        ["cnn", "(default)"],
    ]


def test_runs_are_found_at_any_depth_once_each_skipping_hydra_dirs(tmp_path, sweep):
    single = write_run(tmp_path / "outputs" / "2026-01-01" / "12-00-00", ["model=cnn"], 0.7)
    write_run(sweep / "0" / ".hydra", ["model=ghost"], 1.0)
    runs = collect([sweep, sweep / "1", single.parent.parent])
    assert [run.run_dir for run in runs] == [sweep / str(job) for job in range(6)] + [single]


def test_an_unreadable_results_json_is_a_row_with_the_reason(sweep):
    (sweep / "9").mkdir()
    (sweep / "9" / "results.json").write_text('{"status": "completed", "best_value": ')
    (sweep / "10").mkdir()
    (sweep / "10" / "results.json").write_text(json.dumps({"overrides": ["seed=0"]}))
    report = report_of(sweep)
    unreadable = [row for row in report.rows if row.status == "unreadable"]
    assert [row.runs[0].run_dir.name for row in unreadable] == ["9", "10"]
    assert "Expecting value" in unreadable[0].error and "status" in unreadable[1].error
    assert report.counts()["unreadable"] == 2 and report.counts()["completed"] == 6


def test_runs_of_other_data_or_monitors_are_grouped_apart_and_never_ranked_together(tmp_path):
    # Two classifiers on iris, forecasters on sunspots: all monitor val/loss, which means other things.
    write_run(tmp_path / "0", ["model=a"], 0.30, monitor="val/loss", mode="min", data="iris")
    write_run(tmp_path / "1", ["model=b"], 0.20, monitor="val/loss", mode="min", data="iris")
    write_run(tmp_path / "2", ["model=c"], 0.05, monitor="val/loss", mode="min", data="sunspots")
    write_run(tmp_path / "3", ["model=d"], 0.09, monitor="val/loss", mode="min", data="sunspots")
    write_run(tmp_path / "4", ["model=e"], 0.90, monitor="val/acc", mode="max", data="iris")
    write_run(tmp_path / "5", ["data=wine", "model=f"], 0.8, monitor="val/acc", mode="max")  # no .hydra: its override
    write_run(tmp_path / "6", ["model=g"], None, status="failed", error="boom", monitor="val/loss", data="sunspots")
    (tmp_path / "7").mkdir()
    (tmp_path / "7" / "results.json").write_text("{")
    report = build_sweep_report(collect([tmp_path]))

    headings = [group.heading for group in report.groups]
    assert headings == [
        "data iris, val/loss",
        "data sunspots, val/loss",
        "data iris, val/acc",
        "data wine, val/acc",
        "runs whose results.json cannot be read",
    ]
    iris_loss, sunspots, iris_acc, wine, unreadable = report.groups
    assert [[row.settings["model"] for row in g.rows] for g in (iris_loss, sunspots)] == [["b", "a"], ["c", "d", "g"]]
    assert [row.rank for row in sunspots.rows] == [1, 2, None]  # each group ranked from 1 on its own
    assert iris_acc.best_run().run_dir == tmp_path / "4" and iris_acc.mode == "max"
    assert wine.varied == [] and unreadable.runs[0].run_dir == tmp_path / "7"
    assert sunspots.best_line() == f"best run: val/loss 0.05000 (lower is better) in {tmp_path / '2'}"
    assert "8 runs" in report.title() and "5 groups" in report.title()


def test_the_cli_prints_one_table_per_group_under_its_heading(dlrun, tmp_path):
    write_run(tmp_path / "runs" / "0", ["model=a"], 0.31, monitor="val/loss", mode="min", data="iris")
    write_run(tmp_path / "runs" / "1", ["model=b"], 0.07, monitor="val/loss", mode="min", data="sunspots")
    done = dlrun("report", str(tmp_path / "runs"))
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.index("data iris, val/loss: 1 run") < out.index("0.3100") < out.index("data sunspots, val/loss: 1 run")
    assert out.index("data sunspots, val/loss") < out.index("0.07000")
    md = (tmp_path / "runs" / "report.md").read_text()
    assert "## data iris, val/loss: 1 run (1 completed, 0 failed)" in md and "## data sunspots, val/loss" in md
    with (tmp_path / "runs" / "report.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(row["group"], row["rank"]) for row in rows] == [
        ("data iris, val/loss", "1"),
        ("data sunspots, val/loss", "1"),
    ]


# -- files ------------------------------------------------------------------------------------


def run_report(*dirs: Path, plots: bool = False):
    from dlrun.commands.report import report

    return report(list(dirs), plots=plots)


def test_report_csv_holds_the_rows_at_full_precision(sweep):
    write_run(sweep / "6", ["debug=fast", "optimizer.lr=0.1", "seed=9"], None, status="failed", error="boom")
    run_report(sweep)
    with (sweep / "report.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [row["status"] for row in rows] == ["completed"] * 3 + ["failed"]
    assert [row["optimizer.lr"] for row in rows] == ["0.1", "0.01", "1.0", "0.1"]
    top = rows[0]
    assert float(top["best_value"]) == pytest.approx(statistics.mean([0.90, 0.86]))
    assert float(top["best_value_std"]) == pytest.approx(statistics.stdev([0.90, 0.86]))
    assert float(top["test/loss"]) == pytest.approx(statistics.mean([1 - 0.90, 1 - 0.86]))
    assert top["n"] == "2" and top["rank"] == "1" and top["monitor"] == "val/acc"
    assert top["run_dirs"].split(";") == [str(sweep / "3"), str(sweep / "4")]
    single = rows[2]
    assert single["best_value_std"] == "" and float(single["best_value"]) == 0.40
    assert rows[3]["error"] == "boom" and rows[3]["rank"] == "" and rows[3]["best_value"] == ""


def test_report_md_holds_a_markdown_table(sweep):
    run_report(sweep)
    lines = (sweep / "report.md").read_text().splitlines()
    assert lines[0] == "# dlrun report"
    header = next(i for i, line in enumerate(lines) if line.startswith("| #"))
    assert lines[header].split(" | ")[1:3] == ["optimizer.lr", "best val/acc"]
    assert set(lines[header + 1].replace(" ", "")) == {"|", "-"}
    each_run = lines.index("### Each run")
    assert len([line for line in lines[:each_run] if line.startswith("| ")]) == 2 + 3
    assert len([line for line in lines[each_run:] if line.startswith("| ")]) == 2 + 6
    assert any("0.8800 ± 0.0283" in line for line in lines)


def test_reports_replace_their_own_files_but_no_one_elses(sweep, tmp_path):
    run_report(sweep)
    write_run(sweep / "6", ["debug=fast", "optimizer.lr=3.0", "seed=0"], 0.1)
    run_report(sweep)  # the second report replaces the first
    with (sweep / "report.csv").open(newline="") as f:
        assert "3.0" in [row["optimizer.lr"] for row in csv.DictReader(f)]

    from dlrun.errors import DlrunError

    other = tmp_path / "other"
    write_run(other / "0", ["model=a"], 0.5)
    (other / "report.md").write_text("My notes on this sweep.\n")
    with pytest.raises(DlrunError, match="not written by dlrun report"):
        run_report(other)
    assert (other / "report.md").read_text() == "My notes on this sweep.\n"
    assert not (other / "report.csv").exists()  # refused before writing either


# -- plots ------------------------------------------------------------------------------------


def test_log_axis_only_for_positive_values_spanning_ten_times_or_more():
    assert use_log_scale([1e-4, 1e-3, 1e-2])
    assert use_log_scale([0.01, 0.1])  # exactly ten times
    assert not use_log_scale([0.01, 0.099])
    assert not use_log_scale([0.0, 1.0, 100.0])
    assert not use_log_scale([32.0, 64.0, 128.0])


def test_plots_flag_writes_the_pngs(dlrun, sweep):
    done = dlrun("report", str(sweep), "--plots")
    assert done.returncode == 0, done.stderr
    plots = sweep / "report_plots"
    names = {"best_val_acc_vs_optimizer.lr.png", "learning_curves.png", "seed_groups.png"}
    assert {p.name for p in plots.iterdir()} == names
    for name in names:
        assert (plots / name).read_bytes()[:8] == PNG_MAGIC
        assert str(plots / name) in done.stdout


# -- the command line -------------------------------------------------------------------------


def test_cli_prints_the_table_and_names_the_best_run(dlrun, sweep, tmp_path):
    single = write_run(tmp_path / "single", ["optimizer.lr=5.0"], 0.95)
    done = dlrun("report", str(sweep), str(single))
    assert done.returncode == 0, done.stderr
    assert "7 runs (7 completed, 0 failed)" in done.stdout
    assert f"best run: val/acc 0.9500 (higher is better) in {single}" in done.stdout
    assert "0.8800 ± 0.0283" in done.stdout and "report.csv" in done.stdout
    assert (sweep / "report.csv").is_file() and not (single / "report.csv").exists()


def test_cli_refuses_dirs_that_hold_no_runs(dlrun, sweep, tmp_path):
    assert_user_error(dlrun("report", str(tmp_path / "missing")), "does not exist", "made by `dlrun train`")
    (tmp_path / "empty").mkdir()
    assert_user_error(
        dlrun("report", str(sweep), str(tmp_path / "empty")), "has no results.json under it", "made by `dlrun train`"
    )
    assert_user_error(dlrun("report", str(sweep / "0" / "results.json")), "is a file, not a dir")
    assert not (sweep / "report.csv").exists()
    assert dlrun("report").returncode == 2  # no dir at all: typer's usage error


@pytest.mark.slow
def test_a_real_sweep_reports_the_numbers_its_runs_wrote(dlrun, tmp_path):
    trained = dlrun(
        "train", "-m", "debug=fast", "logger=none", "optimizer.lr=0.01,0.1", "seed=0,1", "hydra.sweep.dir=sweep"
    )
    assert trained.returncode == 0, trained.stderr
    done = dlrun("report", "sweep")
    assert done.returncode == 0, done.stderr
    assert "4 runs (4 completed, 0 failed)" in done.stdout

    results = [json.loads(p.read_text()) for p in sorted((tmp_path / "sweep").glob("*/results.json"))]
    with (tmp_path / "sweep" / "report.csv").open(newline="") as f:
        rows = {row["optimizer.lr"]: row for row in csv.DictReader(f)}
    assert set(rows) == {"0.01", "0.1"}
    for lr, row in rows.items():
        runs = [r for r in results if f"optimizer.lr={lr}" in r["overrides"]]
        assert row["n"] == "2"
        assert float(row["best_value"]) == pytest.approx(statistics.mean(r["best_value"] for r in runs))
        assert float(row["best_value_std"]) == pytest.approx(statistics.stdev(r["best_value"] for r in runs))
        for metric in runs[0]["test_metrics"]:
            assert float(row[metric]) == pytest.approx(statistics.mean(r["test_metrics"][metric] for r in runs))
    best = min(results, key=lambda r: r["best_value"])  # val/loss: lower is better
    assert significant_reference(best["best_value"], 4) in done.stdout and best["monitor"] == "val/loss"
    assert "data digits, val/loss" in done.stdout  # the group, from Hydra's record of the runs


# -- numbers, plots of sampled values, each run, Optuna -----------------------------------------

SAMPLED_LRS = [0.002054762512591136, 0.07312345678901234, 0.0003141592653589793, 0.011111111111111112]
SAMPLED_DROPOUTS = [0.1234567891234, 0.4012345678901, 0.25987654321, 0.33333333333333]
SAMPLED_BESTS = [0.912345678, 0.8512341234, 0.6051234123, 0.8812345111]


def write_sampled_runs(sweep_dir: Path, count: int = 4) -> list[Path]:
    """Runs as an Optuna sweep leaves them: every float sampled, written in full by Hydra."""
    return [
        write_run(
            sweep_dir / str(job),
            [
                f"optimizer.lr={SAMPLED_LRS[job]!r}",
                f"model.dropout={SAMPLED_DROPOUTS[job]!r}",
                f"data.batch_size={32 * (1 + job % 2)}",
            ],
            SAMPLED_BESTS[job],
            test={"test/acc": SAMPLED_BESTS[job] - 0.0123456789},
        )
        for job in range(count)
    ]


def significant_reference(value: float, digits: int) -> str:
    """`digits` significant digits by decimal arithmetic, trailing zeros kept (for values in (1e-4, 1e4))."""
    exponent = Decimal(repr(value)).adjusted()
    return f"{Decimal(repr(value)).quantize(Decimal(1).scaleb(exponent - digits + 1)):f}"


def test_numbers_are_shown_with_significant_digits(tmp_path):
    write_sampled_runs(tmp_path / "optuna")
    group = report_of(tmp_path / "optuna")
    columns = [dict(zip(group.headers(), group.cells(row))) for row in group.rows]
    order = sorted(range(4), key=lambda job: -SAMPLED_BESTS[job])
    assert [c["optimizer.lr"] for c in columns] == [f"{SAMPLED_LRS[job]:.3g}" for job in order]
    assert columns[0]["optimizer.lr"] == "0.00205" and columns[0]["model.dropout"] == "0.123"
    assert [c["best val/acc"] for c in columns] == [significant_reference(SAMPLED_BESTS[job], 4) for job in order]
    assert columns[0]["best val/acc"] == "0.9123" and columns[0]["test/acc"] == "0.9000"
    assert group.best_line().startswith("best run: val/acc 0.9123 (higher is better)")

    # Values as typed stay as typed; a metric column gets a digit more where 4 would show two runs alike.
    write_run(tmp_path / "typed" / "0", ["optimizer.lr=1e-3", "seed=0"], 0.913041)
    write_run(tmp_path / "typed" / "1", ["optimizer.lr=0.125", "seed=0"], 0.913049)
    typed = report_of(tmp_path / "typed")
    assert [typed.cells(row)[1:3] for row in typed.rows] == [["0.125", "0.91305"], ["1e-3", "0.91304"]]

    # mean ± std: the mean to 4 significant digits, or to the decimals its std needs at 2.
    bests = [12.3456, 12.3457, 12.3461]
    for seed, best in enumerate(bests):
        write_run(tmp_path / "seeds" / str(seed), [f"seed={seed}"], best, monitor="val/loss", mode="min")
    [row] = report_of(tmp_path / "seeds").rows
    mean, std = statistics.mean(bests), statistics.stdev(bests)
    decimals = max(4 - 1 - math.floor(math.log10(mean)), 2 - 1 - math.floor(math.log10(std)))
    assert decimals == 5
    assert report_of(tmp_path / "seeds").cells(row)[1] == f"{mean:.{decimals}f} ± {std:.{decimals}f}"


def test_the_cli_shows_no_long_floats(dlrun, tmp_path):
    write_sampled_runs(tmp_path / "optuna")
    done = dlrun("report", str(tmp_path / "optuna"))
    assert done.returncode == 0, done.stderr
    shown = done.stdout + (tmp_path / "optuna" / "report.md").read_text()
    assert "0.00205" in shown and "0.9123" in shown
    assert not [text for text in shown.split() if sum(ch.isdigit() for ch in text) > 7], shown
    with (tmp_path / "optuna" / "report.csv").open(newline="") as f:  # the csv keeps every digit for scripts
        assert repr(SAMPLED_LRS[0]) in [row["optimizer.lr"] for row in csv.DictReader(f)]


def points_of(group, key):
    return [(float(r.overrides[key]), r.best_value) for r in group.runs]


def test_sampled_values_are_a_scatter_and_a_typed_grid_keeps_its_mean_line(tmp_path, sweep):
    write_sampled_runs(tmp_path / "optuna")
    sampled = report_of(tmp_path / "optuna")
    [ax] = metric_vs_parameter_figure(sampled, "optimizer.lr", points_of(sampled, "optimizer.lr")).axes
    assert len(ax.lines) == 0 and len(ax.collections) == 1  # the runs as points, no line through them
    assert sorted(ax.collections[0].get_offsets()[:, 0]) == sorted(SAMPLED_LRS)
    assert ax.get_xscale() == "log"  # positive values spanning 0.000314 to 0.0731
    [ax] = metric_vs_parameter_figure(sampled, "model.dropout", points_of(sampled, "model.dropout")).axes
    assert len(ax.lines) == 0 and ax.get_xscale() == "linear"  # 0.12 to 0.40: not even 10x

    # Batch sizes 32 and 64: a grid, each value's runs, and their mean joined in order.
    [ax] = metric_vs_parameter_figure(sampled, "data.batch_size", points_of(sampled, "data.batch_size")).axes
    [mean_and_std] = ax.containers  # matplotlib's errorbar: the line of means, its caps and bars
    line = mean_and_std.lines[0]
    expected = [statistics.mean(SAMPLED_BESTS[0::2]), statistics.mean(SAMPLED_BESTS[1::2])]
    assert list(line.get_xdata()) == [32, 64] and list(line.get_ydata()) == pytest.approx(expected)
    assert ax.get_xscale() == "linear" and [t.get_text() for t in ax.get_xticklabels()] == ["32", "64"]

    # The sweep's typed learning rates over seeds: mean ± std at each, on a log axis ticked as typed.
    grid = report_of(sweep)
    [ax] = metric_vs_parameter_figure(grid, "optimizer.lr", points_of(grid, "optimizer.lr")).axes
    line = ax.containers[0].lines[0]
    assert list(line.get_ydata()) == pytest.approx(
        [statistics.mean([0.80, 0.84, 0.83]), statistics.mean([0.90, 0.86]), 0.40]
    )
    assert ax.get_xscale() == "log" and [t.get_text() for t in ax.get_xticklabels()] == ["0.01", "0.1", "1.0"]


def test_learning_curves_show_the_best_runs_labelled_by_rounded_overrides(tmp_path):
    from dlrun.report.curves import TOP_CURVES, learning_curves_figure

    bests = [0.5 + 0.05 * job for job in range(7)]
    lrs = [0.00123456789 * (job + 1) for job in range(7)]
    for job, (best, lr) in enumerate(zip(bests, lrs)):
        write_run(tmp_path / str(job), [f"optimizer.lr={lr!r}", f"seed={job}"], best, epochs=4)
    group = report_of(tmp_path)
    fig = learning_curves_figure(group, group.runs)
    [ax] = fig.axes
    assert len(ax.lines) == TOP_CURVES == 5
    best_first = sorted(range(7), key=lambda job: -bests[job])[:TOP_CURVES]
    labels = [text.get_text() for text in fig.legends[0].get_texts()]
    assert labels == [f"optimizer.lr={lrs[job]:.3g} seed={job}" for job in best_first]
    history = json.loads((tmp_path / "6" / "results.json").read_text())["history"]
    # These records have no epoch_base (written before epochs counted from 1): drawn as users number them.
    assert list(ax.lines[0].get_xdata()) == [entry["epoch"] + 1 for entry in history]
    assert ax.get_xlabel() == "epoch" and ax.get_ylabel() == "val/acc"


def test_each_run_has_a_row_beside_the_seed_groups(dlrun, sweep):
    group = report_of(sweep)
    bests = {0: 0.80, 1: 0.84, 2: 0.83, 3: 0.90, 4: 0.86, 5: 0.40}  # job -> best, as the fixture wrote them
    assert [row.runs[0].run_dir.name for row in group.run_rows] == [
        str(j) for j in sorted(bests, key=lambda j: -bests[j])
    ]
    assert [row.rank for row in group.run_rows] == [1, 2, 3, 4, 5, 6]
    cells = dict(zip(group.headers(each_run=True), group.cells(group.run_rows[0], each_run=True)))
    assert cells == cells | {
        "#": "1",
        "optimizer.lr": "0.1",
        "seed": "0",
        "best val/acc": "0.9000",
        "run dir": str(sweep / "3"),
    }
    assert "n" not in cells

    done = dlrun("report", str(sweep), "--runs")
    assert done.returncode == 0, done.stderr
    each = done.stdout[done.stdout.index("Each run: val/acc") :]
    assert all(str(sweep / str(job)) in each for job in bests)
    plain = dlrun("report", str(sweep))
    assert "Each run:" not in plain.stdout and "add --runs" in plain.stdout


def write_optuna_sweep(root: Path, values: list[float], study_name: str = "mlp_optuna") -> Path:
    """outputs/optuna/<study>/study.db with a trial per value, and the sweep dir of their runs beside it."""
    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    study_dir = root / "outputs" / "optuna" / study_name
    study_dir.mkdir(parents=True)
    study = optuna.create_study(
        study_name=study_name, storage=f"sqlite:///{study_dir / 'study.db'}", direction="maximize"
    )
    space = {
        "optimizer.lr": FloatDistribution(1e-4, 1e-1, log=True),
        "model.dropout": FloatDistribution(0.0, 0.5),
        "data.batch_size": CategoricalDistribution([32, 64]),
    }
    sweep_dir = study_dir / "2026-01-01_00-00-00"
    for job, value in enumerate(values):
        trial = study.ask(space)
        study.tell(trial, value)
        overrides = [f"{key}={param!r}" for key, param in trial.params.items()]
        write_run(sweep_dir / str(job), overrides, value, data="digits")
    return sweep_dir


def test_optuna_sweeps_get_optunas_own_plots_without_its_warnings(tmp_path):
    from dlrun.report.optuna_plots import find_studies, write_optuna_plots

    sweep_dir = write_optuna_sweep(tmp_path, [0.81, 0.87, 0.84])
    runs = collect([sweep_dir])
    study_file = tmp_path / "outputs" / "optuna" / "mlp_optuna" / "study.db"
    assert find_studies(runs) == {study_file.resolve(): "val/acc"}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        written, notes = write_optuna_plots(runs, tmp_path)
    assert notes == [] and not [w for w in caught if "experimental" in str(w.message).lower()]
    plots = tmp_path / "optuna_mlp_optuna"
    assert written == [plots / "optimization_history.png", plots / "param_importances.png", plots / "slice.png"]
    assert all(path.read_bytes()[:8] == PNG_MAGIC for path in written)


def test_a_study_of_one_trial_skips_the_importances_with_a_note(dlrun, tmp_path):
    sweep_dir = write_optuna_sweep(tmp_path, [0.8])
    done = dlrun("report", str(sweep_dir), "--plots")
    assert done.returncode == 0, done.stderr
    assert (
        "Optuna study mlp_optuna: no param importances plot (needs 2 completed trials and 2 parameters" in done.stdout
    )
    assert "Traceback" not in done.stderr and "Warning" not in done.stderr, done.stderr
    plots = sweep_dir / "report_plots" / "optuna_mlp_optuna"
    assert "no slice plot (needs 2 completed trials" in done.stdout  # one point would make a degenerate axis
    assert [p.name for p in plots.iterdir()] == ["optimization_history.png"]
