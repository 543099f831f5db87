"""`dlrun eval RUN_DIR [OVERRIDES...]`: test a finished run's weights again, on its own test split or
on other data, and keep the numbers in a new eval-<time>.json in the run dir.

The config is composed as `dlrun train` composed it (the run's own overrides from
.hydra/overrides.yaml, with its --config-dir and --config-name from hydra.yaml) with the new
overrides on top. The weights come through the safe loader before anything is built, and the test
runs through Lightning's `trainer.test` with the run's trainer settings but no loggers, no
checkpoints and no callbacks, so nothing but the eval file is written.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from collections.abc import Set as AbstractSet
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from dlrun.errors import ConfigError, DlrunError
from dlrun.results import json_ready
from dlrun.run_dir.reading import RunDir, compose_run, quoted, rebase_relative_paths
from dlrun.run_dir.rebuilding import open_trained

EVAL_PREFIX = "eval-"
GPU_ACCELERATORS = ("gpu", "cuda")


@dataclass
class Evaluation:
    """What one `dlrun eval` found; written as eval-<time>.json."""

    run_dir: str
    weights: str  # best | last | a weights file
    weights_file: str  # relative to the run dir
    overrides: list[str]  # the new ones, given to this eval
    run_overrides: list[str]  # the run's own, from .hydra/overrides.yaml
    config_dir: str | None
    metrics: dict[str, float] = field(default_factory=dict)
    baselines: dict[str, dict[str, float]] = field(default_factory=dict)
    extras: dict[str, object] = field(default_factory=dict)
    # Metrics of the run's own test in results.json, for comparison (same weights, same data: equal).
    run_test_metrics: dict[str, float] = field(default_factory=dict)
    run_tested_on: str | None = None
    examples: int | None = None  # test examples in the split (before trainer.limit_test_batches)
    device: str | None = None
    notes: list[str] = field(default_factory=list)
    evaluated_at: str = ""
    wall_time_s: float = 0.0
    dlrun_version: str = ""
    torch_version: str = ""
    file: str | None = None


def evaluate(
    run_dir: str | Path,
    overrides: list[str],
    weights: str = "best",
    config_dir: str | None = None,
    trust_config: bool = False,
) -> Evaluation:
    """Compose, build, load the weights, test; returns the evaluation (not yet written)."""
    trained = open_trained(run_dir, weights, trust_config)  # refuses a pickle before anything else runs
    run = trained.run
    started = time.perf_counter()
    evaluated_at = datetime.now().astimezone()
    cfg, config_dir, notes = compose_for_eval(run, list(overrides), config_dir)

    import torch

    import dlrun

    datamodule, task = trained.task(cfg)
    with tempfile.TemporaryDirectory(prefix="dlrun-eval-") as scratch:
        trainer, device_note = eval_trainer(cfg, scratch)
        if device_note:
            notes.append(device_note)
        tested = trainer.test(task, datamodule=datamodule, verbose=False)
    metrics = {k: float(v) for k, v in (tested[0] if tested else {}).items()}
    result = Evaluation(
        run_dir=str(run.path),
        weights=weights,
        weights_file=run.relative(trained.weights),
        overrides=list(overrides),
        run_overrides=run.overrides(),
        config_dir=config_dir,
        metrics=metrics,
        baselines=datamodule.baselines(),
        extras=task.test_extras(),
        examples=_examples(datamodule),
        device=str(trainer.strategy.root_device),
        notes=notes,
        evaluated_at=evaluated_at.isoformat(timespec="seconds"),
        dlrun_version=dlrun.__version__,
        torch_version=torch.__version__,
    )
    result.run_test_metrics, result.run_tested_on = _run_test_metrics(run)
    result.wall_time_s = time.perf_counter() - started
    return result


def compose_for_eval(run: RunDir, overrides: list[str], config_dir: str | None) -> tuple[Any, str | None, list[str]]:
    """The run's config composed again with `overrides` on top, as `dlrun train` would; the job
    config (no `hydra` node), the config dir used, and notes on anything that was adjusted."""
    from omegaconf import open_dict

    from dlrun.config.compose import ConfigSource, job_config
    from dlrun.config.location import PRIMARY_CONFIG

    notes: list[str] = []
    users_config_dir = config_dir is not None
    if config_dir is None:
        config_dir = run.recorded_config_dir()
        if config_dir is not None and not Path(config_dir).is_dir():
            raise DlrunError(
                f"The run was trained with --config-dir '{config_dir}', which is gone; give its configs "
                "again with --config-dir DIR."
            )
    elif not Path(config_dir).is_dir():
        raise DlrunError(f"--config-dir '{config_dir}' is not a directory.")
    source = ConfigSource(config_dir, run.recorded_config_name() or PRIMARY_CONFIG)
    recorded_overrides = run.overrides()
    original, rebased = rebase_relative_paths(run, recorded_overrides)
    notes += rebased
    moved = {a.partition("=")[0].lstrip("+") for a, b in zip(original, recorded_overrides) if a != b}
    merged = merge_overrides(original, overrides, set(source.groups()))
    pin = [f"hydra.run.dir={quoted(run.path)}"]  # ${paths.output_dir} is the run dir (nothing writes there)
    recorded = run.recorded_config()

    def compose(lines: list[str], users: list[str]):
        return job_config(
            compose_run(
                run,
                source,
                lines,
                run_overrides=recorded_overrides,
                users_overrides=users,
                users_config_dir=users_config_dir,
            ).cfg
        )

    try:
        before = compose(original + pin, pin)
    except ConfigError as e:
        raise ConfigError(f"The run's own overrides ({' '.join(original) or 'none'}) no longer compose: {e}") from None
    cfg = compose(merged + pin, [*overrides, *pin])
    with open_dict(cfg):
        notes += restore_drift(recorded, before, cfg, skip=moved)
    return cfg, config_dir, notes


def merge_overrides(original: list[str], new: list[str], groups: set[str]) -> list[str]:
    """The run's overrides, less those the new ones replace, then the new ones.

    A new `key=value` replaces the run's value of that key. A new `group=option` that picks another
    option than the run's drops the run's settings of keys in that group (they belong to the old
    option: `data.path` of a CSV means nothing to `data=iris`); the same option keeps them.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    parser = OverridesParser.create()
    try:
        parsed_new = parser.parse_overrides(new)
        parsed_old = parser.parse_overrides(original)
    except HydraException as e:
        raise ConfigError(f"Could not parse the overrides: {' '.join(str(e).split())}") from None
    new_keys = {o.key_or_group for o in parsed_new}
    old_choice = {o.key_or_group: o.get_value_element_as_str() for o in parsed_old if o.key_or_group in groups}
    switched = {
        o.key_or_group
        for o in parsed_new
        if o.key_or_group in groups
        and o.key_or_group in old_choice
        and o.get_value_element_as_str() != old_choice[o.key_or_group]
    }
    switched |= {o.key_or_group for o in parsed_new if o.key_or_group in groups and o.key_or_group not in old_choice}
    kept = []
    for override in parsed_old:
        key = override.key_or_group
        if key in new_keys:
            continue
        if any(key.startswith(f"{group}.") for group in switched):
            continue
        kept.append(str(override.input_line))
    return kept + list(new)


