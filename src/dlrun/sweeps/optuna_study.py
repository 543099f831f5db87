"""Opening an Optuna sweep's study and building its sampler, for the sweeper and its pre-flight check.

Each mistake is a ConfigError that says what to change: a storage that cannot be opened, a sampler
that cannot be built.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from omegaconf import DictConfig, OmegaConf

from dlrun.errors import ConfigError

if TYPE_CHECKING:
    from optuna import Study
    from optuna.samplers import BaseSampler

SQLITE = "sqlite:///"
DIRECTIONS: dict[str, Literal["minimize", "maximize"]] = {"minimize": "minimize", "maximize": "maximize"}
STORAGE_HINT = (
    "Give an RDB URL that SQLAlchemy can open, e.g. hydra.sweeper.storage=sqlite:///outputs/optuna/NAME/study.db "
    "(the presets' default), or hydra.sweeper.storage=null to keep the study in memory."
)


def prepare_storage(storage: str | None) -> None:
    """sqlite makes its database file but not the file's dir: make the dir."""
    if not storage or not storage.startswith(SQLITE) or storage == SQLITE + ":memory:":
        return
    folder = Path(storage[len(SQLITE) :]).parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(
            f"hydra.sweeper.storage '{storage}' cannot be opened: its dir {folder} cannot be made "
            f"({e.strerror or e}). {STORAGE_HINT}"
        ) from None


def stored_study(storage: str | None, study_name: str | None) -> Study | None:
    """The study already in the storage, or None (no storage, or no such study yet). Opening the
    storage makes an sqlite file that is not there yet."""
    if not storage or not study_name:
        return None
    import optuna

    prepare_storage(storage)
    try:
        return optuna.load_study(study_name=study_name, storage=_opened(storage))
    except KeyError:  # Optuna's word for "no study of that name in this storage"
        return None


def open_study(storage: str | None, study_name: str | None, direction: str) -> Study:
    """The study to add trials to: the stored one of that name, or a new one."""
    import optuna

    if direction not in DIRECTIONS:
        raise ConfigError(f"hydra.sweeper.direction is {direction}; an Optuna study can minimize or maximize.")

    prepare_storage(storage)
    try:
        return optuna.create_study(
            storage=_opened(storage) if storage else None,
            study_name=study_name,
            direction=DIRECTIONS[direction],
            load_if_exists=True,
        )
    except ValueError as e:  # Optuna refuses the study as it is stored
        raise ConfigError(
            f"The Optuna study '{study_name}' cannot be opened with hydra.sweeper.direction={direction}: {e}"
        ) from None


def _opened(storage: str):
    """The RDB storage, opened once here, so that a URL it cannot open is a user error, not a traceback."""
    import optuna

    try:
        return optuna.storages.RDBStorage(storage)
    except Exception as e:  # noqa: BLE001 - SQLAlchemy's and the drivers' errors have no common base
        said = " ".join(str(e).split()).rstrip(".") or type(e).__name__
        if "storage upgrade" in said:  # made by an older Optuna, e.g. the 2.10 of earlier dlrun releases
            raise ConfigError(
                f"hydra.sweeper.storage '{storage}' holds studies in an older Optuna's tables: upgrade it once with "
                f"`optuna storage upgrade --storage {storage}`, then run the sweep again."
            ) from None
        raise ConfigError(f"hydra.sweeper.storage '{storage}' cannot be opened: {said}. {STORAGE_HINT}") from None


def build_sampler(sampler: DictConfig | None, trials_done: int) -> BaseSampler | None:
    """The sampler the config names, its seed moved past the trials the study already holds (with the
    same seed, a resumed study would repeat its first trials exactly); None for Optuna's default."""
    if sampler is None:
        return None
    from hydra.utils import instantiate

    settings: Any = OmegaConf.to_container(sampler, resolve=True)
    seed = settings.get("seed")
    if isinstance(seed, int) and trials_done:
        settings["seed"] = seed + trials_done
    try:
        built = instantiate(settings)
    except Exception as e:  # noqa: BLE001 - a target that does not import, or arguments it refuses
        said = " ".join(str(e).split())
        raise ConfigError(
            f"The Optuna sampler {settings.get('_target_')} cannot be built: {said}. Pick one with "
            "hydra/sweeper/sampler=tpe|random|cmaes, or give a _target_ of optuna.samplers with arguments it takes."
        ) from None
    from optuna.samplers import BaseSampler

    if not isinstance(built, BaseSampler):
        raise ConfigError(
            f"hydra.sweeper.sampler builds {type(built).__name__} from {settings.get('_target_')}, which is not an "
            "Optuna sampler; pick one with hydra/sweeper/sampler=tpe|random|cmaes."
        )
    return built
