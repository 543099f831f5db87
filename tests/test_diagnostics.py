"""The diagnostics callback: per-layer norms and update ratios against hand computations, dead and
saturated units, BPTT gradient norms against a hand-unrolled RNN, the findings and their thresholds,
and what a real `dlrun train` run writes (results.json, TensorBoard scalars and histograms, summary)."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from conftest import build_from_overrides, make_trainer
from helpers import tensorboard_dir
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from dlrun.callbacks import Diagnostics
from dlrun.callbacks.diagnostics.activations import activation_fractions, activation_layers
from dlrun.callbacks.diagnostics.bptt import bptt_gradient_norms
from dlrun.callbacks.diagnostics.findings import Thresholds, bptt_findings, gradient_findings, unit_findings
from dlrun.callbacks.diagnostics.histograms import BUCKETS, histogram_parts
from dlrun.callbacks.diagnostics.layers import LayerSampler
from dlrun.errors import ConfigError
from dlrun.models.hidden_states import stepwise_states
from dlrun.models.recurrent import RecurrentNet
from dlrun.results import RunResult, print_summary

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore:.*treespec.*")

DEFAULTS = Thresholds(vanishing_ratio=1e-3, exploding_ratio=1e3, warn_fraction=0.5)
X = np.array([[1.0, 2.0, -1.0], [0.5, -1.5, 2.0], [-2.0, 0.0, 1.0], [3.0, 1.0, 0.5]])
Y = np.array([[1.0, 0.0], [-1.0, 2.0], [0.5, 0.5], [2.0, -1.0]])
W = np.array([[0.2, -0.4, 0.1], [0.3, 0.5, -0.2]])
B = np.array([0.1, -0.3])


class Regression(pl.LightningModule):
    """`net` on X with an MSE loss against Y, one full-batch SGD step per epoch; Lightning's automatic
    optimization (the optimizer calls a closure) or manual (the step after backward)."""

    def __init__(self, net: nn.Module, lr: float, manual: bool) -> None:
        super().__init__()
        self.net = net
        self.lr = lr
        self.automatic_optimization = not manual

    def training_step(self, batch, batch_idx):
        inputs, targets = batch
        loss = nn.functional.mse_loss(self.net(inputs), targets)
        if self.automatic_optimization:
            return loss
        optimizer = self.optimizers()
        optimizer.zero_grad()
        self.manual_backward(loss)
        optimizer.step()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.lr)

    def train_dataloader(self):
        return DataLoader(
            TensorDataset(torch.tensor(X, dtype=torch.float32), torch.tensor(Y, dtype=torch.float32)), batch_size=len(X)
        )


def linear(weight: np.ndarray, bias: np.ndarray) -> nn.Linear:
    layer = nn.Linear(weight.shape[1], weight.shape[0])
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(weight))
        layer.bias.copy_(torch.tensor(bias))
    return layer


def fit(module: pl.LightningModule, tmp_path, diagnostics: Diagnostics, epochs: int = 1) -> None:
    make_trainer(tmp_path, max_epochs=epochs, callbacks=[diagnostics]).fit(module)


def diagnostics_of(run) -> Diagnostics:
    return next(c for c in run.trainer.callbacks if isinstance(c, Diagnostics))


def with_diagnostics(**options) -> str:
    settings = ",".join(f"{key}:{value}" for key, value in options.items())
    return "+callbacks.diagnostics={_target_:dlrun.callbacks.Diagnostics" + (f",{settings}" if settings else "") + "}"


# -- per-layer norms ------------------------------------------------------------------------


@pytest.mark.parametrize("manual", [False, True], ids=["automatic", "manual"])
def test_gradient_and_weight_norms_and_update_ratio_of_a_linear_layer_match_the_hand_computation(tmp_path, manual):
    diagnostics = Diagnostics(every_n_steps=1)
    fit(Regression(linear(W, B), lr=0.1, manual=manual), tmp_path, diagnostics)

    # L = mean over the 4 x 2 outputs of (x W^T + b - y)^2, so dL/d(output) = 2 (output - y) / 8.
    d_output = 2 * (X @ W.T + B - Y) / Y.size
    grad_norm = np.sqrt(np.sum((d_output.T @ X) ** 2) + np.sum(d_output.sum(axis=0) ** 2))
    weight_norm = np.sqrt(np.sum(W**2) + np.sum(B**2))
    figures = diagnostics.last_epoch_figures()
    assert figures["samples"] == 1
    layer = figures["layers"]["net"]
    assert layer["grad_norm"] == pytest.approx(grad_norm, rel=1e-3)
    assert layer["weight_norm"] == pytest.approx(weight_norm, rel=1e-3)
    # SGD moves the weights by lr * g, so the update ratio is lr |g| / |w|.
    assert layer["update_ratio"] == pytest.approx(0.1 * grad_norm / weight_norm, rel=1e-3)


def test_an_sgd_step_through_dlruns_own_task_moves_the_weights_by_the_reported_ratio(tmp_path):
    run = build_from_overrides(
        tmp_path,
        "model.hidden_sizes=[16]",
        "optimizer=sgd",
        "optimizer.lr=0.05",
        "trainer.gradient_clip_val=null",
        "trainer.limit_train_batches=1",
        "callbacks=none",
        with_diagnostics(every_n_steps=1),
    )
    before = {name: p.detach().clone() for name, p in run.task.named_parameters()}
    run.trainer.fit(run.task, datamodule=run.datamodule)
    after = dict(run.task.named_parameters())
    layers = diagnostics_of(run).last_epoch_figures()["layers"]
    assert list(layers) == ["model.1", "model.3"]
    for name, figures in layers.items():
        w0 = torch.cat([before[f"{name}.weight"].flatten(), before[f"{name}.bias"]])
        w1 = torch.cat([after[f"{name}.weight"].detach().flatten(), after[f"{name}.bias"].detach()])
        step = float((w1 - w0).norm())
        assert figures["weight_norm"] == pytest.approx(float(w0.norm()), rel=1e-3)
        assert figures["update_ratio"] == pytest.approx(step / float(w0.norm()), rel=1e-3)
        assert figures["grad_norm"] == pytest.approx(step / 0.05, rel=1e-3)


@pytest.mark.parametrize("every_n_steps, samples", [(1, 12), (5, 3)])
def test_steps_inside_a_lightning_batch_are_sampled_every_n_steps(tmp_path, every_n_steps, samples):
    """4 optimizer steps per Lightning batch, 3 batches: 12 steps, of which steps 0, 5, 10 are every 5th."""
    run = build_from_overrides(
        tmp_path,
        "model.hidden_sizes=[16]",
        "data=iris",
        "data.batch_size=9",  # 105 training rows: 12 steps an epoch
        "data.steps_per_execution=4",
        "trainer.limit_train_batches=1.0",  # a limit would count steps, one per Lightning batch
        "callbacks=none",
        with_diagnostics(every_n_steps=every_n_steps),
    )
    run.trainer.fit(run.task, datamodule=run.datamodule)
    assert run.trainer.global_step == 12
    assert diagnostics_of(run).last_epoch_figures()["samples"] == samples
    # No per-step Lightning hook is overridden, so dlrun keeps its direct optimizer steps.
    assert run.task.stepper.direct


def test_epochs_shorter_than_every_n_steps_still_sample_a_step_of_their_own(tmp_path):
    """3 epochs of 4 steps, one step in 50 sampled: each epoch's figures hold the first step after the
    previous figures (steps 0, 4 and 8), so no epoch reports an earlier epoch's numbers as its own."""
    run = build_from_overrides(
        tmp_path,
        "model.hidden_sizes=[16]",
        "data=iris",
        "data.batch_size=27",  # 105 training rows: 4 steps an epoch
        "data.steps_per_execution=4",
        "trainer.limit_train_batches=1.0",
        "trainer.max_epochs=3",
        "callbacks=none",
        with_diagnostics(every_n_steps=50, time_budget="null"),
    )
    diagnostics = diagnostics_of(run)
    sampled = []
    means = LayerSampler.epoch_means
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            LayerSampler, "epoch_means", lambda self: (sampled.append((self.step, self.samples)), means(self))[1]
        )
        run.trainer.fit(run.task, datamodule=run.datamodule)
    assert sampled == [(4, 1), (8, 1), (12, 1)]  # (steps taken, samples in the figures) at each epoch's end
    assert diagnostics.last_epoch_figures()["epoch"] == 3


