"""dlrun's Optuna sweeper in-process: the search-space grammar as Optuna distributions, how a trial is
told that its job ended, pruning reported to the trial the sweeper named, the ask/tell loop over a
launcher, samplers, and the pre-flight refusals. The end-to-end sweeps are in test_sweeps.py."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import optuna
import pytest
from hydra.core.utils import JobReturn, JobStatus
from omegaconf import OmegaConf
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from dlrun.errors import ConfigError
from dlrun.sweeps.optuna_study import build_sampler
from dlrun.sweeps.search_space import override_value, search_space
from dlrun.sweeps.trial_number import TRIAL_NUMBER_VARIABLE

optuna.logging.set_verbosity(optuna.logging.WARNING)


# -- the grammar ------------------------------------------------------------------------------------


def test_each_entry_of_the_grammar_is_the_distribution_it_says():
    space = search_space(
        [
            "optimizer.lr=tag(log, interval(1e-4, 1e-1))",
            "model.dropout=interval(0.0, 0.5)",
            "model.hidden=interval(16, 256)",
            "model.width=tag(log, interval(8, 512))",
            "model.num_layers=range(1, 4)",
            "model.kernel=range(3, 9, 2)",
            "model.scale=range(0.5, 2.0, 0.5)",
            "data.batch_size=choice(32, 64, 128)",
            "model.read_out=last,mean,max",
            "model=mlp,cnn",
            "seed=1",
            "~callbacks.early_stopping",
        ]
    )
    assert space.distributions == {
        "optimizer.lr": FloatDistribution(1e-4, 1e-1, log=True),
        "model.dropout": FloatDistribution(0.0, 0.5),
        "model.hidden": IntDistribution(16, 256),  # integer ends: an integer search
        "model.width": IntDistribution(8, 512, log=True),
        "model.num_layers": IntDistribution(1, 3),  # Hydra's range stops below its end
        "model.kernel": IntDistribution(3, 7, step=2),
        "model.scale": FloatDistribution(0.5, 1.5, step=0.5),
        "data.batch_size": CategoricalDistribution([32, 64, 128]),
        "model.read_out": CategoricalDistribution(["last", "mean", "max"]),
        "model": CategoricalDistribution(["mlp", "cnn"]),
    }
    assert space.fixed == ["seed=1", "~callbacks.early_stopping"]
    # A later entry replaces an earlier one in its place, whatever its kind (the command line over a preset).
    replaced = search_space(["optimizer.lr=interval(0.1, 0.2)", "seed=0,1", "optimizer.lr=0.01", "seed=choice(5, 6)"])
    assert replaced.fixed == ["optimizer.lr=0.01"] and replaced.distributions == {
        "seed": CategoricalDistribution([5, 6])
    }


def test_a_trials_overrides_give_the_job_exactly_the_values_drawn():
    from hydra.core.override_parser.overrides_parser import OverridesParser

    space = search_space(["a=interval(0.0, 1.0)", "b=choice(x, 'y z', '32', true)", "+c=range(1, 3)", "d=7", "~e"])
    drawn = {"a": 1 / 3 * 1e-5, "b": "32", "+c": 2}
    lines = space.overrides_for(drawn)
    assert lines == ["a=3.3333333333333333e-06", "b='32'", "+c=2", "d=7", "~e"]
    parsed = OverridesParser.create().parse_overrides(lines[:3])
    assert [o.value() for o in parsed] == [1 / 3 * 1e-5, "32", 2]  # every digit drawn; '32' stays a string
    assert [override_value(v) for v in (None, True, False, "y z", "a,b")] == ["null", "true", "false", "y z", "'a,b'"]


@pytest.mark.parametrize(
    ("line", "said"),
    [
        ("optimizer.lr=interval(1e-4", "does not parse"),
        ("optimizer.lr=tag(log, interval(0, 1))", "its lower end must be above 0"),
        ("optimizer.lr=interval(0.5, 0.1)", "not a distribution Optuna can sample"),
        ("model=glob(*)", "list them with choice(...)"),
        ("model.channels=choice([8, 16], [32])", "Optuna's choices are single numbers"),
        ("model.num_layers=range(3, 1)", "empty range"),
        ("model.num_layers=tag(log, range(1, 9, 2))", "only step 1"),
        ("optimizer.lr=tag(fast, interval(0.1, 0.2))", "knows only tag(log, interval(a, b))"),
    ],
)
def test_an_entry_optuna_cannot_search_is_a_user_error_naming_it(line, said):
    with pytest.raises(ConfigError) as error:
        search_space(["seed=0", line])
    assert line in str(error.value) and said in str(error.value)


# -- telling a trial how its job ended -------------------------------------------------------------


def job_in(run_dir: Path, status: JobStatus, value, record: dict | None) -> JobReturn:
    run_dir.mkdir(parents=True, exist_ok=True)
    if record is not None:
        (run_dir / "results.json").write_text(json.dumps(record))
    hydra_cfg = OmegaConf.create({"hydra": {"runtime": {"output_dir": str(run_dir)}}})
    return JobReturn(hydra_cfg=hydra_cfg, status=status, _return_value=value)


def test_a_trial_is_told_complete_pruned_or_failed_and_records_its_run(tmp_path):
    from dlrun.sweeps.trial_outcome import tell

    metrics = {"test/acc": 0.75, "test/loss": float("nan")}
    jobs = {
        "completed": job_in(tmp_path / "0", JobStatus.COMPLETED, 0.8, {"status": "completed", "test_metrics": metrics}),
        "pruned": job_in(
            tmp_path / "1", JobStatus.COMPLETED, 0.3, {"status": "completed", "pruned_at_epoch": 2, "test_metrics": {}}
        ),
        "failed": job_in(
            tmp_path / "2", JobStatus.COMPLETED, None, {"status": "failed", "error": "Invalid learning rate"}
        ),
        "nan": job_in(tmp_path / "3", JobStatus.COMPLETED, float("nan"), {"status": "completed"}),
        "inf": job_in(tmp_path / "4", JobStatus.COMPLETED, math.inf, {"status": "completed"}),
        "raised": job_in(tmp_path / "5", JobStatus.FAILED, RuntimeError("worker lost"), None),
    }
    study = optuna.create_study(direction="maximize")
    told = {}
    for name, job in jobs.items():
        trial = study.ask({"x": FloatDistribution(0, 1)})
        if name == "pruned":
            trial.report(0.25, step=0)
        told[name] = tell(study, trial, job)
    trials = {name: study.trials[i] for i, name in enumerate(jobs)}
    assert {name: t.state for name, t in trials.items()} == {
        "completed": TrialState.COMPLETE,
        "pruned": TrialState.PRUNED,
        "failed": TrialState.FAIL,
        "nan": TrialState.FAIL,
        "inf": TrialState.FAIL,
        "raised": TrialState.FAIL,
    }
    assert trials["completed"].value == 0.8 and trials["pruned"].value == 0.25  # Optuna's: its last report
    # NaN would make the storage's JSON unreadable to the dashboard.
    assert trials["completed"].user_attrs == {
        "run_dir": str(tmp_path / "0"),
        "status": "completed",
        "test/acc": 0.75,
        "test/loss": None,
    }
    assert trials["pruned"].user_attrs["pruned_at_epoch"] == 2
    assert trials["failed"].user_attrs["status"] == "failed"
    assert trials["failed"].user_attrs["error"] == "Invalid learning rate"
    assert "not a finite number" in trials["inf"].user_attrs["error"]
    assert trials["raised"].user_attrs == {
        "run_dir": str(tmp_path / "5"),
        "status": "failed",
        "error": "RuntimeError: worker lost",
    }


# -- pruning by trial number -------------------------------------------------------------------------


def fake_trainer(epoch: int, value: float) -> SimpleNamespace:
    return SimpleNamespace(
        sanity_checking=False,
        callback_metrics={"val/loss": value},
        current_epoch=epoch,
        should_stop=False,
        is_global_zero=True,
        strategy=SimpleNamespace(broadcast=lambda obj, src=0: obj),
    )


def test_pruning_reports_to_the_trial_it_was_handed_even_beside_one_with_the_same_params(tmp_path, monkeypatch):
    from dlrun.callbacks.optuna_pruning import OptunaPruning

    storage = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(study_name="s", storage=storage, direction="minimize")
    space = {"optimizer.lr": FloatDistribution(1e-4, 1e-1, log=True)}
    for value in (0.1, 0.2, 0.3):
        trial = study.ask(space)
        for epoch in range(4):
            trial.report(value, epoch)
        study.tell(trial, value)
    for _ in range(2):
        study.enqueue_trial({"optimizer.lr": 0.01})
    twin, mine = study.ask(space), study.ask(space)
    assert twin.params == mine.params  # nothing in its params tells one from the other

    monkeypatch.setenv(TRIAL_NUMBER_VARIABLE, str(mine.number))
    pruning = OptunaPruning("val/loss", storage, "s", n_startup_trials=3, n_warmup_steps=1)
    pruning.on_fit_start(fake_trainer(0, 0), None)
    assert pruning.trial is not None and pruning.trial.number == mine.number
    trainer = fake_trainer(0, 5.0)
    pruning.on_validation_end(trainer, None)  # within the warm-up
    assert not trainer.should_stop
    trainer = fake_trainer(2, 4.0)
    pruning.on_validation_end(trainer, None)  # its best, 4.0, is worse than the median 0.2 at epoch 2
    assert trainer.should_stop and pruning.pruned_at_epoch == 2
    stored = optuna.load_study(study_name="s", storage=storage).trials
    assert stored[mine.number].intermediate_values == {0: 5.0, 2: 4.0}
    assert stored[twin.number].intermediate_values == {}


def test_pruning_is_off_without_a_running_trial_of_that_number(tmp_path, monkeypatch):
    from dlrun.callbacks.optuna_pruning import OptunaPruning, find_trial

    storage = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(study_name="s", storage=storage)
    study.tell(study.ask(), 1.0)
    assert find_trial(storage, "s", 0, 1, 0) is None  # finished: a `dlrun resume` of it must not report
    assert find_trial(storage, "s", 7, 1, 0) is None
    assert find_trial(storage, "other", 0, 1, 0) is None
    monkeypatch.delenv(TRIAL_NUMBER_VARIABLE, raising=False)  # a plain run
    pruning = OptunaPruning("val/loss", storage, "s")
    pruning.on_fit_start(fake_trainer(0, 0), None)
    trainer = fake_trainer(5, 100.0)
    pruning.on_validation_end(trainer, None)
    assert pruning.trial is None and not trainer.should_stop


# -- the ask/tell loop ----------------------------------------------------------------------------------


class RecordingLauncher:
    """Runs each job as a completed one returning its trial's x, and records what it was given."""

    def __init__(self, root: Path, raises: BaseException | None = None) -> None:
        self.root, self.raises = root, raises
        self.batches: list[list[list[str]]] = []
        self.first_job_numbers: list[int] = []

    def launch(self, job_overrides, initial_job_idx):
        if self.raises is not None:
            raise self.raises
        self.batches.append([list(o) for o in job_overrides])
        self.first_job_numbers.append(initial_job_idx)
        jobs = []
        for i, overrides in enumerate(job_overrides):
            x = float(next(o for o in overrides if o.startswith("x=")).split("=")[1])
            run_dir = self.root / str(initial_job_idx + i)
            jobs.append(job_in(run_dir, JobStatus.COMPLETED, x, {"status": "completed", "test_metrics": {}}))
        return jobs


