"""`dlrun report`: results.json files written by hand, then the rows, files, plots and CLI checked."""

from __future__ import annotations

import csv
import json
import os
import socket
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import assert_user_error

from dlrun.report.collect import collect, varied_keys
from dlrun.report.plots import use_log_scale
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
    **extra,
) -> Path:
    """A results.json as `dlrun train` writes it, with a history whose best epoch holds `best`."""
    run_dir.mkdir(parents=True, exist_ok=True)
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
    return build_report(collect(list(dirs)))


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
    assert report.best_run().run_dir == best_dir and str(best_dir) in report.title()


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
    assert "8 runs (6 completed, 1 failed, 1 diverged)" in report.title()
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


def test_disagreeing_monitors_are_warned_about_and_ranked_by_the_first(tmp_path):
    write_run(tmp_path / "0", ["model=a"], 0.7, monitor="val/acc", mode="max")
    write_run(tmp_path / "1", ["model=b"], 0.9, monitor="val/acc", mode="max")
    write_run(tmp_path / "2", ["model=c"], 0.1, monitor="val/loss", mode="min")
    report = report_of(tmp_path)
    [warning] = report.warnings
    assert "val/acc in 2, val/loss in 1" in warning and "ranked by val/acc" in warning
    assert [row.settings["model"] for row in report.rows] == ["b", "a", "c"]
    assert [row.rank for row in report.rows] == [1, 2, None]
    assert "monitor" in report.headers() and "best value" in report.headers()


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
    assert len([line for line in lines if line.startswith("| ")]) == 2 + 3
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


def test_log_axis_only_for_positive_values_spanning_more_than_ten_times():
    assert use_log_scale([1e-4, 1e-3, 1e-2])
    assert not use_log_scale([0.01, 0.1])  # exactly ten times
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
    assert f"{best['best_value']:.4f}" in done.stdout and best["monitor"] == "val/loss"