# -- dead and saturated units ---------------------------------------------------------------


def test_dead_relu_units_are_those_that_are_zero_on_every_example():
    inputs = torch.rand(32, 2) + 0.1  # positive features
    weight = np.array([[-1.0, -1.0], [-2.0, -0.5], [1.0, -1.0], [1.0, 1.0], [0.5, 0.5]])
    bias = np.array([-0.1, 0.0, 0.0, 0.1, -10.0])  # units 0, 1 and 4 never fire; unit 2 sometimes does
    model = nn.Sequential(linear(weight, bias), nn.ReLU())
    found = activation_fractions(activation_layers(model), lambda: model(inputs), saturation_threshold=0.99)
    pre = inputs.double().numpy() @ weight.T + bias
    hand = np.all(pre <= 0, axis=0).mean()
    assert hand == pytest.approx(3 / 5)
    assert found["dead_fraction"]["1"] == pytest.approx(hand)
    assert found["saturated_fraction"] == {}


def test_a_conv_unit_is_a_channel_at_a_position():
    images = torch.rand(8, 1, 3, 3) + 0.1
    images[:, 0, 0, 0] = -1.0  # negative in one corner on every example
    conv = nn.Conv2d(1, 2, kernel_size=1)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([1.0, -1.0]).view(2, 1, 1, 1))
        conv.bias.copy_(torch.tensor([0.0, -10.0]))  # channel 0 dies in the corner, channel 1 everywhere
    model = nn.Sequential(conv, nn.ReLU())
    found = activation_fractions(activation_layers(model), lambda: model(images), saturation_threshold=0.99)
    pre = np.stack([images.numpy()[:, 0] * 1.0, images.numpy()[:, 0] * -1.0 - 10.0], axis=1)
    assert found["dead_fraction"]["1"] == pytest.approx(np.all(pre <= 0, axis=0).mean())
    assert found["dead_fraction"]["1"] == pytest.approx((1 + 9) / 18)


