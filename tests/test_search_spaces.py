"""The hparams_search presets sample only configurations the model accepts: every corner of each
search space (both ends of an interval, every choice, every value of a range), all at once, composes,
passes the value checks and builds, so no trial of a preset is lost to a refused combination."""

from __future__ import annotations

import itertools

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, RangeSweep
from omegaconf import OmegaConf

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


@pytest.mark.parametrize("preset", PRESETS)
def test_every_corner_of_a_presets_search_space_builds(preset):
    base = SOURCE.compose([f"hparams_search={preset}"], multirun=True)
    space = {str(key): str(value) for key, value in base.hydra.sweeper.params.items()}
    assert space, "a preset with nothing to search"
    assert not any(SOURCE.is_group(key) for key in space)
    spec = build_data(job_config(base)).spec
    keys = list(space)
    # The entries are values, not group choices: set on the composed config, as the sweeper's overrides
    # set them (composing each of them anew would cost a second each).
    for values in itertools.product(*(corners(space[key]) for key in keys)):
        cfg = job_config(base)
        for key, value in zip(keys, values):
            OmegaConf.update(cfg, key, value, merge=False)
        check_values(cfg)
        build_model(cfg, spec)
