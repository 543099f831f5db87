"""Weight penalties: values against hand sums, which parameters they cover, and their effect on a fit."""

from __future__ import annotations

import pickle

import pytest
import torch
from conftest import build_from_overrides
from torch import nn

from dlrun.errors import ConfigError
from dlrun.training.regularizers import L1, L2, ElasticNet

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore:.*treespec.*")


def small_model() -> nn.Sequential:
    """Linear(2, 3) -> BatchNorm1d(3) -> ReLU -> Linear(3, 1), with values easy to sum by hand."""
    model = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3), nn.ReLU(), nn.Linear(3, 1))
    values = {
        "0.weight": [[1.0, -2.0], [3.0, 0.0], [-1.0, 1.0]],  # sum |w| = 8, sum w^2 = 16
        "0.bias": [0.5, -0.5, 1.0],  # 2, 1.5
        "1.weight": [2.0, 2.0, 2.0],  # 6, 12
        "1.bias": [-1.0, 0.0, 1.0],  # 2, 2
        "3.weight": [[1.0, 1.0, -1.0]],  # 3, 3
        "3.bias": [4.0],  # 4, 16
    }
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.tensor(values[name]))
    return model


WEIGHTS_L1, WEIGHTS_L2 = 8 + 3, 16 + 3
ALL_L1, ALL_L2 = WEIGHTS_L1 + 2 + 6 + 2 + 4, WEIGHTS_L2 + 1.5 + 12 + 2 + 16


@pytest.mark.parametrize(
    "penalty, expected",
    [
        (L1(strength=0.1), 0.1 * WEIGHTS_L1),
        (L2(strength=0.01), 0.01 * WEIGHTS_L2),
        (ElasticNet(l1_strength=0.1, l2_strength=0.01), 0.1 * WEIGHTS_L1 + 0.01 * WEIGHTS_L2),
        (L1(strength=0.1, include_biases_and_norms=True), 0.1 * ALL_L1),
        (L2(strength=0.01, include_biases_and_norms=True), 0.01 * ALL_L2),
        (ElasticNet(0.1, 0.01, include_biases_and_norms=True), 0.1 * ALL_L1 + 0.01 * ALL_L2),
    ],
)
def test_penalties_equal_hand_sums(penalty, expected):
    value = penalty(small_model())
    assert value.dim() == 0
    assert float(value) == pytest.approx(expected, rel=1e-6)


def test_gradients_reach_only_the_weights_by_default():
    model = small_model()
    L1(strength=0.1)(model).backward()
    assert torch.equal(model[0].weight.grad, 0.1 * model[0].weight.detach().sign())
    assert torch.equal(model[3].weight.grad, 0.1 * model[3].weight.detach().sign())
    for p in (model[0].bias, model[1].weight, model[1].bias, model[3].bias):
        assert p.grad is None


def test_l2_has_no_half_so_its_gradient_is_sgd_weight_decay_of_twice_the_strength():
    model = small_model()
    L2(strength=0.05)(model).backward()
    for layer in (model[0], model[3]):
        assert torch.allclose(layer.weight.grad, 2 * 0.05 * layer.weight.detach())


def test_which_layers_count():
    conv, gn, ln = nn.Conv2d(1, 2, kernel_size=1), nn.GroupNorm(1, 2), nn.LayerNorm(4)
    lstm, embedding, prelu = nn.LSTM(4, 3), nn.Embedding(5, 4), nn.PReLU()
    model = nn.ModuleList([conv, gn, ln, lstm, embedding, prelu])
    by_default = {id(p) for p in L1().penalized(model)}
    assert by_default == {id(conv.weight), id(lstm.weight_ih_l0), id(lstm.weight_hh_l0)}
    with_flag = {id(p) for p in L1(include_biases_and_norms=True).penalized(model)}
    assert with_flag == by_default | {
        id(p) for p in (conv.bias, gn.weight, gn.bias, ln.weight, ln.bias, lstm.bias_ih_l0, lstm.bias_hh_l0)
    }
    # embeddings and learnable activations are never weight-penalized
    assert id(embedding.weight) not in with_flag and id(prelu.weight) not in with_flag


def test_a_tied_weight_is_penalized_once():
    first, second = nn.Linear(2, 2, bias=False), nn.Linear(2, 2, bias=False)
    second.weight = first.weight
    with torch.no_grad():
        first.weight.copy_(torch.tensor([[1.0, -1.0], [2.0, 0.0]]))
    assert float(L1(strength=1.0)(nn.Sequential(first, second))) == pytest.approx(4.0)


def test_each_model_gets_its_own_parameters():
    penalty = L1(strength=1.0)
    assert float(penalty(small_model())) == pytest.approx(WEIGHTS_L1)
    other = nn.Linear(1, 1)
    with torch.no_grad():
        other.weight.fill_(-7.0)
    assert float(penalty(other)) == pytest.approx(7.0)


def test_a_used_penalty_pickles_and_still_works():
    penalty = ElasticNet(0.1, 0.01)
    penalty(small_model())
    copy = pickle.loads(pickle.dumps(penalty))
    assert float(copy(small_model())) == pytest.approx(0.1 * WEIGHTS_L1 + 0.01 * WEIGHTS_L2)


