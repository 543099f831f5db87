"""The task comes from config (task=auto maps the data's kind explicitly), and the data's spec reaches the model."""

from __future__ import annotations

import pytest
import torch
from conftest import build_from_overrides
from omegaconf import OmegaConf

from dlrun.building import model_arguments
from dlrun.data.spec import DataSpec
from dlrun.errors import ConfigError
from dlrun.tasks import ClassificationTask, ForecastingTask, RegressionTask, task_class_for


@pytest.mark.parametrize(
    ("overrides", "task_class"),
    [
        (("data=digits",), ClassificationTask),
        (("data=diabetes",), RegressionTask),
        (("data=sunspots", "model=lstm"), ForecastingTask),
        (("data=digits", "task=classification"), ClassificationTask),
    ],
)
def test_task_auto_follows_the_data_and_a_named_task_is_built(tmp_path, overrides, task_class):
    assert type(build_from_overrides(tmp_path, *overrides).task) is task_class


def test_a_task_for_other_data_is_refused_and_an_unknown_kind_is_never_classification(tmp_path):
    with pytest.raises(ConfigError, match="RegressionTask trains on regression data, but this data is multiclass"):
        build_from_overrides(tmp_path, "data=digits", "task=regression")
    with pytest.raises(ConfigError, match="no task is known for that kind"):
        task_class_for("ranking")


class WantsTokens(torch.nn.Module):
    """A user's model that asks for the vocabulary by naming it."""

    def __init__(self, input_shape, num_outputs, vocab_size, pad_id, hidden=3):
        super().__init__()


def test_the_model_gets_the_spec_fields_its_constructor_names():
    spec = DataSpec("binary", (60,), num_classes=2, vocab_size=500, pad_id=0, max_length=60)
    arguments = model_arguments(OmegaConf.create({"_target_": f"{__name__}.WantsTokens"}), spec)
    assert arguments == {"input_shape": (60,), "num_outputs": 1, "vocab_size": 500, "pad_id": 0}
    chosen = model_arguments(OmegaConf.create({"_target_": f"{__name__}.WantsTokens", "pad_id": 3}), spec)
    assert "pad_id" not in chosen  # a value set in the config wins over the data's


def test_recurrent_options_reach_the_model_through_the_config(tmp_path):
    run = build_from_overrides(
        tmp_path,
        "model=bigru",
        "model.num_layers=2",
        "model.hidden_size=12",
        "model.dropout=0.25",
        "model.read_out=attention",
        "model.head_sizes=[7]",
        "model.head_dropout=0.1",
    )
    model = run.task.model
    assert model.rnn.mode == "GRU" and model.rnn.bidirectional and model.rnn.num_layers == 2
    assert model.rnn.hidden_size == 12 and model.rnn.dropout == 0.25 and model.read_out == "attention"
    assert [m.out_features for m in model.head if isinstance(m, torch.nn.Linear)] == [7, 10]
    assert any(isinstance(m, torch.nn.Dropout) and m.p == 0.1 for m in model.head)
    rnn = build_from_overrides(tmp_path / "b", "model=rnn", "model.nonlinearity=relu").task.model.rnn
    assert rnn.mode == "RNN_RELU"
    text = build_from_overrides(tmp_path / "c", "data=rotten_tomatoes", "model=lstm", "model.embedding_size=24")
    assert text.task.model.embedding.embedding_dim == 24 and text.task.model.embedding.padding_idx == 0
    assert text.task.model.embedding.num_embeddings == text.datamodule.spec.vocab_size
