"""Every configured value is checked before anything starts: against the signature and annotations
of the `_target_` that receives it, and the rules of dlrun.config.value_rules for what types cannot say.

Most cases go through `check()` in this process (a subprocess costs seconds); a few go through the
CLI as users meet them, and every packaged option and preset must still pass.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
from helpers import assert_user_error

from dlrun.choices import choices_of
from dlrun.config.compose import ConfigSource
from dlrun.config.hints import conforms, describe
from dlrun.config.validate import check
from dlrun.errors import ConfigError

SOURCE = ConfigSource()
SEQ2SEQ = ("model=seq2seq", "data=reverse")

# (overrides, what the message must say: the key, then the value and what is allowed)
BAD = [
    # trainer: Lightning's own annotations, and the keys dlrun takes out for the task
    (("trainer.max_epochs=1.5",), ("trainer.max_epochs", "1.5", "a whole number or null")),
    (("trainer.max_epochs=0",), ("trainer.max_epochs", "got 0", ">= 1")),
    (("+trainer.max_steps=0",), ("trainer.max_steps", "got 0", ">= 1, or -1 (no limit)")),
    (("trainer.gradient_clip_val=-1",), ("trainer.gradient_clip_val", "-1", ">= 0")),
    (
        ("trainer.gradient_clip_algorithm=nrom",),
        ("trainer.gradient_clip_algorithm", "'nrom'", "norm, value", "Did you mean norm?"),
    ),
    (("trainer.accumulate_grad_batches=0",), ("trainer.accumulate_grad_batches", "got 0", ">= 1")),
    (("trainer.limit_train_batches=1.5",), ("trainer.limit_train_batches", "1.5", "[0, 1]", "whole number of batches")),
    (("trainer.precision=33",), ("trainer.precision", "33", "32-true", "bf16-mixed")),
    (("trainer.accelerator=gpuu",), ("trainer.accelerator", "'gpuu'", "cpu", "Did you mean gpu?")),
    (("trainer.deterministic=maybe",), ("trainer.deterministic", "'maybe'", "true or false")),
    (("trainer.threads=0",), ("trainer.threads", "got 0", ">= 1", "or auto")),
    (("trainer.threads=many",), ("trainer.threads", "'many'", "auto or a whole number")),
    (
        ("+trainer.max_epoch=5",),
        ("trainer.max_epoch", "dlrun.training.trainer.Trainer", "Did you mean trainer.max_epochs?"),
    ),
    # optimizer: torch's annotations (lr: float | Tensor) and the ranges
    (("optimizer.lr=0",), ("optimizer.lr", "got 0", "a positive number")),
    (("optimizer.lr=-0.1",), ("optimizer.lr", "-0.1", "a positive number")),
    (("optimizer=sgd", "optimizer.momentum=1.5"), ("optimizer.momentum", "1.5", "[0, 1)")),
    (("optimizer.betas=[0.9,1.2]",), ("optimizer.betas", "[0.9, 1.2]", "[0, 1)")),
    (("optimizer.betas=[0.9]",), ("optimizer.betas", "[0.9]", "a list of 2 numbers")),
    (("optimizer.weight_decay=-0.01",), ("optimizer.weight_decay", "-0.01", ">= 0")),
    (("+optimizer.lrr=0.1",), ("optimizer.lrr", "torch.optim.Adam", "Did you mean optimizer.lr?")),
    # scheduler
    (("scheduler=step", "scheduler.gamma=-0.5"), ("scheduler.gamma", "-0.5", "a positive number")),
    (("scheduler=step", "scheduler.step_size=2.5"), ("scheduler.step_size", "2.5", "a whole number")),
    (("scheduler=plateau", "scheduler.factor=1.5"), ("scheduler.factor", "1.5", "(0, 1)")),
    (("scheduler=cosine", "scheduler.warmup_steps=-5"), ("scheduler.warmup_steps", "-5", ">= 0")),
    (
        ("scheduler=onecycle", "scheduler.anneal_strategy=cosine"),
        ("scheduler.anneal_strategy", "cosine", "'cos' or 'linear'"),
    ),
    # callbacks
    (("callbacks.early_stopping.patience=-2",), ("callbacks.early_stopping.patience", "-2", ">= 0")),
    (("callbacks.early_stopping.patience=2.5",), ("callbacks.early_stopping.patience", "2.5", "a whole number")),
    (
        ("callbacks.lr_monitor.logging_interval=batch",),
        ("callbacks.lr_monitor.logging_interval", "'batch'", "epoch, null, step"),
    ),
    (("callbacks.attention_maps.num_examples=0",), ("callbacks.attention_maps.num_examples", "got 0", ">= 1")),
    (
        ("+callbacks.early_stopping.patiance=3",),
        ("callbacks.early_stopping.patiance", "Did you mean callbacks.early_stopping.patience?"),
    ),
    # top level
    (("seed=-1",), ("seed", "-1", "[0, 4294967295]")),
    (("seed=1.5",), ("seed", "1.5", "a whole number or null")),
    # model
    (("model.hidden_sizes=[a,b]",), ("model.hidden_sizes", "['a', 'b']", "a list of whole numbers")),
    (("model.hidden_sizes=64",), ("model.hidden_sizes", "got 64", "a list of whole numbers")),
    (("model.hidden_sizes=[64,0]",), ("model.hidden_sizes", "[64, 0]", ">= 1")),
    (("model.activation=nonsense",), ("model.activation", "'nonsense'", "leaky_relu", "gelu")),
    (("model.activation={name:leaky_relu,slope:0.2}",), ("model.activation", "slope", "Did you mean negative_slope?")),
    (("model.dropout=1.5",), ("model.dropout", "1.5", "[0, 1)")),
    (("model.dropout_kind=alfa",), ("model.dropout_kind", "'alfa'", "alpha, standard", "Did you mean alpha?")),
    (("model.norm=batchnorm",), ("model.norm", "'batchnorm'", "batch, layer")),
    (("+model.hiden_sizes=[4]",), ("model.hiden_sizes", "dlrun.models.mlp.MLP", "Did you mean model.hidden_sizes?")),
    (("transfer.pretrained=nowhere/run",), ("transfer.pretrained", "'nowhere/run'", "does not exist")),
    (("transfer.lr_scale=-1",), ("transfer.lr_scale", "-1", "a positive number")),
    (("transfer.freeze=3",), ("transfer.freeze", "got 3", "a list")),
    (("model=cnn", "model.pool=maxx"), ("model.pool", "'maxx'", "avg, max, min", "Did you mean max?")),
    (("model=cnn", "model.padding=1.5"), ("model.padding", "1.5", "a whole number or a string")),
    (("model=cnn", "model.channels=[32,a]"), ("model.channels", "[32, 'a']", "a list of whole numbers")),
    (("model=lstm", "model.cell=lstmm"), ("model.cell", "'lstmm'", "gru, lstm, rnn")),
    (("model=lstm", "model.bidirectional=2"), ("model.bidirectional", "true or false")),
    (("model=lstm", "model.read_out=first"), ("model.read_out", "'first'", "attention, frames, last, max, mean")),
    (("model=rnn", "model.nonlinearity=sigmoid"), ("model.nonlinearity", "'sigmoid'", "relu, tanh")),
    ((*SEQ2SEQ, "model.attention=luong"), ("model.attention", "'luong'", "bahdanau", "luong_general")),
    ((*SEQ2SEQ, "model.cell=rnn"), ("model.cell", "'rnn'", "gru, lstm.")),  # the seq2seq module's own CELLS
    (
        (*SEQ2SEQ, "model.teacher_forcing_schedule=linearr"),
        ("model.teacher_forcing_schedule", "linearr", "inverse_sigmoid"),
    ),
    ((*SEQ2SEQ, "model.beam_size=0"), ("model.beam_size", "got 0", ">= 1")),
    (("model=resnet", "model.blocks_per_stage=[2,0]"), ("model.blocks_per_stage", "[2, 0]", ">= 1")),
    # data
    (("data.batch_size=0",), ("data.batch_size", "got 0", ">= 1")),
    (("data.batch_size=32.5",), ("data.batch_size", "32.5", "a whole number or null")),
    (("data.val_fraction=1.2",), ("data.val_fraction", "1.2", "(0, 1)")),
    (("data.name=digitz",), ("data.name", "'digitz'", "iris", "Did you mean digits?")),
    (("data.folds=1",), ("data.folds", "got 1", ">= 2")),
    (("+data.nme=iris",), ("data.nme", "dlrun.data.sklearn_tables.SklearnDataModule", "Did you mean data.name?")),
    (("data=csv", "data.path=missing.csv", "data.target=y"), ("data.path", "'missing.csv'", "does not exist")),
    (("data=image_folder", "data.channels=2"), ("data.channels", "'2'", "1, 3")),
    (("data=image_folder", "data.image_size=32"), ("data.image_size", "got 32", "a list of whole numbers")),
    (("data=fashion_mnist_small", "data.augment.hflip=2"), ("data.augment.hflip", "2", "between 0 and 1")),
    (("data=fashion_mnist_small", "+data.augment.flip=0.5"), ("data.augment", "'flip'", "Did you mean hflip?")),
    (("data=fashion_mnist_small", "data.scaling=std"), ("data.scaling", "'std'", "minmax", "standard")),
    (("data=rotten_tomatoes", "data.tokenizer=words"), ("data.tokenizer", "'words'", "char, word")),
    (("data=co2", "data.horizon=1.5"), ("data.horizon", "1.5", "a whole number")),
    ((*SEQ2SEQ, "data.problem=revers"), ("data.problem", "'revers'", "Did you mean reverse?")),
    (("data=adding", "data.sequence_length=1"), ("data.sequence_length", "got 1", ">= 2")),
    (
        ("data=bible_en_es", "model=seq2seq", "data.source_tokenizer=chars"),
        ("data.source_tokenizer", "'chars'", "char, word"),
    ),
    (("logger=csv", "logger.csv.name=5"), ("logger.csv.name", "got 5", "a string or null")),
    # loss, regularizer, init
    (("loss=cross_entropy", "loss.label_smoothing=1.5"), ("loss.label_smoothing", "1.5", "[0, 1)")),
    (("loss=huber", "loss.delta=0"), ("loss.delta", "got 0", "a positive number")),
    (("loss=mse", "+loss.reductin=sum"), ("loss.reductin", "Did you mean loss.reduction?")),
    (("regularizer=l2", "regularizer.strength=-1"), ("regularizer.strength", "-1", ">= 0")),
    (
        ("regularizer=l1", "regularizer.include_biases_and_norms=yes"),
        ("regularizer.include_biases_and_norms", "'yes'", "true or false"),
    ),
    (
        ("init=he_normal", "init.hidden_scheme=orthogonl"),
        ("init.hidden_scheme", "'orthogonl'", "Did you mean orthogonal?"),
    ),
    (("init=he_normal", "init.nonlinearity=mish"), ("init.nonlinearity", "'mish'", "model", "leaky_relu")),
    (("init=normal", "init.std=0"), ("init.std", "got 0", "a positive number")),
    (("init=normal", "+init.sceme=normal"), ("init.sceme", "Did you mean init.scheme?")),
    (("optimizer.lr=0",), ("optimizer.lr", "positive number")),
    (("model.activation=nonsense",), ("model.activation", "'nonsense'", "leaky_relu")),
    (("model=cnn", "model.pool=mean"), ("Unknown model.pool 'mean'. Valid choices: avg, max, min, null.",)),
]


@pytest.mark.parametrize(("overrides", "needles"), BAD, ids=[" ".join(o) for o, _ in BAD])
def test_a_bad_value_is_a_one_paragraph_config_error(overrides, needles):
    with pytest.raises(ConfigError) as info:
        check(SOURCE, list(overrides))
    message = str(info.value)
    assert "\n" not in message
    for needle in needles:
        assert needle in message, message


def test_the_table_covers_every_kind_of_config():
    covered = {o.split("=")[0].lstrip("+").split(".")[0] for overrides, _ in BAD for o in overrides}
    assert {
        "data",
        "model",
        "optimizer",
        "scheduler",
        "trainer",
        "callbacks",
        "loss",
        "regularizer",
        "init",
        "seed",
    } <= covered
    assert len(BAD) >= 30


def test_a_key_the_target_takes_but_the_config_lacks_says_to_add_it():
    with pytest.raises(ConfigError, match=r"dlrun.training.trainer.Trainer takes it .*'\+trainer.max_steps=0'"):
        check(SOURCE, ["trainer.max_steps=0"])


def test_a_config_dir_that_is_not_there_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="--config-dir '.*nowhere' does not exist"):
        check(ConfigSource(str(tmp_path / "nowhere")), [])


def test_an_existing_path_passes(tmp_path):
    table = tmp_path / "table.csv"
    table.write_text("x,y\n1,2\n")
    check(SOURCE, ["data=csv", f"data.path={table}", "data.target=y"])


def test_a_number_where_text_is_wanted_says_how_to_quote_it(tmp_path):
    table = tmp_path / "table.csv"
    table.write_text("0,1\n1,2\n")
    with pytest.raises(
        ConfigError, match="data.target must be a string or null, got 1 .* quote it: \"data.target='1'\""
    ):
        check(SOURCE, ["data=csv", f"data.path={table}", "data.target=1"])
    assert check(SOURCE, ["data=csv", f"data.path={table}", "data.target='1'"]).cfg.data.target == "1"


# -- sweeps -----------------------------------------------------------------------------------


def test_a_sweep_leaves_its_swept_values_to_its_jobs_but_checks_the_rest():
    # Each job of a sweep records its own failure (see test_sweeps); the rest of the config is shared.
    check(SOURCE, ["optimizer.lr=-1,0.01"], multirun=True)
    with pytest.raises(ConfigError, match="optimizer.lr must be a positive number"):
        check(SOURCE, ["seed=0,1", "optimizer.lr=0"], multirun=True)


# -- a user's own class: no rule written for it -----------------------------------------------


def user_config(tmp_path: Path, module: str, source: str, node: str) -> ConfigSource:
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(source))
    conf = tmp_path / "my_conf" / "model"
    conf.mkdir(parents=True)
    (conf / "mine.yaml").write_text(textwrap.dedent(node))
    return ConfigSource(str(tmp_path / "my_conf"))


USER_NET = """
    from collections.abc import Sequence

    class TinyNet:
        def __init__(self, input_shape: Sequence[int], num_outputs: int, sizes: Sequence[int] = (8,),
                     depth: int = 1, residual: bool = False, activation: str = "mish") -> None:
            self.sizes = sizes
