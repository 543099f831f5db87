"""Rich columns for the training bar: the time and rate of its optimizer steps, read from the
StepClock that the bar's task carries; other bars (validation, test) keep Lightning's columns."""

from __future__ import annotations

from datetime import timedelta

from rich.progress import ProgressColumn, Task
from rich.text import Text

from dlrun.callbacks.step_clock import StepClock

# The field of the training bar's Rich task that holds its StepClock.
CLOCK_FIELD = "step_clock"


def clock_of(task: Task) -> StepClock | None:
    clock = task.fields.get(CLOCK_FIELD)
    return clock if isinstance(clock, StepClock) else None


class _StepColumn(ProgressColumn):
    """A column of the training bar that hands other bars to the Lightning column it replaces."""

    def __init__(self, others: ProgressColumn, style: str | object) -> None:
        super().__init__()
        self.others = others
        self.style = getattr(others, "style", style)


class StepTimeColumn(_StepColumn):
    """`elapsed • remaining` of the epoch's training, as Lightning's time column writes them."""

    max_refresh = 0.5  # as Lightning's: the seconds would jitter otherwise

    def __init__(self, others: ProgressColumn, style: str | object = "dim") -> None:
        super().__init__(others, style)

    def render(self, task: Task) -> Text:
        clock = clock_of(task)
        if clock is None:
            return self.others.render(task)  # type: ignore[return-value]  # Lightning's columns return Text
        remaining = clock.remaining_s()
        left = "-:--:--" if remaining is None else _clock_time(remaining)
        return Text(f"{_clock_time(clock.elapsed_s())} • {left}", style=self.style)  # type: ignore[arg-type]  # a style name or Style


class StepRateColumn(_StepColumn):
    """Optimizer steps per second; Lightning's batches per second on other bars, once they have one."""

    def __init__(self, others: ProgressColumn, style: str | object = "dim underline") -> None:
        super().__init__(others, style)

    def render(self, task: Task) -> Text:
        clock = clock_of(task)
        if clock is None:
            # Lightning's writes 0.00it/s until a bar has a rate: a one-batch validation never does.
            return Text("") if task.speed is None else self.others.render(task)  # type: ignore[return-value]  # Lightning's columns return Text
        rate = clock.steps_per_s()
        return Text(f"{'-.--' if rate is None else f'{rate:.2f}'} steps/s", style=self.style)  # type: ignore[arg-type]  # a style name or Style


def _clock_time(seconds: float) -> str:
    return str(timedelta(seconds=int(seconds)))