def restore_drift(recorded, before, cfg, skip: AbstractSet[str] = frozenset()) -> list[str]:
    """Where the packaged configs changed since the run trained (its overrides now compose to other
    values than it recorded), and the new overrides leave the key alone, use the recorded value: the
    weights were trained with it."""
    from omegaconf import OmegaConf

    recorded_values = _leaves(OmegaConf.to_container(recorded, resolve=False))
    before_values = _leaves(OmegaConf.to_container(before, resolve=False))
    now_values = _leaves(OmegaConf.to_container(cfg, resolve=False))
    restored, missing = [], []
    for key, value in recorded_values.items():
        if key in skip:
            continue
        if key not in before_values:
            if key.split(".")[0] in ("data", "model") and all(not k.startswith(key + ".") for k in before_values):
                missing.append(key)
            continue
        if before_values[key] == value or now_values.get(key, _ABSENT) != before_values[key]:
            continue
        OmegaConf.update(cfg, key, value, merge=False, force_add=True)
        restored.append(f"{key}={value!r}")
    notes = []
    if restored:
        notes.append("the configs changed since this run trained; kept the run's recorded " + ", ".join(restored))
    if missing:
        notes.append("the run recorded keys that today's configs no longer have: " + ", ".join(missing))
    return notes


_ABSENT = object()