@pytest.mark.parametrize("threshold", [0.99, 0.9])
def test_saturated_fraction_of_tanh_and_sigmoid_against_the_hand_computation(threshold):
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(64, 4, generator=generator) * 3
    weight = np.array([[1.0, 0.5, 0.0, -1.0], [0.2, 0.0, 0.1, 0.0], [2.0, -2.0, 1.0, 1.0]])
    bias = np.array([0.0, 0.5, -1.0])
    model = nn.Sequential(linear(weight, bias), nn.Tanh(), linear(np.eye(3), np.zeros(3)), nn.Sigmoid())
    found = activation_fractions(activation_layers(model), lambda: model(inputs), saturation_threshold=threshold)
    tanh = np.tanh(inputs.double().numpy() @ weight.T + bias)
    sigmoid = 1 / (1 + np.exp(-tanh))
    assert found["saturated_fraction"]["1"] == pytest.approx(np.mean(np.abs(tanh) > threshold))
    assert found["saturated_fraction"]["3"] == pytest.approx(np.mean((sigmoid < 1 - threshold) | (sigmoid > threshold)))
    assert 0 < found["saturated_fraction"]["1"] < 1


def test_the_fixed_batch_and_the_saturation_threshold_reach_the_epoch_figures(tmp_path):
    run = build_from_overrides(
        tmp_path,
        "model.hidden_sizes=[32]",
        "model.activation=tanh",
        "init=normal",
        "init.std=0.3",
        "callbacks=none",
        with_diagnostics(num_examples=100, saturation_threshold=0.9),
    )
    run.trainer.fit(run.task, datamodule=run.datamodule)
    figures = diagnostics_of(run).last_epoch_figures()
    inputs = run.datamodule.split("val")["inputs"][:100].flatten(1).double().numpy()
    dense = run.task.model[1]
    tanh = np.tanh(inputs @ dense.weight.detach().double().numpy().T + dense.bias.detach().double().numpy())
    hand = np.mean(np.abs(tanh) > 0.9)
    assert 0.05 < hand < 0.95
    assert figures["examples"] == 100
    assert figures["saturated_fraction"]["model.2"] == pytest.approx(hand, abs=1e-4)


