"""Each loss option against its formula worked out by hand, its checks, and short real runs."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import build_from_overrides

from dlrun.errors import ConfigError
from dlrun.training.losses import (
    BinaryCrossEntropy,
    CrossEntropy,
    Hinge,
    Huber,
    MeanAbsoluteError,
    MeanSquaredError,
    PseudoHuber,
    check_supports,
)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore:.*treespec.*")


def t(*values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32)


# -- regression ------------------------------------------------------------------------------


def test_mse_and_mae_by_hand():
    predictions, targets = t(0.5, -1.0, 2.0), t(0.0, 1.0, 2.0)  # residuals 0.5, -2, 0
    assert float(MeanSquaredError()(predictions, targets)) == pytest.approx((0.25 + 4 + 0) / 3)
    assert float(MeanAbsoluteError()(predictions, targets)) == pytest.approx((0.5 + 2 + 0) / 3)


@pytest.mark.parametrize(
    "delta, residuals, expected",
    [
        # |r| <= delta: r^2 / 2; beyond: delta * (|r| - delta / 2)
        (1.0, (0.5, -3.0), (0.5 * 0.5**2 + 1.0 * (3.0 - 0.5)) / 2),
        (2.0, (1.0, 5.0), (0.5 * 1.0**2 + 2.0 * (5.0 - 1.0)) / 2),
        (0.5, (0.5, -0.25), (0.5 * 0.5**2 + 0.5 * 0.25**2) / 2),  # at delta both branches agree
    ],
)
def test_huber_below_and_above_delta(delta, residuals, expected):
    targets = t(1.0, -1.0)
    predictions = targets + t(*residuals)
    assert float(Huber(delta=delta)(predictions, targets)) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("delta", [0.5, 1.0, 3.0])
def test_pseudo_huber_formula(delta):
    residuals = [0.1, -0.7, 1.5, -4.0, 20.0]
    by_hand = sum(delta**2 * (math.sqrt(1 + (r / delta) ** 2) - 1) for r in residuals) / len(residuals)
    loss = PseudoHuber(delta=delta)(t(*residuals), torch.zeros(len(residuals)))
    assert float(loss) == pytest.approx(by_hand, rel=1e-5)


def test_pseudo_huber_is_quadratic_near_zero_and_linear_far_out():
    delta = 0.5
    small, large = 1e-3, 1e3
    assert float(PseudoHuber(delta)(t(small), t(0.0))) == pytest.approx(small**2 / 2, rel=1e-5)
    # delta^2 * (sqrt(1 + (r/delta)^2) - 1) -> delta * |r| - delta^2 for |r| >> delta
    assert float(PseudoHuber(delta)(t(-large), t(0.0))) == pytest.approx(delta * large - delta**2, rel=1e-5)
    # float32 sqrt(1 + x) - 1 would be exactly 0 here; the loss must still see the residual
    assert float(PseudoHuber(1.0)(t(1e-4), t(0.0))) == pytest.approx(0.5e-8, rel=1e-4)


# -- classification --------------------------------------------------------------------------


def test_bce_by_hand():
    logits, targets = [2.0, -1.0, 0.3, -0.2], [1, 0, 0, 1]
    sig = [1 / (1 + math.exp(-z)) for z in logits]
    by_hand = -sum(y * math.log(s) + (1 - y) * math.log(1 - s) for s, y in zip(sig, targets)) / len(targets)
    assert float(BinaryCrossEntropy()(t(*logits), torch.tensor(targets))) == pytest.approx(by_hand, rel=1e-6)


LOGITS = [[2.0, 0.5, -1.0], [0.1, 0.2, 0.3], [-1.0, 3.0, 0.0], [0.0, 0.0, 1.0]]
TARGETS = [0, 2, 1, 0]


def log_softmax_rows() -> list[list[float]]:
    rows = []
    for row in LOGITS:
        log_total = math.log(sum(math.exp(z) for z in row))
        rows.append([z - log_total for z in row])
    return rows


def test_cross_entropy_plain():
    by_hand = -sum(row[y] for row, y in zip(log_softmax_rows(), TARGETS)) / len(TARGETS)
    assert float(CrossEntropy()(torch.tensor(LOGITS), torch.tensor(TARGETS))) == pytest.approx(by_hand, rel=1e-6)


def test_cross_entropy_class_weights_make_a_weighted_mean():
    w = [1.0, 3.0, 0.5]
    # -sum_i w[y_i] log p_i[y_i] / sum_i w[y_i]
    by_hand = -sum(w[y] * row[y] for row, y in zip(log_softmax_rows(), TARGETS)) / sum(w[y] for y in TARGETS)
    loss = CrossEntropy(weight=w)(torch.tensor(LOGITS), torch.tensor(TARGETS))
    assert float(loss) == pytest.approx(by_hand, rel=1e-6)
    assert float(loss) != pytest.approx(float(CrossEntropy()(torch.tensor(LOGITS), torch.tensor(TARGETS))))


def test_cross_entropy_label_smoothing():
    eps, classes = 0.2, 3
    # the target is (1 - eps) on the true class plus eps / C on every class
    by_hand = sum(-(1 - eps) * row[y] - eps / classes * sum(row) for row, y in zip(log_softmax_rows(), TARGETS)) / len(
        TARGETS
    )
    loss = CrossEntropy(label_smoothing=eps)(torch.tensor(LOGITS), torch.tensor(TARGETS))
    assert float(loss) == pytest.approx(by_hand, rel=1e-6)


def test_hinge_binary_by_hand():
    logits, targets = [2.0, 0.3, -0.5, -2.0, 0.4], [1, 1, 1, 0, 0]
    for margin in (1.0, 2.0):
        signs = [2 * y - 1 for y in targets]  # 0/1 -> -1/+1
        by_hand = sum(max(0.0, margin - s * z) for s, z in zip(signs, logits)) / len(logits)
        loss = Hinge(margin=margin)(t(*logits), torch.tensor(targets))
        assert float(loss) == pytest.approx(by_hand, rel=1e-6)


def test_hinge_multiclass_by_hand():
    margin = 0.5
    by_hand = 0.0
    for row, y in zip(LOGITS, TARGETS):
        by_hand += sum(max(0.0, margin - row[y] + z) for c, z in enumerate(row) if c != y) / len(row)
    by_hand /= len(TARGETS)
    loss = Hinge(margin=margin)(torch.tensor(LOGITS), torch.tensor(TARGETS))
    assert float(loss) == pytest.approx(by_hand, rel=1e-6)


# -- bad settings ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: Huber(delta=0.0), "huber delta must be a positive number"),
        (lambda: PseudoHuber(delta=-1.0), "pseudo_huber delta must be a positive number"),
        (lambda: CrossEntropy(label_smoothing=-0.1), "label_smoothing must be a number between 0 and 1"),
        (lambda: CrossEntropy(label_smoothing=1.5), "label_smoothing must be a number between 0 and 1"),
        (lambda: CrossEntropy(weight=[1.0, -2.0]), "non-negative numbers, one per class"),
        (lambda: CrossEntropy(weight=[0, 0]), "not all 0"),
        (lambda: CrossEntropy(weight=2.0), "weight must be a list"),
        (lambda: Hinge(margin=0.0), "hinge margin must be a positive number"),
    ],
)
def test_bad_settings_are_value_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_class_weights_must_match_the_classes():
    check_supports(CrossEntropy(weight=[1.0, 2.0, 1.0]), "multiclass", num_classes=3)
    with pytest.raises(ValueError, match="weight has 2 entries but the data has 3 classes"):
        check_supports(CrossEntropy(weight=[1.0, 2.0]), "multiclass", num_classes=3)


@pytest.mark.parametrize(
    "data, loss, named, kind",
    [
        ("iris", "mse", "MeanSquaredError", "multiclass"),
        ("digits", "bce", "BinaryCrossEntropy", "multiclass"),
        ("breast_cancer", "cross_entropy", "CrossEntropy", "binary"),
        ("diabetes", "hinge", "Hinge", "regression"),
        ("breast_cancer", "huber", "Huber", "binary"),
        ("wine", "pseudo_huber", "PseudoHuber", "multiclass"),
        ("diabetes", "bce", "BinaryCrossEntropy", "regression"),
    ],
)
def test_a_loss_on_the_wrong_kind_of_data_is_a_config_error(tmp_path, data, loss, named, kind):
    with pytest.raises(ConfigError, match=f"the loss {named} is for .* tasks, but this data is {kind}"):
        build_from_overrides(tmp_path, f"data={data}", f"loss={loss}")


def test_a_bad_loss_setting_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="huber delta must be a positive number"):
        build_from_overrides(tmp_path, "data=diabetes", "loss=huber", "loss.delta=0")


@pytest.mark.parametrize(
    "data, default", [("digits", CrossEntropy), ("breast_cancer", BinaryCrossEntropy), ("diabetes", MeanSquaredError)]
)
def test_auto_is_the_datas_usual_loss(tmp_path, data, default):
    assert type(build_from_overrides(tmp_path, f"data={data}").task.loss_fn) is default


# -- end to end ------------------------------------------------------------------------------
# The by-hand versions below are the formulas again, written with tensor ops for a whole split.


def huber_by_hand(z, y, delta):
    r = (z - y).abs()
    return torch.where(r <= delta, r**2 / 2, delta * (r - delta / 2)).mean()


def bce_by_hand(z, y):
    s = torch.sigmoid(z)
    return -(y * torch.log(s) + (1 - y) * torch.log(1 - s)).mean()


def weighted_smoothed_ce_by_hand(z, y, w, eps):
    """torch's definition: the smoothed term is weighted by each class's weight, the mean by w[y]."""
    nll = -torch.log_softmax(z, dim=1)
    per_example = (1 - eps) * w[y] * nll.gather(1, y[:, None])[:, 0] + eps / z.shape[1] * (nll * w).sum(1)
    return per_example.sum() / w[y].sum()


def hinge_binary_by_hand(z, y, margin):
    return torch.clamp(margin - (2 * y - 1) * z, min=0).mean()


def hinge_multiclass_by_hand(z, y, margin):
    margins = torch.clamp(margin - z.gather(1, y[:, None]) + z, min=0)
    margins[torch.arange(len(y)), y] = 0  # the true class is not compared with itself
    return (margins.sum(1) / z.shape[1]).mean()


W = torch.tensor([1.0, 2.0, 0.5])
END_TO_END = {
    "mse": ("diabetes", [], MeanSquaredError, lambda z, y: ((z - y) ** 2).mean()),
    "mae": ("diabetes", [], MeanAbsoluteError, lambda z, y: (z - y).abs().mean()),
    "huber": ("diabetes", ["loss.delta=0.3"], Huber, lambda z, y: huber_by_hand(z, y, 0.3)),
    "pseudo_huber": (
        "diabetes",
        ["loss.delta=0.3"],
        PseudoHuber,
        lambda z, y: (0.3**2 * (torch.sqrt(1 + ((z - y) / 0.3) ** 2) - 1)).mean(),
    ),
    "bce": ("breast_cancer", [], BinaryCrossEntropy, bce_by_hand),
    "cross_entropy": (
        "wine",
        ["loss.weight=[1.0,2.0,0.5]", "loss.label_smoothing=0.2"],
        CrossEntropy,
        lambda z, y: weighted_smoothed_ce_by_hand(z, y, W, 0.2),
    ),
    "hinge-binary": ("breast_cancer", ["loss.margin=2.0"], Hinge, lambda z, y: hinge_binary_by_hand(z, y, 2.0)),
    "hinge-multiclass": ("iris", ["loss.margin=0.5"], Hinge, lambda z, y: hinge_multiclass_by_hand(z, y, 0.5)),
}


@pytest.mark.parametrize("case", list(END_TO_END))
def test_each_loss_trains_and_is_the_one_the_task_uses(tmp_path, case):
    data, settings, loss_class, by_hand = END_TO_END[case]
    option = case.split("-")[0]
    run = build_from_overrides(tmp_path, f"data={data}", f"loss={option}", *settings, "callbacks=none")
    assert type(run.task.loss_fn) is loss_class
    run.trainer.fit(run.task, datamodule=run.datamodule)

    val = run.datamodule.split("val")
    run.task.eval()
    with torch.no_grad():
        outputs = run.task(val["inputs"]).double()
    z = outputs.squeeze(-1) if outputs.shape[-1] == 1 else outputs
    y = val["targets"] if data in ("iris", "wine") else val["targets"].double()
    logged = float(run.trainer.callback_metrics["val/loss"])
    assert math.isfinite(logged)
    assert logged == pytest.approx(float(by_hand(z, y)), rel=1e-4)


@pytest.mark.slow
def test_a_wrong_pairing_exits_cleanly_from_the_command_line(dlrun):
    done = dlrun("train", "data=iris", "loss=mse", "debug=fast", "logger=none", "callbacks=none")
    assert done.returncode == 2, done.stderr
    assert (
        "the loss MeanSquaredError is for regression or forecasting tasks, but this data is multiclass" in done.stderr
    )
    assert "Traceback" not in done.stderr


def test_class_weights_must_match_the_number_of_classes(tmp_path):
    with pytest.raises(ConfigError, match="weight has 2 entries"):
        build_from_overrides(tmp_path, "data=iris", "loss=cross_entropy", "loss.weight=[1,2]")