def _leaves(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_leaves(item, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: value}


def eval_trainer(cfg, scratch: str):
    """A Trainer with the run's settings (precision, test batch limits, determinism) on one device,
    writing nothing: no loggers, checkpoints, callbacks or progress bar."""
    import torch

    from dlrun.building import build, split_step_settings

    trainer_cfg, _ = split_step_settings(cfg.trainer)
    kwargs: dict[str, Any] = dict(
        callbacks=[],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=scratch,
        devices=1,
        num_nodes=1,
    )
    if trainer_cfg.get("strategy") is not None:
        kwargs["strategy"] = "auto"  # DDP or another multi-process strategy: one process tests the whole split
    note = None
    if str(trainer_cfg.get("accelerator")) in GPU_ACCELERATORS and not torch.cuda.is_available():
        kwargs["accelerator"] = "cpu"
        note = "the run trained on a GPU; no GPU here, so this eval ran on the CPU"
    return build(trainer_cfg, "trainer", **kwargs), note


def write_evaluation(result: Evaluation) -> Path:
    """eval-<YYYYmmdd-HHMMSS>.json in the run dir; a name already taken gets -2, -3, ...: an earlier
    file is never replaced (the file is created exclusively)."""
    run_dir = Path(result.run_dir)
    stamp = datetime.fromisoformat(result.evaluated_at).strftime("%Y%m%d-%H%M%S")
    record = asdict(result)
    record.pop("file")
    text = json.dumps(json_ready(record), indent=2, allow_nan=True) + "\n"
    for attempt in range(1, 10_000):
        path = run_dir / f"{EVAL_PREFIX}{stamp}{'' if attempt == 1 else f'-{attempt}'}.json"
        try:
            with open(path, "x", encoding="utf-8") as handle:
                handle.write(text)
        except FileExistsError:
            continue
        result.file = str(path)
        return path
    raise DlrunError(f"Could not find a free eval-{stamp}-N.json name in '{run_dir}'.")


def print_evaluation(result: Evaluation) -> None:
    from rich.console import Console
    from rich.table import Table

    compare = bool(result.run_test_metrics)
    table = Table(title=f"dlrun eval: {result.weights} weights ({result.weights_file})", title_justify="left")
    table.add_column("metric", style="bold")
    table.add_column("value", justify="right")
    if compare:
        table.add_column("run's own test", justify="right")
    for name, value in result.metrics.items():
        row = [name, _number(value)]
        if compare:
            own = result.run_test_metrics.get(name)
            row.append("" if own is None else _number(own))
        table.add_row(*row)
    for baseline, values in result.baselines.items():
        for name, value in values.items():
            table.add_row(f"{name} ({baseline})", _number(value), *([""] if compare else []))
    console = Console(soft_wrap=True)
    console.print(table)
    if compare:
        shown = result.run_tested_on or "?"
        console.print(f"run's own test: results.json, tested on {shown} weights at the end of training")
    console.print(
        f"overrides: {' '.join(result.overrides) or 'none'} (the run's: {' '.join(result.run_overrides) or 'none'})"
    )
    for note in result.notes:
        console.print(f"note: {note}")
    if result.file:
        console.print(f"written: {result.file}")


def _number(value: float) -> str:
    return f"{value:.4f}" if isinstance(value, float) and math.isfinite(value) and abs(value) < 1e6 else f"{value}"


def _run_test_metrics(run: RunDir) -> tuple[dict[str, float], str | None]:
    from dlrun.results import RESULTS_FILE

    try:
        record = json.loads((run.path / RESULTS_FILE).read_text())
        metrics = {k: float(v) for k, v in (record.get("test_metrics") or {}).items()}
        return metrics, record.get("tested_on")
    except (OSError, ValueError, TypeError, AttributeError):
        return {}, None


def _examples(datamodule) -> int | None:
    try:
        split = datamodule.split("test")
        return int(len(next(iter(split.values()))))
    except Exception:  # a user's data module that serves its test split otherwise
        return None