def test_layer_norms_take_missing_and_sparse_gradients_and_match_one_norm_per_tensor():
    from dlrun.callbacks.diagnostics.layers import _norms

    dense = [torch.tensor([3.0, 4.0]), torch.tensor([[1.0, 2.0], [2.0, 4.0]])]
    assert _norms(dense).tolist() == pytest.approx([5.0, 5.0])  # the one-call path
    sparse = torch.sparse_coo_tensor([[0, 2]], [6.0, 8.0], (4,))
    assert _norms([*dense, None, sparse]).tolist() == pytest.approx([5.0, 5.0, 0.0, 10.0])


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_a_model_in_another_precision_is_sampled_and_its_norms_come_as_float32(dtype):
    """trainer.precision=64-true or bf16-true: the norms are taken without narrowing the tensors."""
    from dlrun.callbacks.diagnostics.layers import LayerSampler, _norms

    norms = _norms([torch.tensor([3.0, 4.0], dtype=dtype)])
    assert norms.dtype == torch.float32 and norms.tolist() == [5.0]
    layer = linear(W, B).to(dtype)
    sampler = LayerSampler({"layer": list(layer.parameters())}, every_n_steps=1)
    optimizer = torch.optim.SGD(layer.parameters(), lr=0.1)
    sampler.attach(optimizer)
    layer(torch.tensor(X, dtype=dtype)).square().sum().backward()
    optimizer.step()
    means = sampler.epoch_means()["layer"]
    assert means["weight_norm"] == pytest.approx(float(np.sqrt((W**2).sum() + (B**2).sum())), rel=1e-2)
    assert means["update_ratio"] > 0


@pytest.mark.parametrize("idle_between_epochs", [0, 100])
@pytest.mark.parametrize("time_budget, measured", [(None, [1, 2, 3, 4]), (0.5, [1, 3, 4])])
def test_short_epochs_skip_the_figures_within_the_time_budget_and_the_last_epoch_gets_them(
    tmp_path, monkeypatch, time_budget, measured, idle_between_epochs
):
    import dlrun.callbacks.diagnostics.callback as module

    # A clock that moves one second per reading: the figures of an epoch take one second, and
    # with a budget of half the training time the epoch after them ends too soon for more. Time
    # spent between epochs (validation, other callbacks) is not training time and buys none.
    clock = [0.0]

    def perf_counter() -> float:
        clock[0] += 1
        return clock[0]

    class Idle(pl.Callback):
        def on_train_epoch_end(self, trainer, pl_module):
            clock[0] += idle_between_epochs

    monkeypatch.setattr(module, "perf_counter", perf_counter)
    diagnostics = Diagnostics(every_n_steps=1, time_budget=time_budget)
    epochs = []
    figures = diagnostics._epoch_figures
    monkeypatch.setattr(
        diagnostics,
        "_epoch_figures",
        lambda trainer, module, epoch: (epochs.append(epoch), figures(trainer, module, epoch)),
    )
    regression = Regression(nn.Sequential(linear(W, B)), lr=0.1, manual=False)
    make_trainer(tmp_path, max_epochs=4, callbacks=[diagnostics, Idle()]).fit(regression)
    assert epochs == measured  # epoch 4 skipped for time, then taken at the end of training
    last = diagnostics.last_epoch_figures()
    assert last["epoch"] == 4 and last["samples"] == 1  # epoch 3's step was in epoch 3's figures


# -- back-propagation through time -----------------------------------------------------------


