"""Weight penalties added to the data loss before each backward pass: L1, L2 and both (elastic net).

A regularizer is called as `regularizer(model)` and returns a scalar tensor. By default it penalizes
only the weights of the layers that multiply their inputs (dense, convolution, recurrent and
attention layers): shrinking a bias does not make the function simpler, and shrinking a
normalization layer's scale fights the normalization. `include_biases_and_norms=True` adds those
layers' biases and every parameter of normalization layers. Embedding tables are left alone unless
`include_embeddings=True`: a penalty on them pulls rare words' vectors to 0 faster than frequent
ones'. Parameters of other modules (learnable activations such as PReLU, a model's own
nn.Parameter) are never penalized; subclass and extend `weight_layers` to change that.

These penalties go through the gradient, so adaptive optimizers (Adam) rescale them; decoupled
weight decay, which shrinks weights outside the gradient, is the optimizer's job (AdamW,
`weight_decay`).
"""

from __future__ import annotations

import weakref

from torch import Tensor, nn

from dlrun.checks import check_number
from dlrun.training.layer_kinds import DENSE_AND_CONV_LAYERS

WEIGHT_LAYERS: tuple[type[nn.Module], ...] = (
    *DENSE_AND_CONV_LAYERS,
    nn.Bilinear,
    nn.RNNBase,
    nn.RNNCellBase,
    nn.MultiheadAttention,
)
NORM_LAYERS: tuple[type[nn.Module], ...] = (
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.BatchNorm3d,
    nn.SyncBatchNorm,
    nn.InstanceNorm1d,
    nn.InstanceNorm2d,
    nn.InstanceNorm3d,
    nn.LayerNorm,
    nn.GroupNorm,
    *((nn.RMSNorm,) if hasattr(nn, "RMSNorm") else ()),  # torch >= 2.4
)


class WeightPenalty:
    """strength_l1 * sum |w| + strength_l2 * sum w^2 over the penalized parameters (no 1/2 on L2)."""

    weight_layers = WEIGHT_LAYERS
    norm_layers = NORM_LAYERS

    def __init__(
        self, l1: float = 0.0, l2: float = 0.0, include_biases_and_norms: bool = False, include_embeddings: bool = False
    ) -> None:
        self.l1 = _strength("l1", l1)
        self.l2 = _strength("l2", l2)
        self.include_biases_and_norms = include_biases_and_norms
        self.include_embeddings = include_embeddings
        # Chosen once per model: walking the modules costs about 2% of a small MLP's step.
        self._chosen: weakref.WeakKeyDictionary[nn.Module, list[nn.Parameter]] = weakref.WeakKeyDictionary()

    def __call__(self, model: nn.Module) -> Tensor:
        params = self._chosen.get(model)
        if params is None:
            params = self._chosen[model] = self.penalized(model)
        if not params:
            raise ValueError(
                f"{type(self).__name__} found nothing to penalize in {type(model).__name__}: it penalizes the "
                f"weights of {', '.join(t.__name__ for t in self.weight_layers)} layers; use regularizer=none "
                f"for this model"
            )
        total = params[0].new_zeros(())
        if self.l1:
            total = total + self.l1 * sum(p.abs().sum() for p in params)
        if self.l2:
            total = total + self.l2 * sum(p.square().sum() for p in params)
        return total

    def penalized(self, model: nn.Module) -> list[nn.Parameter]:
        """The parameters this penalty sums over, each once."""
        chosen: dict[int, nn.Parameter] = {}
        for module in model.modules():
            is_weight_layer = isinstance(module, self.weight_layers) or (
                self.include_embeddings and isinstance(module, nn.Embedding)
            )
            is_norm = isinstance(module, self.norm_layers)
            for name, p in module.named_parameters(recurse=False):
                weight = is_weight_layer and "weight" in name
                extra = self.include_biases_and_norms and (is_weight_layer or is_norm)
                if weight or extra:
                    chosen[id(p)] = p  # shared (tied) parameters are penalized once
        return list(chosen.values())

    def __getstate__(self) -> dict:
        # Weak references cannot be pickled (a DDP spawn pickles the task): the copy chooses afresh.
        return {**self.__dict__, "_chosen": None}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state, _chosen=weakref.WeakKeyDictionary())

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(l1={self.l1}, l2={self.l2}, "
            f"include_biases_and_norms={self.include_biases_and_norms}, include_embeddings={self.include_embeddings})"
        )


class L1(WeightPenalty):
    """strength * sum |w|: a constant pull toward 0 that leaves many weights near 0 (sparse weights)."""

    def __init__(
        self, strength: float = 1e-4, include_biases_and_norms: bool = False, include_embeddings: bool = False
    ) -> None:
        super().__init__(
            l1=_strength("strength", strength),
            include_biases_and_norms=include_biases_and_norms,
            include_embeddings=include_embeddings,
        )


class L2(WeightPenalty):
    """strength * sum w^2, with no 1/2: its gradient 2 * strength * w is SGD's weight_decay = 2 * strength."""

    def __init__(
        self, strength: float = 1e-4, include_biases_and_norms: bool = False, include_embeddings: bool = False
    ) -> None:
        super().__init__(
            l2=_strength("strength", strength),
            include_biases_and_norms=include_biases_and_norms,
            include_embeddings=include_embeddings,
        )


class ElasticNet(WeightPenalty):
    """l1_strength * sum |w| + l2_strength * sum w^2 (no 1/2): sparse like L1, stable like L2."""

    def __init__(
        self,
        l1_strength: float = 1e-4,
        l2_strength: float = 1e-4,
        include_biases_and_norms: bool = False,
        include_embeddings: bool = False,
    ) -> None:
        super().__init__(
            l1=_strength("l1_strength", l1_strength),
            l2=_strength("l2_strength", l2_strength),
            include_biases_and_norms=include_biases_and_norms,
            include_embeddings=include_embeddings,
        )


def _strength(name: str, value: float) -> float:
    check_number(f"the regularizer's {name}", value, at_least=0, meaning="0 turns it off", error=ValueError)
    return float(value)