def sweeper_on(tmp_path: Path, launcher: RecordingLauncher, n_trials: int, n_jobs: int, **settings):
    from dlrun.sweeps.optuna_sweeper import OptunaSweeper

    sampler = OmegaConf.create({"_target_": "optuna.samplers.RandomSampler", "seed": 3})
    sweeper = OptunaSweeper(
        sampler=sampler,
        direction="maximize",
        storage=f"sqlite:///{tmp_path / 'db' / 'study.db'}",
        study_name="loop",
        n_trials=n_trials,
        n_jobs=n_jobs,
        max_failure_rate=settings.get("max_failure_rate", 1.0),
        params=OmegaConf.create({"x": "interval(0.0, 1.0)"}),
    )
    sweeper.launcher = launcher  # setup() would build it from the config
    sweeper.config = OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path / "sweep")}}})
    return sweeper


def test_the_sweeper_asks_in_batches_hands_each_job_its_trial_and_resumes_its_study(tmp_path):
    launcher = RecordingLauncher(tmp_path / "runs")
    sweeper_on(tmp_path, launcher, n_trials=5, n_jobs=2).sweep(["seed=1"])
    assert [len(batch) for batch in launcher.batches] == [2, 2, 1] and launcher.first_job_numbers == [0, 2, 4]
    jobs = [overrides for batch in launcher.batches for overrides in batch]
    assert [o[1:] for o in jobs] == [["seed=1", f"++hydra.job.env_set.{TRIAL_NUMBER_VARIABLE}={n}"] for n in range(5)]
    study = optuna.load_study(study_name="loop", storage=f"sqlite:///{tmp_path / 'db' / 'study.db'}")
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 5
    assert [t.value for t in study.trials] == [float(o[0].split("=")[1]) for o in jobs]
    assert [t.user_attrs["run_dir"] for t in study.trials] == [str(tmp_path / "runs" / str(n)) for n in range(5)]
    assert (tmp_path / "sweep" / "multirun.yaml").is_file()
    best = OmegaConf.load(tmp_path / "sweep" / "optimization_results.yaml")
    assert (
        best.best_value == max(t.value for t in study.trials)
        and best.best_run_dir == study.best_trial.user_attrs["run_dir"]
    )

    # The same study name resumes the study; its sampler's seed moves past the trials it holds, so that
    # it does not draw the first ones again.
    again = RecordingLauncher(tmp_path / "again")
    sweeper_on(tmp_path, again, n_trials=2, n_jobs=2).sweep([])
    trials = optuna.load_study(study_name="loop", storage=f"sqlite:///{tmp_path / 'db' / 'study.db'}").trials
    assert [t.number for t in trials] == list(range(7)) and again.batches[0][0][-1].endswith("=5")
    assert trials[5].params != trials[0].params and trials[6].params != trials[1].params


