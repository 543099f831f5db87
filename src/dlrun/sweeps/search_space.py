"""An Optuna sweep's search space, from overrides in Hydra's grammar.

One function, `search_space`, turns the lines of a search space (a preset's `hydra.sweeper.params`
written as `key=value`, then the command line's overrides) into Optuna distributions and the
overrides every trial takes as they are. The sweeper asks its trials over it, and the pre-flight check
compares it with a stored study's, so the two can never disagree.

    interval(a, b)             FloatDistribution(a, b), or IntDistribution(a, b) when a and b are integers
    tag(log, interval(a, b))   the same, on a log scale
    range(a, b[, step])        Int- or FloatDistribution over Hydra's range: a, a+step, ... below b
    choice(x, y, ...), x,y     CategoricalDistribution([x, y, ...])
    x                          a fixed override, passed to every trial as written
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dlrun.errors import ConfigError

if TYPE_CHECKING:
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import Override
    from optuna.distributions import BaseDistribution

LOG = "log"
GRAMMAR = (
    "interval(a, b), tag(log, interval(a, b)), range(a, b[, step]), choice(x, y, ...) or x,y,... "
    "(categorical), or a single value (the same in every trial)"
)


@dataclass(frozen=True)
class SearchSpace:
    """What each trial samples (`distributions`) and what it takes as written (`fixed`), in the order
    the lines gave them."""

    entries: dict[str, BaseDistribution | str]  # Optuna's parameter name -> its distribution or override line

    @property
    def distributions(self) -> dict[str, BaseDistribution]:
        from optuna.distributions import BaseDistribution

        return {name: d for name, d in self.entries.items() if isinstance(d, BaseDistribution)}

    @property
    def fixed(self) -> list[str]:
        return [line for line in self.entries.values() if isinstance(line, str)]

    def overrides_for(self, params: dict[str, Any]) -> list[str]:
        """A trial's overrides: each sampled parameter with the value the trial drew, the fixed lines as they are."""
        return [
            entry if isinstance(entry, str) else f"{name}={override_value(params[name])}"
            for name, entry in self.entries.items()
        ]


def search_space(lines: Sequence[str]) -> SearchSpace:
    """The search space of these override lines; a later line for a parameter replaces an earlier one in
    its place (the command line's entries replace a preset's). A ConfigError names an entry Optuna
    cannot search."""
    entries: dict[str, BaseDistribution | str] = {}
    for line in lines:
        override = _parse(line)
        name = override.get_key_element()  # with its +, ++ or ~, as the override would set it
        entries[name] = distribution_of(override) if override.is_sweep_override() else line
    return SearchSpace(entries)


def distribution_of(override: Override) -> BaseDistribution:
    """The Optuna distribution of one sweep override (a ConfigError for one it cannot be)."""
    from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, RangeSweep

    sweep = override.value()
    line = override.input_line
    tags = set(getattr(sweep, "tags", set()))
    if tags - {LOG}:
        raise ConfigError(
            f"The search-space entry '{line}' has the tag(s) {', '.join(sorted(tags - {LOG}))}; the Optuna "
            f"sweeper knows only tag(log, interval(a, b)) (a log scale). Entries are {GRAMMAR}."
        )
    try:
        if isinstance(sweep, IntervalSweep):
            return _interval(sweep.start, sweep.end, LOG in tags, line)
        if isinstance(sweep, RangeSweep) and not sweep.shuffle:
            return _range(list(override.sweep_iterator()), sweep.step, LOG in tags, line)
        if isinstance(sweep, ChoiceSweep | RangeSweep):
            if LOG in tags:
                raise ConfigError(f"'{line}' puts choices on a log scale, which only interval(a, b) has.")
            return _categorical(list(override.sweep_iterator()), line)
    except ValueError as e:  # Optuna's own check of the bounds
        said = str(e).rstrip(".")
        raise ConfigError(f"The search-space entry '{line}' is not a distribution Optuna can sample: {said}.") from None
    raise ConfigError(
        f"The search-space entry '{line}' is a sweep the Optuna sweeper cannot sample "
        f"(glob() names group options by pattern: list them with choice(...)). Entries are {GRAMMAR}."
    )


def _interval(start: Any, end: Any, log: bool, line: str | None) -> BaseDistribution:
    from optuna.distributions import FloatDistribution, IntDistribution

    if log and start <= 0:
        raise ConfigError(f"'{line}' searches a log scale from {start}: its lower end must be above 0.")
    if isinstance(start, int) and isinstance(end, int):
        return IntDistribution(start, end, log=log)
    return FloatDistribution(float(start), float(end), log=log)


def _range(values: list, step: Any, log: bool, line: str | None) -> BaseDistribution:
    """Hydra's range stops below its end (range(1, 4) is 1, 2, 3): the distribution spans the values
    Hydra's own sweep would take, so a preset means the same under either sweeper."""
    from optuna.distributions import FloatDistribution, IntDistribution

    if not values:
        raise ConfigError(f"'{line}' is an empty range: range(a, b, step) needs a below b for a step above 0.")
    low, high, step = min(values), max(values), abs(step)
    if all(isinstance(v, int) for v in values):
        if log and step != 1:
            raise ConfigError(f"'{line}' puts a range with step {step} on a log scale; Optuna takes only step 1 there.")
        return IntDistribution(low, high, log=log, step=1 if log else int(step))
    if log:
        raise ConfigError(f"'{line}' puts a float range on a log scale; use tag(log, interval(a, b)).")
    return FloatDistribution(float(low), float(high), step=float(step))


def _categorical(values: list, line: str | None) -> BaseDistribution:
    from optuna.distributions import CategoricalDistribution

    for value in values:
        if not (value is None or isinstance(value, bool | int | float | str)) or not _round_trips(value):
            raise ConfigError(
                f"The search-space entry '{line}' offers {value!r}; Optuna's choices are single numbers, "
                "strings, true/false or null (a list or dict is a group option to choose by name instead)."
            )
    return CategoricalDistribution(values)


def override_value(value: Any) -> str:
    """`value` as Hydra's grammar writes it, so that the override gives the trial exactly the value drawn."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)  # repr keeps every digit of a float: 0.00012345678901234567 -> 0.00012345678901234567
    text = str(value)
    try:
        if _parsed_value(text) == text:
            return text
    except ConfigError:
        pass  # not a plain value: quoted below
    quote = "'" if "'" not in text else '"'
    return f"{quote}{text}{quote}"


def _round_trips(value: Any) -> bool:
    if isinstance(value, float) and not math.isfinite(value):
        return False
    try:
        return _parsed_value(override_value(value)) == value
    except ConfigError:
        return False


def _parsed_value(text: str) -> Any:
    return _parse(f"x={text}").value()


def _parse(line: str) -> Override:
    from hydra.errors import HydraException

    try:
        (override,) = _parser().parse_overrides([line])
    except HydraException as e:
        said = " ".join(str(e).split())
        raise ConfigError(f"The search-space entry '{line}' does not parse: {said}. Entries are {GRAMMAR}.") from None
    return override


def _parser() -> OverridesParser:
    """Hydra's override parser, with an interval() that keeps integer ends integers.

    Hydra's own makes both ends floats, which would make `interval(1, 8)` a float search: this one
    leaves them as written, so that integer ends search integers.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import IntervalSweep

    def interval(start: int | float, end: int | float) -> IntervalSweep:
        return IntervalSweep(start=start, end=end)

    parser = OverridesParser.create()
    parser.functions.functions["interval"] = interval  # Hydra checks the arguments against its own signature
    return parser
