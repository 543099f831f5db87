"""Sweeps through the CLI as users run them: failures recorded and survived, the summary and exit
code, Optuna (direction, resumed studies, FAIL trials, pruning), parallel jobs sharing the machine."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from helpers import assert_user_error, hparams_dashboard

from dlrun.sweeps.parallel_jobs import concurrent_jobs, gpu_for_job, threads_per_job

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
    assert [threads_per_job(p, cores=8) for p in (1, 2, 3, 8, 16)] == [8, 4, 2, 1, 1]
    assert [gpu_for_job(j, ["0", "1", "2"]) for j in range(5)] == ["0", "1", "2", "0", "1"]
    assert gpu_for_job(3, []) is None


@pytest.mark.slow
def test_optuna_maximizes_the_monitor_resumes_its_study_and_records_failures(dlrun, tmp_path):
    search = ("hparams_search=mlp_optuna", *TINY, "paths.root=runs", "monitor=val/acc", "monitor_mode=max")
    first = dlrun("train", "-m", *search, "hydra.sweeper.n_trials=3")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Optuna will maximize val/acc over 3 trials" in first.stdout
    database = tmp_path / "runs" / "optuna" / "mlp_optuna" / "study.db"
    assert study(database).direction.name == "MAXIMIZE" and len(study(database).trials) == 3

    # An entry of the search space given on the command line, as the README shows (the same one, so
    # that the study resumes).
    again = dlrun("train", "-m", *search, "hydra.sweeper.n_trials=2", "optimizer.lr=tag(log, interval(1e-4, 1e-1))")
    assert again.returncode == 0 and "resumed after 3 trials" in again.stdout, again.stdout + again.stderr
    trials = study(database).trials
    assert len(trials) == 5 and len({t.params["optimizer.weight_decay"] for t in trials}) == 5  # no repeats
    assert len(list((tmp_path / "runs" / "optuna" / "mlp_optuna").glob("*/*/results.json"))) == 5

    changed = dlrun("train", "-m", *search, "optimizer.lr=choice(-1, 0.01)")
    assert_user_error(changed, "searched optimizer.lr over LogUniformDistribution", "hydra.sweeper.study_name=")
    failing = dlrun(
        "train",
        "-m",
        *search,
        "hydra.sweeper.n_trials=6",
        "optimizer.lr=choice(-1, 0.01)",
        "hydra.sweeper.study_name=failing",
    )
    assert failing.returncode == 1, failing.stdout + failing.stderr
    trials = study(tmp_path / "runs" / "optuna" / "failing" / "study.db", "failing").trials
    assert len(trials) == 6 and {t.state.name for t in trials} == {"COMPLETE", "FAIL"}
    assert all((t.state.name == "FAIL") == (t.params["optimizer.lr"] == -1) for t in trials)
    # Every trial failing leaves Optuna without a best trial, and its sweeper raises at the end: one
    # line, then the summary of what failed.
    doomed = dlrun(
        "train",
        "-m",
        *search,
        "hydra.sweeper.n_trials=2",
        "optimizer.lr=choice(-1, -2)",
        "hydra.sweeper.study_name=doomed",
    )
    assert doomed.returncode == 1 and "Traceback" not in doomed.stdout + doomed.stderr, doomed.stdout + doomed.stderr
    assert "Error: the sweep stopped: ValueError" in doomed.stderr and "2 jobs: 2 failed" in doomed.stdout


def test_an_optuna_direction_against_the_monitor_is_refused(dlrun, tmp_path):
    done = dlrun("train", "-m", "hparams_search=mlp_optuna", "hydra.sweeper.direction=maximize", "paths.root=runs")
    assert_user_error(done, "hydra.sweeper.direction is maximize, but monitor_mode is min")
    assert not (tmp_path / "runs" / "optuna" / "mlp_optuna" / "study.db").exists()


def test_pruning_finds_its_trial_in_the_storage_and_stops_a_bad_one(tmp_path):
    import optuna

    from dlrun.callbacks.optuna_pruning import OptunaPruning, find_trial

    storage = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(study_name="s", storage=storage, direction="minimize")
    for value in (0.1, 0.2, 0.3):
        trial = study.ask({"optimizer.lr": optuna.distributions.LogUniformDistribution(1e-4, 1e-1)})
        for epoch in range(4):
            trial.report(value, epoch)
        study.tell(trial, value)
    running = study.ask({"optimizer.lr": optuna.distributions.LogUniformDistribution(1e-4, 1e-1)})
    overrides = {"optimizer.lr": str(running.params["optimizer.lr"]), "seed": "0"}
    assert find_trial(storage, "s", overrides, 1, 0).number == running.number
    assert find_trial(storage, "s", {"optimizer.lr": "0.5"}, 1, 0) is None

    pruning = OptunaPruning("val/loss", storage, "s", n_startup_trials=3, n_warmup_steps=1)
    pruning.trial = find_trial(storage, "s", overrides, 3, 1)
    trainer = SimpleNamespace(
        sanity_checking=False, callback_metrics={"val/loss": 5.0}, current_epoch=0, should_stop=False
    )
    pruning.on_validation_end(trainer, None)  # within the warm-up
    assert not trainer.should_stop
    trainer.current_epoch, trainer.callback_metrics = 2, {"val/loss": 4.0}
    pruning.on_validation_end(trainer, None)  # its best, 4.0, is worse than the median 0.2 at epoch 2
    assert trainer.should_stop and pruning.pruned_at_epoch == 2
    assert optuna.load_study(study_name="s", storage=storage).trials[-1].intermediate_values == {0: 5.0, 2: 4.0}


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
