"""How often the decoder is fed the gold previous token while training (scheduled sampling).

Bengio et al. (2015) start with teacher forcing (ratio 1) and decay the ratio, so the model learns
to continue from its own mistakes as it will have to when decoding free-running. The coin is tossed
per token per example (see Decoder.forward): the paper found per-sequence coins "much worse".
"""

from __future__ import annotations

import math
from typing import Literal

from dlrun.choices import check_choice

Schedule = Literal["constant", "linear", "exponential", "inverse_sigmoid"]


class TeacherForcingSchedule:
    """The ratio after `step` optimizer steps, from `ratio` at step 0 towards 0 over `decay_steps`.

    constant: `ratio` throughout. linear: ratio * max(0, 1 - step / decay_steps). exponential:
    ratio * exp(-5 * step / decay_steps), under 1% of the start at decay_steps. inverse_sigmoid:
    ratio / (1 + exp(10 * (step / decay_steps - 0.5))), a smooth step down centred at half of it.
    """

    def __init__(self, ratio: float = 1.0, schedule: Schedule = "constant", decay_steps: int = 1000) -> None:
        if isinstance(ratio, bool) or not isinstance(ratio, int | float) or not 0.0 <= ratio <= 1.0:
            raise ValueError(
                f"teacher_forcing_ratio must be a number in [0, 1] (1 = always the gold token), got {ratio!r}"
            )
        check_choice("teacher_forcing_schedule", schedule, Schedule)
        if isinstance(decay_steps, bool) or not isinstance(decay_steps, int) or decay_steps < 1:
            raise ValueError(f"teacher_forcing_decay_steps must be a whole number of steps >= 1, got {decay_steps!r}")
        self.ratio = float(ratio)
        self.schedule = schedule
        self.decay_steps = decay_steps

    def __call__(self, step: int) -> float:
        progress = step / self.decay_steps
        if self.schedule == "linear":
            return self.ratio * max(0.0, 1.0 - progress)
        if self.schedule == "exponential":
            return self.ratio * math.exp(-5.0 * progress)
        if self.schedule == "inverse_sigmoid":
            return self.ratio / (1.0 + math.exp(min(50.0, 10.0 * (progress - 0.5))))
        return self.ratio
