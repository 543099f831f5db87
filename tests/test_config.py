"""The packaged config tree: presets compose, validate, and override the primary config's values."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from dlrun.config.compose import ConfigSource
from dlrun.config.validate import check
from dlrun.errors import ConfigError

SOURCE = ConfigSource()


@pytest.mark.parametrize("preset", [o for o in SOURCE.options("experiment") if not o.startswith("_")])
def test_every_experiment_preset_composes_and_names_its_runs(preset):
    cfg = check(SOURCE, [f"experiment={preset}"]).cfg
    assert cfg.task_name == preset  # the preset wins over train.yaml's default task_name
    assert f"/{preset}/runs/" in str(OmegaConf.select(cfg, "hydra.run.dir"))


def test_debug_presets_override_the_trainer():
    cfg = check(SOURCE, ["debug=fast"]).cfg
    assert cfg.trainer.max_epochs == 1 and cfg.trainer.limit_train_batches == 5


@pytest.mark.parametrize("override", ["=adam", "+=0.1", "~", "@pkg=x"])
def test_an_override_without_a_key_is_named_with_the_grammar(override):
    # Hydra reads '=adam' as the primary config's key '', and its options ('train') would be offered.
    with pytest.raises(ConfigError) as info:
        check(SOURCE, [override])
    message = str(info.value)
    assert message.startswith(f"'{override}' is not an override: it names no key.")
    assert all(form in message for form in ("key=value", "group=option", "+key=value", "~key"))
    assert "train" not in message
