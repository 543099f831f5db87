"""Per-layer gradient norm, weight norm and update-to-weight ratio, sampled at optimizer steps.

The numbers are read in the optimizer's own step hooks (torch.optim.Optimizer.register_step_pre_hook
and register_step_post_hook) rather than in Lightning's on_before_optimizer_step: they fire at every
optimizer step however it is taken (several per Lightning batch with data.steps_per_execution,
dlrun's direct steps, Lightning's automatic optimization with its closure), and a callback that
overrides a per-step Lightning hook would switch dlrun's cheaper direct steps off (see
tasks/stepping.py). After the step the gradients it used are still there (clipped, if clipping is
on), and the weights from before it were copied in the pre-hook; an unsampled step costs two calls
that compare a counter.
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor, nn
from torch.optim import Optimizer

from dlrun.training.layer_kinds import DENSE_AND_CONV_LAYERS, RECURRENT_LAYERS

WEIGHTED_LAYERS: tuple[type[nn.Module], ...] = (
    *DENSE_AND_CONV_LAYERS,
    *RECURRENT_LAYERS,
    nn.RNNCellBase,
    nn.Embedding,
    nn.EmbeddingBag,
)
FIGURES = ("grad_norm", "weight_norm", "update_ratio")


def weighted_layers(module: nn.Module) -> dict[str, list[nn.Parameter]]:
    """The trainable parameters (weights and biases) of each dense, convolutional, recurrent or
    embedding layer of `module`, by module path (`model.1`); frozen layers are left out."""
    layers = {}
    for name, layer in module.named_modules():
        if isinstance(layer, WEIGHTED_LAYERS):
            parameters = [p for p in layer.parameters(recurse=False) if p.requires_grad]
            if parameters:
                layers[name] = parameters
    return layers


def side_path_layers(module: nn.Module, layers: dict[str, list[nn.Parameter]]) -> set[str]:
    """The layers of `layers` inside a module that says `diagnostics_side_path = True` (an attention
    module, say): off the chain that back-propagation follows from the output layer to the input,
    so their gradient norms are logged but not judged against the output layer's."""
    side = [name for name, sub in module.named_modules() if getattr(sub, "diagnostics_side_path", False)]
    return {layer for layer in layers if any(layer == s or layer.startswith(f"{s}.") for s in side)}


def _norms(tensors: list[Tensor | None]) -> Tensor:
    """The L2 norm of each tensor as float32, stacked (0 for a missing gradient: the parameter got none).

    Each is taken in float32 or in the tensors' own wider type (a float64 model's): a norm may widen
    its input but not narrow it."""
    present = [t for t in tensors if t is not None]
    accumulate = functools.reduce(torch.promote_types, (t.dtype for t in present), torch.float32)
    if len(present) == len(tensors) and not any(t.is_sparse for t in present) and len({t.device for t in present}) == 1:
        # One call for all of them, as clip_grad_norm_ does: half the time of a norm call per tensor.
        return torch.stack(torch._foreach_norm(present, 2, dtype=accumulate)).float()  # present: all of them
    norms = []
    for tensor in tensors:
        if tensor is None:
            norms.append(torch.zeros((), dtype=torch.float32))
            continue
        if tensor.is_sparse:  # an Embedding(sparse=True)'s gradient
            tensor = tensor.coalesce().values()
        norms.append(torch.linalg.vector_norm(tensor.detach(), dtype=accumulate).float())
    device = next((n.device for n in norms if n.device.type != "cpu"), torch.device("cpu"))
    return torch.stack([n.to(device) for n in norms])


class LayerSampler:
    """Sums, over the sampled steps of an epoch, each layer's gradient norm, weight norm and
    update-to-weight ratio: ||w_after - w_before|| / ||w_before||, the norms over all of the layer's
    parameters taken as one vector. Every `every_n_steps`-th optimizer step is sampled, counted from
    `first_step` (the steps already taken, when a run resumes), and so is the first step after each
    `epoch_means`. The sums stay on the device until `epoch_means`, so sampling never waits on it."""

    def __init__(self, layers: dict[str, list[nn.Parameter]], every_n_steps: int, first_step: int = 0) -> None:
        self.names = list(layers)
        self.parameters: list[Tensor] = [p for parameters in layers.values() for p in parameters]
        self._layer_of = [i for i, parameters in enumerate(layers.values()) for _ in parameters]
        self.every_n_steps = every_n_steps
        self.step = first_step
        self.keep_gradients = False  # copy the gradients of each sampled step into `gradients`
        self.gradients: list[Tensor | None] | None = None
        self._before: list[Tensor] | None = None
        self._handles: list = []
        self._sums: Tensor | None = None
        self._index: Tensor | None = None  # the layer of each parameter, on the parameters' device
        self.samples = 0

    def attach(self, optimizer: Optimizer) -> None:
        self._handles = [
            optimizer.register_step_pre_hook(self._before_step),
            optimizer.register_step_post_hook(self._after_step),
        ]

    def detach(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _before_step(self, optimizer: Optimizer, args, kwargs) -> None:
        # Also the first step after each epoch_means: figures of epochs shorter than every_n_steps
        # then still hold a step of their own, not the previous figures' numbers.
        if self.step % self.every_n_steps == 0 or self.samples == 0:
            self._before = [p.detach().clone() for p in self.parameters]

    def _after_step(self, optimizer: Optimizer, args, kwargs) -> None:
        self.step += 1
        if self._before is None:
            return
        before, self._before = self._before, None
        gradients: list[Tensor | None] = [p.grad for p in self.parameters]
        with torch.no_grad():
            # One stack of every norm and one sum per layer: a sample is a few dozen small kernels.
            updates = list(torch._foreach_sub(self.parameters, before))
            sample = self._per_layer(_norms([*gradients, *before, *updates]).view(3, -1))
            sample[2] /= sample[1]  # update norm over the weight norm before the step
            if self._sums is None:
                self._sums = sample
            else:
                self._sums += sample
        self.samples += 1
        if self.keep_gradients:
            self.gradients = [None if g is None else g.detach().clone() for g in gradients]

    def _per_layer(self, norms: Tensor) -> Tensor:
        """Rows of per-parameter norms joined per layer: the norm of all of a layer's parameters as
        one vector, (rows, layers)."""
        if self._index is None or self._index.device != norms.device:
            self._index = torch.tensor(self._layer_of, device=norms.device)
        joined = torch.zeros(len(norms), len(self.names), device=norms.device, dtype=norms.dtype)
        return joined.index_add_(1, self._index, norms.square()).sqrt_()

    def epoch_means(self) -> dict[str, dict[str, float]]:
        """{layer: {grad_norm, weight_norm, update_ratio}}, each the mean over this epoch's samples
        ({} when none fell in it); the sums start again."""
        if self._sums is None:
            return {}
        means = (self._sums / self.samples).tolist()
        self._sums, self.samples = None, 0
        return {
            name: {figure: means[row][i] for row, figure in enumerate(FIGURES)} for i, name in enumerate(self.names)
        }