def test_an_interrupted_launch_leaves_no_trial_running_and_failures_past_the_rate_stop_the_study(tmp_path):
    from dlrun.sweeps.optuna_sweeper import SweepStopped

    with pytest.raises(KeyboardInterrupt):
        sweeper_on(tmp_path, RecordingLauncher(tmp_path, raises=KeyboardInterrupt()), 4, 2).sweep([])
    study = optuna.load_study(study_name="loop", storage=f"sqlite:///{tmp_path / 'db' / 'study.db'}")
    assert [t.state for t in study.trials] == [TrialState.FAIL] * 2

    class Failing(RecordingLauncher):
        def launch(self, job_overrides, initial_job_idx):
            return [JobReturn(status=JobStatus.COMPLETED, _return_value=None) for _ in job_overrides]

    with pytest.raises(SweepStopped, match="more than hydra.sweeper.max_failure_rate=0.5"):
        sweeper_on(tmp_path, Failing(tmp_path), 6, 2, max_failure_rate=0.5).sweep([])
    assert len(optuna.load_study(study_name="loop", storage=f"sqlite:///{tmp_path / 'db' / 'study.db'}").trials) == 4


# -- the plugin, its samplers and the pre-flight refusals -------------------------------------------------


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")  # QMCSampler's
def test_hydra_finds_the_plugin_and_builds_each_sampler_seeded_past_the_trials_done():
    from hydra.core.plugins import Plugins

    from dlrun.config.compose import ConfigSource
    from dlrun.sweeps.optuna_config import SWEEPER_TARGET

    assert SWEEPER_TARGET in Plugins.instance().class_name_to_class
    assert SWEEPER_TARGET.startswith("hydra_plugins.")
    samplers = {"tpe": optuna.samplers.TPESampler, "random": optuna.samplers.RandomSampler}
    samplers["cmaes"] = optuna.samplers.CmaEsSampler
    for name, kind in samplers.items():
        cfg = ConfigSource().compose(["hparams_search=mlp_optuna", f"hydra/sweeper/sampler={name}"], multirun=True)
        assert cfg.hydra.sweeper.sampler.seed == 0  # the presets seed it with the run's seed
        sampler = build_sampler(cfg.hydra.sweeper.sampler, trials_done=4)
        assert type(sampler) is kind
    random = OmegaConf.create({"_target_": "optuna.samplers.RandomSampler", "seed": 0})

    def first_draw(trials_done: int) -> float:
        study = optuna.create_study(sampler=build_sampler(random, trials_done))
        return study.ask({"x": FloatDistribution(0, 1)}).params["x"]

    assert first_draw(4) == first_draw(4) != first_draw(0)  # seeded, and the seed moved past the trials done
    mine = OmegaConf.create({"_target_": "optuna.samplers.QMCSampler", "seed": 1})  # a sampler of the user's
    assert isinstance(build_sampler(mine, 0), optuna.samplers.QMCSampler)
    with pytest.raises(ConfigError, match="optuna.samplers.Nope cannot be built"):
        build_sampler(OmegaConf.create({"_target_": "optuna.samplers.Nope"}), 0)
    with pytest.raises(ConfigError, match="not an Optuna sampler"):
        build_sampler(OmegaConf.create({"_target_": "builtins.dict"}), 0)