"""


@pytest.fixture
def user_net(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    yield user_config(
        tmp_path, "user_net_values", USER_NET, "_target_: user_net_values.TinyNet\nsizes: [8]\ndepth: 1\n"
    )
    sys.modules.pop("user_net_values", None)


@pytest.mark.parametrize(
    ("override", "needles"),
    [
        ("model.depth=1.5", ("model.depth must be a whole number", "1.5", "TinyNet takes depth: int")),
        ("model.sizes=[a]", ("model.sizes must be a list of whole numbers", "['a']")),
        ("+model.residual=3", ("model.residual must be true or false", "got 3")),
        ("+model.dept=2", ("model.dept is not an argument of user_net_values.TinyNet", "Did you mean model.depth?")),
    ],
)
def test_a_users_own_annotated_class_is_checked_without_a_rule(user_net, override, needles):
    with pytest.raises(ConfigError) as info:
        check(user_net, ["model=mine", override])
    for needle in needles:
        assert needle in str(info.value), str(info.value)


def test_a_users_class_keeps_its_own_choices(user_net):
    # Its module does not use dlrun's make_activation, so dlrun's activation names do not bind it.
    check(user_net, ["model=mine", "+model.activation=mish", "model.depth=3"])


def test_a_users_class_that_uses_dlruns_activations_gets_them_checked(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    source = user_config(
        tmp_path,
        "user_act_values",
        """
        from dlrun.models.layers import make_activation

        class Net:
            def __init__(self, input_shape, num_outputs, activation="relu"):
                self.act = make_activation(activation)
    """,
        "_target_: user_act_values.Net\nactivation: relu\n",
    )
    try:
        with pytest.raises(ConfigError, match="unknown activation 'mish'"):
            check(source, ["model=mine", "model.activation=mish"])
    finally:
        sys.modules.pop("user_act_values", None)


def test_a_users_literal_is_a_choice_with_a_suggestion(tmp_path, monkeypatch):
    # No rule names `mode`: the annotation alone makes it a choice, checked as dlrun's own are.
    monkeypatch.syspath_prepend(str(tmp_path))
    source = user_config(
        tmp_path,
        "user_choice_values",
        """
        from typing import Literal

        class Net:
            def __init__(self, input_shape, num_outputs, mode: Literal["fast", "exact"] | None = "fast"):
                self.mode = mode
    """,
        "_target_: user_choice_values.Net\nmode: fast\n",
    )
    try:
        check(source, ["model=mine", "model.mode=exact"])
        with pytest.raises(ConfigError) as info:
            check(source, ["model=mine", "model.mode=exakt"])
        assert str(info.value) == "Unknown model.mode 'exakt'. Valid choices: exact, fast, null. Did you mean exact?"
        with pytest.raises(ConfigError, match=r"model.mode must be one of fast, exact or null, got \[1\]"):
            check(source, ["model=mine", "model.mode=[1]"])
    finally:
        sys.modules.pop("user_choice_values", None)


def test_a_target_that_cannot_be_imported_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"model._target_ 'no_such_module.Net' cannot be imported"):
        check(SOURCE, ["model._target_=no_such_module.Net"])


# -- good values still pass -------------------------------------------------------------------

OPTIONS = [
    (group, option)
    for group in SOURCE.groups()
    if not group.startswith("hydra")
    for option in SOURCE.options(group)
    if not option.startswith("_")
]


@pytest.mark.parametrize(("group", "option"), OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_every_packaged_option_passes(group, option):
    check(SOURCE, [f"{group}={option}"])


def test_the_defaults_and_debug_presets_pass():
    for overrides in (
        [],
        ["debug=fast"],
        ["debug=overfit"],
        ["callbacks=none"],
        ["trainer=ddp"],
        [*SEQ2SEQ, "callbacks=none", "init=orthogonal"],
        ["optimizer=gd"],
        ["seed=null"],
    ):
        check(SOURCE, overrides)
    check(SOURCE, ["model=mlp,cnn", "seed=0,1"], multirun=True)
    check(SOURCE, ["hparams_search=mlp_optuna"], multirun=True)


@pytest.mark.parametrize("preset", [o for o in SOURCE.options("experiment") if not o.startswith("_")])
def test_every_experiment_preset_shows(preset, capsys):
    from dlrun.commands.show import show_command

    assert show_command([f"experiment={preset}"]) == 0, capsys.readouterr().err
    assert f"task_name: {preset}" in capsys.readouterr().out


def test_types_in_words_and_bool_is_no_number():
    from collections.abc import Sequence
    from typing import Literal, Optional

    import torch

    assert conforms(True, int) is False and conforms(1, bool) is False and conforms(1, float) is True
    assert (
        conforms(2.0, int) is False
        and conforms([1, 2], Sequence[int]) is True
        and conforms("ab", Sequence[str]) is False
    )
    assert conforms("abc", float | torch.Tensor) is None  # a class of its own: the rules say more
    assert conforms(5, float | torch.Tensor) is True and conforms([1], float | torch.Tensor) is None
    assert conforms(16, Literal[16, 32]) is True and conforms("16", Literal[16, 32]) is False
    assert choices_of(Literal["a", "b"] | None) == ("a", "b", None) and choices_of(Literal["a"] | int) is None
    assert choices_of(str) is None and choices_of(type(None)) is None
    assert describe(Optional[int]) == "a whole number or null"  # noqa: UP045 (the old spelling is what is tested)
    assert describe(Sequence[int]) == "a list of whole numbers"
    assert describe(float | torch.Tensor) == "a number"


# -- through the command line, as users call it -----------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "needles"),
    [
        # Two verbs that compose; the rules themselves are tested in-process above (BAD), and
        # test_cli.py meets a --config-dir that is not there.
        (("train", "trainer.max_epochs=1.5"), ("trainer.max_epochs", "1.5", "whole number")),
        (
            ("show", "model=lstm", "model.cell=lstn"),
            ("Unknown model.cell 'lstn'. Valid choices: gru, lstm, rnn.", "Did you mean lstm?"),
        ),
    ],
)
def test_the_cli_refuses_a_bad_value_before_anything_starts(dlrun, tmp_path, args, needles):
    done = dlrun(*args)
    assert_user_error(done, *needles)
    assert not (tmp_path / "outputs").exists()


@pytest.mark.slow
def test_the_cli_checks_a_users_own_class_too(dlrun, tmp_path):
    (tmp_path / "cli_net.py").write_text(textwrap.dedent(USER_NET))
    conf = tmp_path / "my_conf" / "model"
    conf.mkdir(parents=True)
    (conf / "mine.yaml").write_text("_target_: cli_net.TinyNet\nsizes: [8]\ndepth: 1\n")
    done = dlrun("train", "--config-dir", "my_conf", "model=mine", "model.depth=1.5")
    assert_user_error(done, "model.depth must be a whole number", "cli_net.TinyNet")
    assert not (tmp_path / "outputs").exists()
