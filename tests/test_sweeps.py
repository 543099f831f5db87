"""Sweeps through the CLI as users run them: failures recorded and survived, the summary and exit
code, Optuna (direction, resumed studies, FAIL and PRUNED trials, pruning, the study read by Optuna's CLI and
optuna-dashboard), parallel jobs sharing the machine. The Optuna sweeper's parts are tested in-process in
test_optuna_sweeper.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import dlrun_env
from helpers import assert_user_error, hparams_dashboard

from dlrun.report.collect import collect
from dlrun.sweeps.parallel_jobs import (
    concurrent_jobs,
    gpu_for_job,
    threads_per_job,
    trials_at_a_time,
    usable_cores,
)

TINY = ("debug=fast", "logger=none")


def statuses(sweep_dir: Path) -> dict[str, str]:
    """Each job's learning rate override -> its recorded status."""
    found = {}
    for path in sweep_dir.rglob("results.json"):
        record = json.loads(path.read_text())
        lr = next(o.split("=", 1)[1] for o in record["overrides"] if o.startswith("optimizer.lr="))
        found[lr] = record["status"]
    return found


def study(path: Path, name: str = "mlp_optuna"):
    import optuna

    return optuna.load_study(study_name=name, storage=f"sqlite:///{path}")


@pytest.mark.slow
def test_a_sweep_runs_every_job_past_failures_and_says_so(dlrun, tmp_path):
    done = dlrun(
        "train",
        "-m",
        *TINY,
        "optimizer=sgd",
        "trainer.gradient_clip_val=null",
        "optimizer.lr=-1,0.01,1e12",
        "hydra.sweep.dir=sweep",
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert statuses(tmp_path / "sweep") == {"-1": "failed", "0.01": "completed", "1000000000000.0": "diverged"}
    assert "3 jobs: 1 failed, 1 completed, 1 diverged" in done.stdout
    assert "failed optimizer.lr=-1" in done.stdout and "Invalid learning rate" in done.stdout
    assert "best: val/loss" in done.stdout and "optimizer.lr=0.01" in done.stdout
    diverged = json.loads((tmp_path / "sweep" / "2" / "results.json").read_text())
    assert "became nan" in diverged["error"] and diverged["epochs"] == 0


def test_a_typo_stops_a_sweep_before_any_job(dlrun, tmp_path):
    assert_user_error(dlrun("train", "-m", "optimizer.lrr=0.1,0.2", "hydra.sweep.dir=sweep"), "optimizer.lrr")
    assert_user_error(
        dlrun("train", "-m", "monitor=val/acc2", "optimizer.lr=0.1,0.2", "hydra.sweep.dir=s2"),
        "monitor 'val/acc2'",
        "Did you mean val/acc?",
    )
    assert not list(tmp_path.rglob("results.json"))


@pytest.mark.slow
def test_parallel_jobs_split_the_cores_and_survive_failures(dlrun, tmp_path):
    done = dlrun(
        "train",
        "-m",
        *TINY,
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "optimizer.lr=0.01,-1",
        "hydra.sweep.dir=sweep",
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert statuses(tmp_path / "sweep") == {"0.01": "completed", "-1": "failed"}
    assert "2 jobs: 1 completed, 1 failed" in done.stdout


def test_a_joblib_sweeps_workers_import_during_the_checks_and_its_jobs_reuse_them(tmp_path):
    import os

    from joblib import Parallel, delayed

    from dlrun.config.compose import ConfigSource
    from dlrun.sweeps.joblib_workers import launcher_settings, warm_workers

    cfg = ConfigSource().compose(["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"], multirun=True)
    assert warm_workers(ConfigSource().compose([], multirun=True)) is None  # the basic launcher has none
    # No head start, and no traceback, for a setting the checks after it refuse.
    assert (
        warm_workers(
            ConfigSource().compose(["hydra/launcher=joblib", "hydra.launcher.n_jobs=${nowhere}"], multirun=True)
        )
        is None
    )
    workers = warm_workers(cfg)
    try:
        workers.ready()
        assert len(workers.pids) == 2 and os.getpid() not in workers.pids
        # The launcher's call, with the settings it derives from the same config, finds those workers.
        jobs = Parallel(**launcher_settings(cfg))(delayed(os.getpid)() for _ in range(6))
        assert set(jobs) <= set(workers.pids)
    finally:
        workers.stop()


def test_a_bad_value_stops_a_parallel_sweep_before_any_job(dlrun, tmp_path):
    done = dlrun(
        "train",
        "-m",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "trainer.max_epochs=1.5",
        "optimizer.lr=0.1,0.2",
        "hydra.sweep.dir=sweep",
    )
    assert_user_error(done, "trainer.max_epochs")
    unresolved = dlrun(
        "train",
        "-m",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=${nowhere}",
        "optimizer.lr=0.1,0.2",
        "hydra.sweep.dir=sweep",
    )
    assert_user_error(unresolved, "hydra.launcher.n_jobs does not resolve")
    assert not list(tmp_path.rglob("results.json"))


def test_each_parallel_job_gets_its_share_of_cores_and_gpus():
    assert [concurrent_jobs(n, cores=8) for n in (1, 3, -1, -2, -20)] == [1, 3, 8, 7, 1]
    # An Optuna sweep asks as many trials at a time as the launcher runs, unless told otherwise.
    assert [trials_at_a_time(None, n) for n in (None, 1, 3)] == [1, 1, 3]
    assert trials_at_a_time(None, -1) == usable_cores() and trials_at_a_time(4, None) == 4
    assert [threads_per_job(p, cores=8) for p in (1, 2, 3, 8, 16)] == [8, 4, 2, 1, 1]
    assert [gpu_for_job(j, ["0", "1", "2"]) for j in range(5)] == ["0", "1", "2", "0", "1"]
    assert gpu_for_job(3, []) is None


@pytest.mark.slow
def test_optuna_maximizes_the_monitor_resumes_its_study_and_records_failures(dlrun, tmp_path):
    # With seed 6 the sampler draws the learning rates 0.01, 1e-7 and -1, in this order: a run that
    # learns, one that does not and is pruned against it at its first epoch, one whose optimizer refuses.
    base = (
        "hparams_search=mlp_optuna",
        *TINY,
        "paths.root=runs",
        "monitor=val/acc",
        "monitor_mode=max",
        "seed=6",
        "callbacks.optuna_pruning.n_startup_trials=1",
        "callbacks.optuna_pruning.n_warmup_steps=0",
    )
    search = (*base, "optimizer.lr=choice(0.01, 1e-7, -1)")
    first = dlrun("train", "-m", *search, "hydra.sweeper.n_trials=3")
    assert first.returncode == 1, first.stdout + first.stderr  # one trial failed
    assert (
        "Optuna will maximize val/acc over 3 trials" in first.stdout and "3 jobs: 2 completed, 1 failed" in first.stdout
    )
    database = tmp_path / "runs" / "optuna" / "mlp_optuna" / "study.db"
    trials = study(database).trials
    assert study(database).direction.name == "MAXIMIZE"
    assert [(t.params["optimizer.lr"], t.state.name) for t in trials] == [
        (0.01, "COMPLETE"),
        (1e-7, "PRUNED"),
        (-1, "FAIL"),
    ]
    [sweep_dir] = (tmp_path / "runs" / "optuna" / "mlp_optuna").glob("20*")
    records = [json.loads((sweep_dir / str(n) / "results.json").read_text()) for n in range(3)]
    assert trials[0].value == records[0]["best_value"] and trials[1].intermediate_values == {0: trials[1].value}
    for trial, record in zip(trials, records):
        assert trial.user_attrs["run_dir"] == str(sweep_dir / str(trial.number))
        assert trial.user_attrs["status"] == record["status"]
        assert {k: v for k, v in trial.user_attrs.items() if k.startswith("test/")} == record["test_metrics"]
    assert trials[1].user_attrs["pruned_at_epoch"] == records[1]["pruned_at_epoch"] == 1
    assert trials[2].user_attrs["status"] == "failed" and "Invalid learning rate" in trials[2].user_attrs["error"]
    # The trial number reaches the job through Hydra's own node: not its overrides, its run's name or the report.
    for n in range(3):
        hydra_record = yaml.safe_load((sweep_dir / str(n) / ".hydra" / "hydra.yaml").read_text())["hydra"]
        assert hydra_record["job"]["env_set"] == {"DLRUN_OPTUNA_TRIAL": str(n)}
        assert "DLRUN" not in hydra_record["job"]["override_dirname"]
        assert "DLRUN" not in (sweep_dir / str(n) / ".hydra" / "overrides.yaml").read_text()
    assert not any("DLRUN" in key for record in collect([sweep_dir]) for key in record.overrides)
    best = yaml.safe_load((sweep_dir / "optimization_results.yaml").read_text())
    assert best["best_trial"] == 0 and best["best_run_dir"] == str(sweep_dir / "0")

    # The same study again, two trials at a time in parallel jobs: it resumes, its sampler's seed moved
    # past the trials it holds (seed 9 draws 1e-7 twice), and each worker's run reports to its own
    # trial and is pruned against trial 0.
    again = dlrun(
        "train",
        "-m",
        *search,
        "hydra.sweeper.n_trials=2",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",  # hydra.sweeper.n_jobs follows it: two trials at a time
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert "over 2 trials, 2 at a time" in again.stdout and "resumed after 3 trials" in again.stdout
    trials = study(database).trials
    assert [(t.number, t.state.name) for t in trials[3:]] == [(3, "PRUNED"), (4, "PRUNED")]
    assert all(set(t.intermediate_values) == {0} for t in trials[3:])
    assert len({t.params["optimizer.weight_decay"] for t in trials}) == 5  # no trial repeated
    assert {Path(t.user_attrs["run_dir"]).parent for t in trials[3:]} != {sweep_dir}

    # Optuna's own CLI and optuna-dashboard read the study.
    listed = subprocess.run(
        [str(Path(sys.executable).parent / "optuna"), "trials", "--storage", f"sqlite:///{database}"]
        + ["--study-name", "mlp_optuna", "--format", "json"],
        capture_output=True,
        text=True,
        env=dlrun_env(),
        timeout=120,
    )
    assert listed.returncode == 0, listed.stderr
    assert [(t["number"], t["state"]) for t in json.loads(listed.stdout)] == [
        (0, "COMPLETE"),
        (1, "PRUNED"),
        (2, "FAIL"),
        (3, "PRUNED"),
        (4, "PRUNED"),
    ]
    shown = dashboard_json(f"sqlite:///{database}", "/api/studies/1")
    assert [t["state"] for t in shown["trials"]] == ["Complete", "Pruned", "Fail", "Pruned", "Pruned"]
    assert {"key": "run_dir", "value": str(sweep_dir / "0")} in shown["trials"][0]["user_attrs"]

    # A study whose every trial fails ends without a traceback: the summary says what failed.
    doomed = dlrun(
        "train",
        "-m",
        *base,
        "hydra.sweeper.n_trials=2",
        "optimizer.lr=choice(-1, -2)",
        "hydra.sweeper.study_name=doomed",
    )
    assert doomed.returncode == 1 and "Traceback" not in doomed.stdout + doomed.stderr, doomed.stdout + doomed.stderr
    assert "2 jobs: 2 failed" in doomed.stdout
    doomed_trials = study(tmp_path / "runs" / "optuna" / "doomed" / "study.db", "doomed").trials
    assert [t.state.name for t in doomed_trials] == ["FAIL", "FAIL"]


def dashboard_json(storage: str, path: str) -> dict:
    """What optuna-dashboard's server answers for `path`, through its WSGI app in this process."""
    from wsgiref.util import setup_testing_defaults

    import optuna_dashboard

    environ: dict = {"PATH_INFO": path}
    setup_testing_defaults(environ)
    answer: dict = {}
    body = b"".join(optuna_dashboard.wsgi(storage)(environ, lambda status, *_: answer.update(status=status)))
    assert answer["status"].startswith("200"), body[:500]
    return json.loads(body)


def test_an_optuna_direction_against_the_monitor_is_refused(dlrun, tmp_path):
    done = dlrun("train", "-m", "hparams_search=mlp_optuna", "hydra.sweeper.direction=maximize", "paths.root=runs")
    assert_user_error(done, "hydra.sweeper.direction is maximize, but monitor_mode is min")
    assert not (tmp_path / "runs" / "optuna" / "mlp_optuna" / "study.db").exists()


def test_the_summary_counts_a_job_whose_process_died(tmp_path, capsys):
    from dlrun.results import RunResult
    from dlrun.sweeps.summary import summarize_sweep

    done = RunResult(str(tmp_path / "0"), ["optimizer.lr=0.01"], "val/loss", "min", status="completed", best_value=0.25)
    (tmp_path / "0").mkdir()
    done.write()
    (tmp_path / "1" / ".hydra").mkdir(parents=True)
    (tmp_path / "1" / ".hydra" / "overrides.yaml").write_text("- optimizer.lr=0.02\n")
    assert summarize_sweep(tmp_path) == 1
    said = capsys.readouterr().out
    assert "2 jobs: 1 completed, 1 died" in said and "died optimizer.lr=0.02" in said
    assert "best: val/loss 0.2500 with optimizer.lr=0.01" in said


@pytest.mark.slow
def test_hparams_of_a_sweep_over_models_holds_every_models_names_and_marks_the_model_as_varying(dlrun, tmp_path):
    done = dlrun("train", "-m", "debug=fast", "model=mlp,cnn", "hydra.sweep.dir=sweep")
    assert done.returncode == 0, done.stdout + done.stderr
    experiment, groups = hparams_dashboard(tmp_path / "sweep")
    differs = {info["name"]: info.get("differs", False) for info in experiment["hparamInfos"]}
    assert {"model.channels", "model.hidden_sizes", "optimizer.lr"} <= set(differs)
    assert differs["model"] and not differs["optimizer.lr"]
    # A name only the CNN has is the CNN's: it stays its one value, not one that varies (as "-" would make it).
    assert not differs["model.channels"]
    by_model = {group["hparams"]["model"]: group["hparams"] for group in groups}
    assert "model.channels" in by_model["cnn"] and "model.channels" not in by_model["mlp"]