def test_a_stored_study_keeps_its_search_space_and_direction(tmp_path):
    from dlrun.sweeps.optuna_study import stored_study
    from dlrun.sweeps.preflight import check_search_space, check_stored_direction

    storage = f"sqlite:///{tmp_path / 'new' / 'dir' / 'study.db'}"
    assert stored_study(storage, "s") is None and (tmp_path / "new" / "dir").is_dir()
    study = optuna.create_study(study_name="s", storage=storage, direction="maximize")
    study.tell(study.ask({"optimizer.lr": FloatDistribution(1e-4, 1e-1, log=True)}), 0.5)
    stored = stored_study(storage, "s")
    check_search_space(stored, {"optimizer.lr": FloatDistribution(1e-3, 1e-2, log=True)}, "s")  # narrower is fine
    with pytest.raises(ConfigError, match="searched optimizer.lr over FloatDistribution") as error:
        check_search_space(stored, {"optimizer.lr": CategoricalDistribution([-1, 0.01])}, "s")
    assert "hydra.sweeper.study_name=NEW_NAME" in str(error.value)
    with pytest.raises(ConfigError, match="was made to maximize, and this sweep would minimize"):
        check_stored_direction(stored, "minimize", "s")


def test_a_study_in_an_older_optunas_tables_is_refused_with_the_command_that_upgrades_it(tmp_path):
    import sqlite3

    from dlrun.sweeps.optuna_study import stored_study

    database = tmp_path / "study.db"
    optuna.storages.RDBStorage(f"sqlite:///{database}")
    with sqlite3.connect(database) as connection:  # the schema version the Optuna 2.10 of earlier releases left
        connection.execute("UPDATE alembic_version SET version_num = 'v2.6.0.a'")
    with pytest.raises(
        ConfigError, match=f"upgrade it once with `optuna storage upgrade --storage sqlite:///{database}`"
    ):
        stored_study(f"sqlite:///{database}", "mlp_optuna")


def train_in_process(capsys, *overrides: str) -> tuple[int, str]:
    from dlrun.commands.train import train_command

    code = train_command(["-m", "hparams_search=mlp_optuna", "paths.root=runs", "logger=none", *overrides])
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("overrides", "said"),
    [
        (["optimizer.lr=tag(log, interval(0, 1e-1))"], "searches a log scale from 0"),
        (["hydra/sweeper/sampler=nope"], "nope"),
        (["hydra.sweeper.sampler._target_=optuna.samplers.Nope"], "optuna.samplers.Nope cannot be built"),
        (["hydra.sweeper.storage=nosuchdb://here"], "hydra.sweeper.storage 'nosuchdb://here' cannot be opened"),
        (["hydra.sweeper.n_jobs=-1"], "hydra.sweeper.n_jobs is -1"),
    ],
)
def test_a_bad_optuna_setting_is_refused_before_any_job(tmp_path, monkeypatch, capsys, overrides, said):
    monkeypatch.chdir(tmp_path)
    code, err = train_in_process(capsys, *overrides)
    assert code == 2 and said in err, err
    assert "Traceback" not in err and not list(tmp_path.rglob("results.json"))
