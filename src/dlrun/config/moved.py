"""Config keys that have moved: the one table of them, what an old spelling is told, and how a run
recorded with old spellings is read.

A user who writes an old key (on the command line or in a config file of their own) gets an error
that names the new one; a run dir written before a key moved still opens, its recorded config and
overrides read as if written today. Imports only OmegaConf.
"""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import DictConfig, OmegaConf, open_dict


@dataclass(frozen=True)
class Moved:
    old: str  # the dotted key as it was written
    new: str  # where it lives now
    why: str
    # Only where the old key's node is built from one of these (`_target_`); empty: wherever it is.
    targets: tuple[str, ...] = ()

    def applies_to(self, key: str, target: object) -> bool:
        """Whether `key` is this old key, in a node built from `target` (its `_target_`)."""
        return key == self.old and (not self.targets or target in self.targets)

    def message(self, written: str | None = None) -> str:
        value = written.split("=", 1)[1] if written and "=" in written else "VALUE"
        return (
            f"'{self.old}' is now '{self.new}' ({self.why}): write {self.new}={value} instead. Runs recorded "
            f"with '{self.old}' still open as they are."
        )


TRANSFER = "starting from earlier weights has a node of its own, `transfer`"
TABLE = "dlrun.data.table.TableDataModule"
PROCEDURAL = "dlrun.data.seq2seq.procedural.ProceduralSeq2SeqDataModule"

MOVED = (
    Moved("model.pretrained", "transfer.pretrained", TRANSFER),
    Moved("model.pretrained_skip", "transfer.skip", TRANSFER),
    Moved("model.freeze", "transfer.freeze", TRANSFER),
    Moved("model.pretrained_lr_scale", "transfer.lr_scale", TRANSFER),
    Moved("data.task", "data.target_kind", "the word `task` names the training task alone", (TABLE,)),
    Moved("data.task", "data.problem", "the word `task` names the training task alone", (PROCEDURAL,)),
)


def moved_from(key: str, target: object) -> Moved | None:
    """Where `key` (dotted) went, if it is a key that moved; `target` is its node's `_target_`."""
    return next((moved for moved in MOVED if moved.applies_to(key, target)), None)


def moved_key(cfg: DictConfig, key: str) -> Moved | None:
    """Where `key` of `cfg` went, if it is a key that moved."""
    key = key.lstrip("+~")
    parent = key.rpartition(".")[0]
    node = OmegaConf.select(cfg, parent, default=None) if parent else cfg
    return moved_from(key, node.get("_target_") if isinstance(node, DictConfig) else None)


def upgrade_recorded_config(cfg: DictConfig) -> DictConfig:
    """A recorded config with each moved key at its new place (a copy; `cfg` is left as it is).
    Keys under a node that was added when they moved get that node's other defaults from the
    primary config."""
    upgraded = cfg.copy()
    for moved in MOVED:
        parent, _, name = moved.old.rpartition(".")
        node = OmegaConf.select(upgraded, parent, default=None) if parent else upgraded
        if not isinstance(node, DictConfig) or name not in node or moved_key(upgraded, moved.old) is not moved:
            continue
        with open_dict(upgraded):
            value = node.pop(name)
            if OmegaConf.select(upgraded, moved.new.rpartition(".")[0], default=None) is None:
                _add_node(upgraded, moved.new.rpartition(".")[0])
            OmegaConf.update(upgraded, moved.new, value, force_add=True)
    return upgraded


def upgrade_recorded_overrides(lines: list[str], recorded: DictConfig) -> list[str]:
    """A run's recorded overrides with each moved key spelled as it is now; `recorded` (the run's
    config as it was written) says which node an old key was in."""
    upgraded = []
    for line in lines:
        prefix = line[: len(line) - len(line.lstrip("+~"))]
        key, sep, value = line[len(prefix) :].partition("=")
        moved = moved_key(recorded, key)
        upgraded.append(f"{prefix}{moved.new}{sep}{value}" if moved and sep else line)
    return upgraded


def _add_node(cfg: DictConfig, path: str) -> None:
    """The node at `path` as the shipped primary config has it today (a run recorded before the node
    existed trained with its defaults)."""
    from dlrun.config.location import PRIMARY_CONFIG, config_dir

    default = OmegaConf.select(OmegaConf.load(config_dir() / f"{PRIMARY_CONFIG}.yaml"), path, default=None)
    OmegaConf.update(cfg, path, default.copy() if isinstance(default, DictConfig) else {}, force_add=True)
