"""What an epoch's diagnostics say is wrong with a layer, and what usually helps.

- Vanishing gradients: a layer's gradient norm is below `vanishing_ratio` (1e-3) times the output
  layer's (the last weighted layer, where back-propagation starts); exploding: above
  `exploding_ratio` (1e3) times it, or not finite. Layers on a side path (attention's scores) are not
  judged this way (layers.side_path_layers).
- Vanishing back through time (recurrent layers): the loss's gradient reaching the first step's
  hidden state is below `vanishing_ratio` times the one reaching the last step's (see bptt.py).
- Dead or saturated: more than `warn_fraction` (0.5) of a ReLU layer's units are dead, or of a
  sigmoid/tanh layer's units saturated (see activations.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

PROBLEMS = {
    "vanishing": "gradients vanish",
    "vanishing_in_time": "gradients vanish back through time",
    "vanishing_in_time_gated": "gradients vanish back through time",
    "exploding": "gradients explode",
    "dead": "dead ReLU units",
    "saturated": "saturated units",
}
ADVICE = {
    "vanishing": "ReLU with He init (model.activation=relu init=he_normal), batch norm (model.norm=batch), or fewer "
    "layers usually help",
    "vanishing_in_time": "an LSTM or GRU (model=lstm, model=gru) or shorter sequences usually help",
    "vanishing_in_time_gated": "more training, an init scheme that opens the LSTM forget gate (init=xavier_uniform "
    "sets init.forget_bias=1.0; init=default leaves it at 0), or shorter sequences usually help",
    "exploding": "gradient clipping (trainer.gradient_clip_val=1.0) or a lower learning rate (optimizer.lr) usually help",
    "dead": "a lower learning rate (optimizer.lr), He init (init=he_normal) or leaky_relu usually help",
    "saturated": "Xavier or He init (init=xavier_normal, he_normal), ReLU, or batch norm (model.norm=batch) usually help",
}


@dataclass(frozen=True)
class Finding:
    layer: str
    kind: str  # a key of ADVICE
    what: str  # the numbers behind it, e.g. "grad norm 2.1e-07, 4.3e-06 x the output layer's"


@dataclass(frozen=True)
class Thresholds:
    vanishing_ratio: float
    exploding_ratio: float
    warn_fraction: float


def gradient_findings(grad_norms: dict[str, float], thresholds: Thresholds) -> list[Finding]:
    """Layers whose gradient norm is far from the output layer's.

    `grad_norms` lists the layers from input to output (the order models register them in).
    Back-propagation starts at the output layer, and what reaches a layer has passed through every
    layer after it: a gradient that shrinks (or grows) a few times per layer adds up, over a deep
    stack, to orders of magnitude, which is what the output layer is the yardstick for. Healthy
    networks, convolutional ones included, keep their layers within a factor of ten or so.
    """
    finite = [g for g in grad_norms.values() if math.isfinite(g)]
    reference = finite[-1] if finite else 0.0
    names = list(grad_norms)
    found = []
    for layer, norm in grad_norms.items():
        if not math.isfinite(norm):
            found.append(Finding(layer, "exploding", f"grad norm {norm}"))
            continue
        if reference <= 0 or layer == names[-1]:
            continue
        what = f"grad norm {norm:.2g}, {norm / reference:.2g} x the output layer's"
        if norm < thresholds.vanishing_ratio * reference:
            found.append(Finding(layer, "vanishing", what))
        elif norm > thresholds.exploding_ratio * reference:
            found.append(Finding(layer, "exploding", what))
    return found


def unit_findings(dead: dict[str, float], saturated: dict[str, float], thresholds: Thresholds) -> list[Finding]:
    found = [
        Finding(layer, "dead", f"{f:.0%} of its units dead")
        for layer, f in dead.items()
        if f > thresholds.warn_fraction
    ]
    found += [
        Finding(layer, "saturated", f"{f:.0%} of its outputs saturated")
        for layer, f in saturated.items()
        if f > thresholds.warn_fraction
    ]
    return found


def bptt_findings(layer: str, cell: str, first_over_last: float | None, thresholds: Thresholds) -> list[Finding]:
    """`cell` is rnn, lstm or gru: a gated cell that loses its gradient needs its gates opened, not replaced."""
    if first_over_last is None or first_over_last >= thresholds.vanishing_ratio:
        return []
    kind = "vanishing_in_time" if cell == "rnn" else "vanishing_in_time_gated"
    return [Finding(layer, kind, f"the gradient at step 1 is {first_over_last:.2g} x the one at the last step")]


def describe(finding: Finding, first_epoch: int, last_epoch: int) -> str:
    """One line for the log and the summary; epochs count from 1."""
    if first_epoch == last_epoch:
        when = f"epoch {first_epoch}"
    else:
        when = f"first in epoch {first_epoch}, last in epoch {last_epoch}"
    return f"{finding.layer}: {PROBLEMS[finding.kind]} ({when}: {finding.what}); {ADVICE[finding.kind]}"


class FindingLog:
    """Each (layer, kind) found, with the first and last epoch it was found in and the latest numbers."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str], tuple[int, int, Finding]] = {}

    def add(self, finding: Finding, epoch: int) -> bool:
        """Record `finding` at `epoch`; True when this layer had not shown this kind before."""
        key = (finding.layer, finding.kind)
        first = self._seen[key][0] if key in self._seen else epoch
        self._seen[key] = (first, epoch, finding)
        return first == epoch

    def lines(self) -> list[str]:
        return [describe(finding, first, last) for first, last, finding in self._seen.values()]
