"""Keys that moved (dlrun.config.moved): an old spelling is an exit-2 error naming the new key, on
the command line and in a user's own config file; a run recorded with old spellings still opens."""

from __future__ import annotations

import json

import pytest
from helpers import assert_user_error, copy_run, trained, write_table
from omegaconf import OmegaConf

from dlrun.config.moved import MOVED, upgrade_recorded_config, upgrade_recorded_overrides

TABLE = "dlrun.data.table.TableDataModule"
PROCEDURAL = "dlrun.data.seq2seq.procedural.ProceduralSeq2SeqDataModule"


def test_an_old_key_on_the_command_line_names_the_new_one(dlrun, tmp_path):
    done = dlrun("train", "model.pretrained=a.csv")
    assert_user_error(done, "'model.pretrained' is now 'transfer.pretrained'", "write transfer.pretrained=a.csv")
    write_table(tmp_path / "a.csv", seed=0)
    done = dlrun("train", "data=csv", "data.path=a.csv", "data.target=y", "data.task=regression")
    assert_user_error(done, "'data.task' is now 'data.target_kind'", "write data.target_kind=regression")
    assert not (tmp_path / "outputs").exists()  # refused before a run dir was made


@pytest.mark.parametrize(
    "args, old, new",
    [
        (("model.freeze=[layers]",), "model.freeze", "transfer.freeze"),
        (("model.pretrained_skip=[head]",), "model.pretrained_skip", "transfer.skip"),
        (("model.pretrained_lr_scale=0.1",), "model.pretrained_lr_scale", "transfer.lr_scale"),
        (("data=reverse", "model=seq2seq", "data.task=copy"), "data.task", "data.problem"),
    ],
)
def test_every_old_key_names_its_new_one(args, old, new):
    from dlrun.config.compose import ConfigSource
    from dlrun.config.validate import compose_checked
    from dlrun.errors import ConfigError

    with pytest.raises(ConfigError, match=f"'{old}' is now '{new}'.*write {new}="):
        compose_checked(ConfigSource(), list(args))


def test_an_old_key_in_a_users_config_file_names_the_new_one(dlrun, tmp_path):
    (tmp_path / "mine" / "model").mkdir(parents=True)
    (tmp_path / "mine" / "model" / "frozen_mlp.yaml").write_text(
        "_target_: dlrun.models.mlp.MLP\nhidden_sizes: [8]\nfreeze: [layers]\n"
    )
    done = dlrun("show", "--config-dir", "mine", "model=frozen_mlp")
    assert_user_error(done, "'model.freeze' is now 'transfer.freeze'")


def test_the_same_old_key_moves_by_the_node_it_is_in():
    table = OmegaConf.create({"data": {"_target_": TABLE, "task": "regression"}})
    procedural = OmegaConf.create({"data": {"_target_": PROCEDURAL, "task": "sort"}})
    other = OmegaConf.create({"data": {"_target_": "my.Data", "task": "mine"}})
    assert upgrade_recorded_config(table).data == {"_target_": TABLE, "target_kind": "regression"}
    assert upgrade_recorded_config(procedural).data == {"_target_": PROCEDURAL, "problem": "sort"}
    assert upgrade_recorded_config(other) == other  # a user's own data module keeps its `task`
    assert upgrade_recorded_overrides(["data=sort", "data.task=sort", "+data.task=copy"], procedural) == [
        "data=sort",
        "data.problem=sort",
        "+data.problem=copy",
    ]
    assert upgrade_recorded_overrides(["data.task=mine"], other) == ["data.task=mine"]


def test_a_recorded_model_config_gets_a_transfer_node_with_the_defaults_it_trained_with():
    recorded = OmegaConf.create(
        {"model": {"_target_": "dlrun.models.mlp.MLP", "pretrained": "/runs/a", "freeze": ["layers"]}, "seed": 0}
    )
    upgraded = upgrade_recorded_config(recorded)
    assert "pretrained" in recorded.model  # the recorded config is left as it is
    assert upgraded.model == {"_target_": "dlrun.models.mlp.MLP"}
    assert upgraded.transfer == {
        "_target_": "dlrun.training.transfer.Transfer",
        "pretrained": "/runs/a",
        "skip": [],
        "freeze": ["layers"],
        "lr_scale": 1.0,
    }
    overrides = upgrade_recorded_overrides(["model=mlp", "model.pretrained=/runs/a"], recorded)
    assert overrides == ["model=mlp", "transfer.pretrained=/runs/a"]


def test_no_shipped_config_has_an_old_key():
    from dlrun.config.compose import ConfigSource
    from dlrun.config.moved import moved_key

    source = ConfigSource()
    for group in {moved.old.split(".")[0] for moved in MOVED}:
        for option in (o for o in source.options(group) if not o.startswith("_")):
            cfg = source.compose([f"{group}={option}"], multirun=False)
            old = [f"{group}.{key}" for key in cfg[group] if moved_key(cfg, f"{group}.{key}")]
            assert not old, (option, old)


def test_the_procedural_problem_is_recorded_under_its_new_key(tmp_path):
    from dlrun.data.seq2seq.procedural import SEQ2SEQ_VOCAB_FILE, ProceduralSeq2SeqDataModule

    small = dict(min_length=2, max_length=3, train_size=20, val_size=10, test_size=10)
    ProceduralSeq2SeqDataModule(problem="sort", **small).save_preprocessing(tmp_path)
    written = json.loads((tmp_path / SEQ2SEQ_VOCAB_FILE).read_text())
    assert written["problem"] == "sort" and "task" not in written


@pytest.mark.slow
def test_a_run_recorded_with_the_old_spellings_still_evaluates(tmp_path_factory, tmp_path, dlrun):
    run = copy_run(trained(tmp_path_factory, "csv"), tmp_path / "old")
    config_file = run / ".hydra" / "config.yaml"
    recorded = OmegaConf.load(config_file)
    transfer = recorded.pop("transfer")
    recorded.model.update(
        pretrained=transfer.pretrained,
        pretrained_skip=transfer.skip,
        freeze=transfer.freeze,
        pretrained_lr_scale=transfer.lr_scale,
    )
    recorded.data.task = recorded.data.pop("target_kind")
    OmegaConf.save(recorded, config_file)
    overrides = run / ".hydra" / "overrides.yaml"
    OmegaConf.save(OmegaConf.create([*OmegaConf.load(overrides), "data.task=auto"]), overrides)

    done = dlrun("eval", run, "--trust-config")  # the edited files no longer carry dlrun's signature
    assert done.returncode == 0, done.stdout + done.stderr
    evaluation = json.loads(next(run.glob("eval-*.json")).read_text())
    original = json.loads((run / "results.json").read_text())
    assert evaluation["metrics"]["test/acc"] == pytest.approx(original["test_metrics"]["test/acc"], abs=1e-6)