def test_a_model_with_nothing_to_penalize_is_an_error():
    with pytest.raises(ValueError, match="L2 found nothing to penalize in PReLU"):
        L2()(nn.PReLU())


@pytest.mark.parametrize(
    "make, named",
    [
        (lambda: L1(strength=-1.0), "strength"),
        (lambda: L2(strength="a lot"), "strength"),
        (lambda: ElasticNet(l1_strength=1e-3, l2_strength=-1e-3), "l2_strength"),
        (lambda: ElasticNet(l1_strength=-1e-3), "l1_strength"),
    ],
)
def test_negative_strengths_are_value_errors(make, named):
    with pytest.raises(ValueError, match=f"the regularizer's {named} must be a number, at least 0"):
        make()


# -- through the config ----------------------------------------------------------------------


def linear_weights(model: nn.Module) -> list[torch.Tensor]:
    return [m.weight.detach() for m in model.modules() if isinstance(m, nn.Linear)]


@pytest.mark.parametrize(
    "option, settings, kind, by_hand",
    [
        ("l1", ["regularizer.strength=0.02"], L1, lambda ws: 0.02 * sum(float(w.abs().sum()) for w in ws)),
        ("l2", ["regularizer.strength=0.03"], L2, lambda ws: 0.03 * sum(float((w**2).sum()) for w in ws)),
        (
            "elastic_net",
            ["regularizer.l1_strength=0.02", "regularizer.l2_strength=0.03"],
            ElasticNet,
            lambda ws: sum(0.02 * float(w.abs().sum()) + 0.03 * float((w**2).sum()) for w in ws),
        ),
    ],
)
def test_the_config_builds_the_penalty_the_task_uses(tmp_path, option, settings, kind, by_hand):
    run = build_from_overrides(tmp_path, "model.norm=batch", f"regularizer={option}", *settings)
    assert type(run.task.regularizer) is kind
    model = run.task.model
    assert float(run.task.regularizer(model)) == pytest.approx(by_hand(linear_weights(model)), rel=1e-5)


def test_none_means_no_penalty(tmp_path):
    assert build_from_overrides(tmp_path, "regularizer=none").task.regularizer is None


def test_a_negative_strength_in_the_config_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="strength must be a number, at least 0"):
        build_from_overrides(tmp_path, "regularizer=l1", "regularizer.strength=-0.1")


# -- effect on a fit -------------------------------------------------------------------------

FIT = [
    "data=digits",
    "model.hidden_sizes=[32]",
    "optimizer.lr=0.01",
    "trainer.max_epochs=2",
    "trainer.limit_train_batches=15",
    "callbacks=none",
]


def fitted_weights(root, *overrides: str) -> torch.Tensor:
    run = build_from_overrides(root, *FIT, *overrides)
    run.trainer.fit(run.task, datamodule=run.datamodule)
    return torch.cat([w.flatten() for w in linear_weights(run.task.model)]).abs()


@pytest.fixture(scope="module")
def unpenalized(tmp_path_factory) -> torch.Tensor:
    return fitted_weights(tmp_path_factory.mktemp("none"), "regularizer=none")


def test_strong_l1_drives_many_weights_to_about_zero(tmp_path, unpenalized):
    penalized = fitted_weights(tmp_path, "regularizer=l1", "regularizer.strength=0.01")
    assert float(penalized.mean()) < 0.5 * float(unpenalized.mean())
    near_zero, before = float((penalized < 1e-2).float().mean()), float((unpenalized < 1e-2).float().mean())
    assert near_zero > 0.3 and near_zero > 5 * before


@pytest.mark.parametrize(
    "option, settings",
    [
        ("l2", ["regularizer.strength=0.05"]),
        ("elastic_net", ["regularizer.l1_strength=0.005", "regularizer.l2_strength=0.005"]),
    ],
)
def test_l2_and_elastic_net_shrink_the_weights(tmp_path, unpenalized, option, settings):
    penalized = fitted_weights(tmp_path, f"regularizer={option}", *settings)
    assert float(penalized.mean()) < 0.7 * float(unpenalized.mean())


def test_recurrent_weights_are_penalized_and_embeddings_only_when_asked():
    from dlrun.models import RecurrentNet

    model = RecurrentNet((20,), 2, cell="lstm", hidden_size=8, num_layers=2, bidirectional=True, vocab_size=30)
    chosen = {name for name, p in model.named_parameters() if any(p is q for q in L2(1.0).penalized(model))}
    recurrent_weights = {name for name, _ in model.rnn.named_parameters() if name.startswith("weight")}
    assert chosen == {f"rnn.{name}" for name in recurrent_weights} | {"head.0.weight"}
    with_embeddings = L2(1.0, include_embeddings=True)
    assert any(p is model.embedding.weight for p in with_embeddings.penalized(model))
    expected = sum(p.square().sum() for name, p in model.named_parameters() if name in chosen)
    assert torch.allclose(L2(0.5)(model), 0.5 * expected)