def adding_run(tmp_path, *overrides: str):
    return build_from_overrides(
        tmp_path,
        "data=adding",
        "data.sequence_length=12",
        "data.train_size=100",
        "data.val_size=32",
        "data.test_size=32",
        "model=rnn",
        "model.hidden_size=8",
        *overrides,
    )


def test_bptt_norms_match_a_hand_unrolled_rnn_and_fall_with_distance_from_the_end(tmp_path):
    run = adding_run(tmp_path)
    rnn, head = run.task.model.rnn, run.task.model.head
    with torch.no_grad():  # small weights: the gradient shrinks at every step back
        for parameter in rnn.parameters():
            parameter.mul_(0.5)
    batch = {key: tensor[:16] for key, tensor in run.datamodule.split("val").items()}
    norms = bptt_gradient_norms(run.task, batch)

    inputs, targets = batch["inputs"], batch["targets"]
    h = torch.zeros(16, 8)
    states = []
    for t in range(12):  # h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)
        h = torch.tanh(inputs[:, t] @ rnn.weight_ih_l0.T + rnn.bias_ih_l0 + h @ rnn.weight_hh_l0.T + rnn.bias_hh_l0)
        states.append(h)
    loss = ((head(h).squeeze(-1) - targets) ** 2).mean()
    hand = [float(g.norm(dim=1).mean()) for g in torch.autograd.grad(loss, states)]
    assert norms == pytest.approx(hand, rel=1e-4)
    assert all(earlier < later for earlier, later in zip(norms, norms[1:]))
    assert norms[0] < 1e-2 * norms[-1]


def test_an_lstm_with_its_forget_gate_open_carries_the_gradient_back_and_an_rnn_does_not(tmp_path):
    ratios = {}
    for cell in ("rnn", "lstm"):
        run = adding_run(tmp_path / cell, f"model={cell}", "data.sequence_length=40")
        if cell == "lstm":
            with torch.no_grad():  # gates in order input, forget, cell, output
                run.task.model.rnn.bias_ih_l0[8:16] = 5.0
        batch = {key: tensor[:16] for key, tensor in run.datamodule.split("val").items()}
        norms = bptt_gradient_norms(run.task, batch)
        ratios[cell] = norms[0] / norms[-1]
    assert ratios["rnn"] < 1e-6
    assert ratios["lstm"] > 1e3 * ratios["rnn"]


@pytest.mark.parametrize("cell, read_out, layers", [("lstm", "attention", 2), ("gru", "last", 1), ("rnn", "mean", 2)])
def test_stepping_one_step_at_a_time_computes_what_the_fused_layer_does(cell, read_out, layers):
    torch.manual_seed(0)
    model = RecurrentNet((6, 3), 2, cell=cell, hidden_size=5, num_layers=layers, read_out=read_out).eval()
    inputs, lengths = torch.randn(4, 6, 3), torch.tensor([6, 2, 4, 1])
    for step_lengths in (None, lengths):
        expected = model(inputs, step_lengths)
        with stepwise_states(model) as states:
            outputs = model(inputs, step_lengths)
        assert torch.allclose(outputs, expected, atol=1e-5)
        assert len(states) == 6 and states[0].shape == (layers, 4, 5)
    assert isinstance(model.rnn, nn.RNNBase)  # put back


def test_bidirectional_models_have_no_per_step_states():
    model = RecurrentNet((6, 3), 2, cell="gru", hidden_size=5, bidirectional=True)
    with pytest.raises(ValueError, match="one-directional"), stepwise_states(model):
        pass


@pytest.mark.parametrize("every, images", [(0, 1), (1, 2)])
def test_the_bptt_figure_goes_to_tensorboard_at_the_end_and_every_n_epochs(tmp_path, every, images):
    run = adding_run(
        tmp_path, "logger=tensorboard", "trainer.max_epochs=2", f"callbacks.diagnostics.bptt_every_n_epochs={every}"
    )
    run.trainer.fit(run.task, datamodule=run.datamodule)
    events = EventAccumulator(str(tensorboard_dir(tmp_path / "run")), size_guidance={"images": 0, "scalars": 0})
    events.Reload()
    assert len(events.Images("diagnostics/bptt_gradient")) == images
    figures = diagnostics_of(run).last_epoch_figures()
    assert len(figures["bptt_gradient"]) == 12
    last = events.Scalars("diagnostics/bptt_first_over_last")[-1].value
    assert last == pytest.approx(figures["bptt_gradient"][0] / figures["bptt_gradient"][-1], rel=2e-3)


