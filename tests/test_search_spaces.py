"""The hparams_search presets sample only configurations the model accepts: every corner of each
search space (both ends of an interval, every choice, every value of a range), all at once, composes,
passes the value checks and builds, so no trial of a preset is lost to a refused combination."""

from __future__ import annotations

import itertools

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, RangeSweep

from dlrun.building import build_data, build_model
from dlrun.config.compose import ConfigSource, job_config
from dlrun.config.values import check_values

SOURCE = ConfigSource()
PRESETS = [o for o in SOURCE.options("hparams_search") if not o.startswith("_")]


def corners(text: str) -> list:
    """The values of a search-space entry that bound what it samples."""
    (override,) = OverridesParser.create().parse_overrides([f"x={text}"])
    sweep = override.value()
    if isinstance(sweep, ChoiceSweep):
        return list(sweep.list)
    if isinstance(sweep, RangeSweep):
        return list(range(int(sweep.start), int(sweep.stop), int(sweep.step)))
    if isinstance(sweep, IntervalSweep):
        return [sweep.start, sweep.end]
    return [sweep]


@pytest.mark.slow
@pytest.mark.parametrize("preset", PRESETS)
def test_every_corner_of_a_presets_search_space_builds(preset):
    base = SOURCE.compose([f"hparams_search={preset}"], multirun=True)
    space = {str(key): str(value) for key, value in base.hydra.sweeper.params.items()}
    assert space, "a preset with nothing to search"
    spec = build_data(job_config(base)).spec
    keys = list(space)
    for values in itertools.product(*(corners(space[key]) for key in keys)):
        overrides = [f"hparams_search={preset}", *(f"{key}={value}" for key, value in zip(keys, values))]
        cfg = job_config(SOURCE.compose(overrides, multirun=True))
        check_values(cfg)
        build_model(cfg, spec)