# -- findings -------------------------------------------------------------------------------


def test_vanishing_and_exploding_layers_against_the_output_layer():
    norms = {"first": 1e-6, "middle": 0.5, "last": 1.0}
    assert [(f.layer, f.kind) for f in gradient_findings(norms, DEFAULTS)] == [("first", "vanishing")]
    assert gradient_findings(norms, Thresholds(1e-7, 1e3, 0.5)) == []
    norms = {"first": 5e3, "middle": 1.0, "last": 2.0}
    assert [(f.layer, f.kind) for f in gradient_findings(norms, DEFAULTS)] == [("first", "exploding")]
    assert gradient_findings(norms, Thresholds(1e-3, 1e4, 0.5)) == []
    # A gradient that shrinks 20x per layer back from the output: 20^3 = 8000 by the fourth layer
    # from the end, so layers 0 to 3 have lost more than 1e3 of it; a shrink that small per layer
    # never shows against the layers next to it, only against where back-propagation starts.
    geometric = {f"layer{i}": 20.0 ** (i - 6) for i in range(7)}
    found = gradient_findings(geometric, DEFAULTS)
    assert [(f.layer, f.kind) for f in found] == [
        ("layer0", "vanishing"),
        ("layer1", "vanishing"),
        ("layer2", "vanishing"),
        ("layer3", "vanishing"),
    ]
    assert "x the output layer's" in found[0].what
    assert [f.kind for f in gradient_findings({"a": float("nan"), "b": 1.0}, DEFAULTS)] == ["exploding"]
    assert gradient_findings({"a": 1e-9, "b": 0.0}, DEFAULTS) == []  # no gradient at the output: nothing to judge by


def test_dead_and_saturated_layers_over_the_warn_fraction():
    found = unit_findings({"relu1": 0.6, "relu2": 0.4}, {"tanh1": 0.55}, DEFAULTS)
    assert [(f.layer, f.kind) for f in found] == [("relu1", "dead"), ("tanh1", "saturated")]
    assert unit_findings({"relu1": 0.6}, {"tanh1": 0.55}, Thresholds(1e-3, 1e3, 0.7)) == []
    assert [f.kind for f in bptt_findings("model.rnn", "rnn", 1e-5, DEFAULTS)] == ["vanishing_in_time"]
    assert bptt_findings("model.rnn", "rnn", 1e-5, Thresholds(1e-6, 1e3, 0.5)) == []


@pytest.mark.parametrize("vanishing_ratio, warned", [(1e-3, True), (1e-9, False)])
def test_a_layer_with_tiny_gradients_is_warned_about_by_name_and_epoch(tmp_path, caplog, vanishing_ratio, warned):
    net = nn.Sequential(
        linear(np.full((4, 3), 0.3), np.zeros(4)),
        linear(np.eye(4) * 1e-5, np.ones(4)),
        linear(np.hstack([W, W[:, :1]]), B),
    )
    # What reaches the first layer passes through the second's tiny weights: ~1e-5 of the others' gradient.
    diagnostics = Diagnostics(every_n_steps=1, vanishing_ratio=vanishing_ratio)
    with caplog.at_level(logging.WARNING, logger="dlrun.callbacks.diagnostics"):
        fit(Regression(net, lr=1e-8, manual=True), tmp_path, diagnostics, epochs=2)  # steps too small to mend it
    if warned:
        assert "net.0: gradients vanish (epoch 1:" in caplog.text
        assert caplog.text.count("gradients vanish") == 1  # once, when first found
        [finding] = diagnostics.findings()
        assert finding.startswith("net.0: gradients vanish (first in epoch 1, last in epoch 2:")
        assert "He init" in finding
    else:
        assert "gradients vanish" not in caplog.text
        assert diagnostics.findings() == []


class OutputWithSidePath(nn.Module):
    """The output layer plus a branch scaled by 1e-6 (as attention scores barely matter while the
    weights are spread out): the branch's gradient is ~1e-6 of the output layer's."""

    def __init__(self, marked: bool) -> None:
        super().__init__()
        self.side = nn.Sequential(linear(W, B))
        if marked:
            self.side.diagnostics_side_path = True
        self.out = linear(W, B)

    def forward(self, inputs):
        return self.out(inputs) + 1e-6 * self.side(inputs)


@pytest.mark.parametrize("marked", [False, True])
def test_layers_on_a_side_path_are_logged_but_not_judged_against_the_output_layer(tmp_path, marked):
    diagnostics = Diagnostics(every_n_steps=1)
    fit(Regression(OutputWithSidePath(marked), lr=1e-8, manual=True), tmp_path, diagnostics)
    layers = diagnostics.last_epoch_figures()["layers"]
    assert layers["net.side.0"]["grad_norm"] < 1e-5 * layers["net.out"]["grad_norm"]
    assert [line.split(":")[0] for line in diagnostics.findings()] == ([] if marked else ["net.side.0"])


def test_attention_layers_of_a_seq2seq_model_are_its_side_path(tmp_path):
    from dlrun.callbacks.diagnostics.layers import side_path_layers, weighted_layers

    run = build_from_overrides(tmp_path, "data=reverse", "model=seq2seq", "model.attention=bahdanau")
    layers = weighted_layers(run.task)
    assert side_path_layers(run.task, layers) == {f"model.decoder.attention.{name}" for name in "WUv"}
    assert list(layers)[-1] == "model.decoder.output"  # the yardstick: where back-propagation starts


def test_the_callback_judges_with_the_thresholds_it_is_given():
    diagnostics = Diagnostics(vanishing_ratio=0.01, exploding_ratio=50.0, warn_fraction=0.2)
    assert diagnostics.thresholds == Thresholds(vanishing_ratio=0.01, exploding_ratio=50.0, warn_fraction=0.2)


def test_histogram_buckets_count_the_values_like_numpy():
    generator = torch.Generator().manual_seed(0)
    weight, bias = torch.randn(30, 20, generator=generator), torch.zeros(30)
    parts = histogram_parts([weight, bias])
    values = np.concatenate([weight.numpy().ravel(), bias.numpy()])
    counts, edges = np.histogram(values, bins=BUCKETS, range=(values.min(), values.max()))
    assert parts["num"] == 630 and sum(parts["bucket_counts"]) == 630
    assert parts["bucket_counts"] == pytest.approx(counts.tolist(), abs=1)  # float edges may move a value next door
    assert parts["bucket_limits"] == pytest.approx(edges[1:].tolist(), rel=1e-5)
    assert parts["min"] == pytest.approx(values.min()) and parts["max"] == pytest.approx(values.max())
    assert parts["sum_squares"] == pytest.approx(float(np.sum(values.astype(np.float64) ** 2)), rel=1e-5)
    assert histogram_parts([torch.zeros(5)])["bucket_counts"][0] == 5  # all equal: one bucket


def test_the_summary_prints_the_findings(capsys):
    result = RunResult(run_dir="run", overrides=[], monitor="val/loss", monitor_mode="min", status="completed")
    result.findings = ["model.1: gradients vanish (epoch 1: grad norm 1e-08); He init usually helps"]
    print_summary(result)
    out = capsys.readouterr().out
    assert "diagnostics" in out and "model.1: gradients vanish" in out


# -- options --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key, value",
    [
        ("every_n_steps", 0),
        ("every_n_steps", 2.5),
        ("every_n_epochs", -1),
        ("num_examples", 0),
        ("saturation_threshold", 0.3),
        ("saturation_threshold", 1.0),
        ("vanishing_ratio", 0.0),
        ("vanishing_ratio", 2.0),
        ("exploding_ratio", 0.5),
        ("warn_fraction", 1.0),
        ("bptt_every_n_epochs", -2),
        ("every_n_steps", True),
        ("time_budget", 0.0),
        ("time_budget", 1.5),
        ("time_budget", "fast"),
    ],
)
def test_a_bad_option_is_a_config_error_naming_it(key, value):
    with pytest.raises(ConfigError, match=f"callbacks.diagnostics.{key} must be"):
        Diagnostics(**{key: value})


def test_a_bad_option_in_the_config_stops_the_build(tmp_path):
    with pytest.raises(ConfigError, match=r"callbacks.diagnostics.warn_fraction must be a fraction in \[0, 1\)"):
        build_from_overrides(tmp_path, "callbacks.diagnostics.warn_fraction=1.5")


# -- a real run -----------------------------------------------------------------------------


@pytest.mark.parametrize("model", [("model=mlp",), ("data=adding", "data.sequence_length=12", "model=rnn")])
def test_a_float64_run_gets_its_diagnostics(dlrun, tmp_path, model):
    """trainer.precision=64-true: the samples' norms, and the fixed batch in the model's precision for
    the dead units and the BPTT pass."""
    done = dlrun("train", *model, "trainer.precision=64-true", "trainer.max_epochs=1", "hydra.run.dir=run")
    assert done.returncode == 0, done.stderr
    figures = json.loads((tmp_path / "run" / "results.json").read_text())["diagnostics"]
    assert figures["samples"] >= 1 and figures["layers"]
    if "model=rnn" in model:
        assert len(figures["bptt_gradient"]) == 12
    else:
        assert figures["dead_fraction"]


def test_a_dlrun_train_run_writes_figures_scalars_histograms_and_findings(dlrun, tmp_path):
    done = dlrun(
        "train",
        "data=digits",
        "model=mlp",
        "model.hidden_sizes=[32,32,32,32,32,32]",
        "model.activation=sigmoid",
        "init=normal",
        "trainer.max_epochs=2",
        "callbacks.diagnostics.every_n_steps=7",
        "callbacks.diagnostics.every_n_epochs=2",
        "hydra.run.dir=run",
    )
    assert done.returncode == 0, done.stderr
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    figures = results["diagnostics"]
    assert figures["epoch"] == 2
    assert list(figures["layers"]) == [f"model.{i}" for i in range(1, 14, 2)]
    assert list(figures["saturated_fraction"]) == [f"model.{i}" for i in range(2, 13, 2)]

    events = EventAccumulator(str(tensorboard_dir(tmp_path / "run")), size_guidance={"scalars": 0, "histograms": 0})
    events.Reload()
    grad = events.Scalars("diagnostics/grad_norm/model.1")
    steps_per_epoch = grad[0].step
    assert [e.step for e in grad] == [steps_per_epoch, 2 * steps_per_epoch]
    # Epoch 2's figures: every 7th step of it, and its first step (the first after epoch 1's figures).
    sampled = {steps_per_epoch} | {s for s in range(steps_per_epoch, 2 * steps_per_epoch) if s % 7 == 0}
    assert figures["samples"] == len(sampled)
    assert figures["layers"]["model.1"]["grad_norm"] == pytest.approx(grad[-1].value, rel=1e-3)
    ratio = events.Scalars("diagnostics/update_ratio/model.13")[-1].value
    assert figures["layers"]["model.13"]["update_ratio"] == pytest.approx(ratio, rel=1e-3)
    assert len(events.Scalars("diagnostics/saturated_fraction/model.2")) == 2
    for kind in ("weights", "gradients"):  # every 2nd epoch: once, at the end of epoch 2
        assert [h.step for h in events.Histograms(f"diagnostics/{kind}/model.1")] == [2 * steps_per_epoch]

    # The deep sigmoid net with small normal weights: the first layers get almost no gradient.
    assert results["findings"][0].startswith("model.1: gradients vanish (first in epoch 1, last in epoch 2:")
    assert "model.1: gradients vanish (epoch 1:" in done.stdout + done.stderr  # the warning
    assert "diagnostics" in done.stdout and "model.1: gradients vanish (first" in done.stdout  # the summary
