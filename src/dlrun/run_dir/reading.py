"""Reading a run dir: its files, its config (checked by dlrun.trust) and which weights are where.

Everything here only reads: a verb never changes or removes what a run left behind. Weights go
through the safe loader (dlrun.checkpoints), never through a plain torch.load or Lightning's ckpt_path.
A run dir is untrusted input (see dlrun.trust): its config reaches a verb only through
`RunDir.recorded_config` or `compose_run`, which refuse what an untrusted run may not build.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dlrun.errors import DlrunError, did_you_mean
from dlrun.run_dir.records import BUILT_FROM, CONFIG_FILE, HYDRA_FILE, OVERRIDES_FILE, damaged, read_record
from dlrun.trust.signature import Trust

if TYPE_CHECKING:
    from dlrun.config.compose import ConfigSource
    from dlrun.config.validate import CheckedConfig

WEIGHTS = ("best", "last")
# Which file holds which weights, in order of preference: the safetensors file holds the same best
# weights as best.ckpt and cannot carry code.
WEIGHT_FILES = {
    "best": ("checkpoints/weights.safetensors", "checkpoints/best.ckpt"),
    "last": ("checkpoints/last.ckpt",),
}
# Files some data modules write into the run dir so that new data can be prepared the same way.
PREPROCESSING_FILES = ("vocab.json", "seq2seq_vocab.json", "series.json", "preprocessing.json")


@dataclass
class RunDir:
    path: Path
    trust: Trust  # whether its config may build anything, or only what dlrun builds for anyone
    # Each .hydra file as read once and checked (`_read`): verbs ask for them many times.
    _records: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def config_file(self) -> Path:
        return self.path / CONFIG_FILE

    def recorded_config(self):
        """The job config the run trained with, as Hydra saved it (interpolations unresolved), with
        keys that have moved since at their new places; `open_run` has checked it."""
        from omegaconf import DictConfig

        config = self.config_as_recorded()
        # Checked here, not in `open_run`: a dir holding a config without them still opens far enough
        # to say what else it lacks (its weights, say), but no verb builds anything without them.
        missing = [key for key in BUILT_FROM if not isinstance(config.get(key), DictConfig)]
        if missing:
            raise damaged(self.config_file, CONFIG_FILE, f"has no `{missing[0]}` node")
        return config

    def config_as_recorded(self):
        """`recorded_config` before checking that it has what every verb builds from."""
        from dlrun.config.moved import upgrade_recorded_config

        return upgrade_recorded_config(self._read(CONFIG_FILE))  # a copy: the one read stays as written

    def overrides(self) -> list[str]:
        """The command-line overrides the run was trained with (.hydra/overrides.yaml), spelled as
        they are now."""
        if not (self.path / OVERRIDES_FILE).is_file():
            raise DlrunError(
                f"'{self.path}' has no {OVERRIDES_FILE}, so its config cannot be composed again with new "
                "overrides; it was not written by `dlrun train`."
            )
        from dlrun.config.moved import upgrade_recorded_overrides

        # Moved keys are spelled as they are now; the run's config as written says which node each was in.
        return upgrade_recorded_overrides(list(self._read(OVERRIDES_FILE)), self._read(CONFIG_FILE))

    def hydra_record(self) -> dict[str, Any]:
        """hydra.yaml's `hydra` node as plain data ({} when the file is missing), its parts that
        dlrun reads checked to have the shape Hydra writes."""
        if not (self.path / HYDRA_FILE).is_file():
            return {}
        return self._read(HYDRA_FILE)

    def check_records(self) -> None:
        """Read each .hydra file there is, so that a damaged one is a user error now, whichever a
        verb goes on to use, and not a traceback from deep inside the verb."""
        for name in (CONFIG_FILE, OVERRIDES_FILE, HYDRA_FILE):
            if (self.path / name).is_file():
                self._read(name)

    def _read(self, name: str) -> Any:
        """The .hydra file `name` as dlrun uses it: the config as a DictConfig, the overrides as a
        list of strings, Hydra's record as a dict; a DlrunError naming the file otherwise."""
        if name not in self._records:
            self._records[name] = read_record(self.path / name, name)
        return self._records[name]

    def recorded_config_dir(self) -> str | None:
        """The `--config-dir` the run was trained with: Hydra records it in hydra.yaml as the config
        source of provider `command-line`."""
        for source in self.hydra_record().get("runtime", {}).get("config_sources", []) or []:
            if source.get("provider") == "command-line" and source.get("schema") == "file":
                return str(source.get("path"))
        return None

    def recorded_config_name(self) -> str | None:
        return self.hydra_record().get("job", {}).get("config_name")

    def original_cwd(self) -> Path | None:
        """The directory `dlrun train` was started in (relative data paths start there)."""
        cwd = self.hydra_record().get("runtime", {}).get("cwd")
        return Path(cwd) if cwd else None

    def weights_file(self, which: str, fall_back_to_last: bool = False) -> Path:
        """The file of the run's `which` weights (best or last), or `which` itself when it names a
        weights file; with `fall_back_to_last`, the last weights of a run that saved no best ones."""
        if which not in WEIGHTS:
            if Path(which).expanduser().is_file():
                return Path(which).expanduser().resolve()
            raise DlrunError(
                f"Unknown --weights '{which}'. Valid choices: {', '.join(WEIGHTS)}, or the path of a weights file "
                f"(.safetensors, .ckpt; relative paths start from {Path.cwd()}).{did_you_mean(which, WEIGHTS)}"
            )
        names = WEIGHT_FILES[which] + (WEIGHT_FILES["last"] if fall_back_to_last else ())
        for name in names:
            if (self.path / name).is_file():
                return self.path / name
        hint = " (try --weights last)" if which == "best" and (self.path / WEIGHT_FILES["last"][0]).is_file() else ""
        raise DlrunError(
            f"The run dir '{self.path}' has no {which} weights: none of {', '.join(names)} is "
            f"there{hint}. A run writes them as it trains; one that failed or was stopped early may have none."
        )

    def preprocessing_files(self) -> list[Path]:
        return [self.path / name for name in PREPROCESSING_FILES if (self.path / name).is_file()]

    def relative(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.path))
        except ValueError:
            return str(path)


def open_run(run_dir: str | Path, trust_config: bool = False, accept: str | None = None) -> RunDir:
    """The run dir, checked to be one that `dlrun train` made, and, unless this user's dlrun signed
    it or `trust_config` is the user's word for it, to ask for nothing that dlrun does only for
    trusted runs (see dlrun.trust); `accept` tells how to vouch for it where it is being opened."""
    path = Path(run_dir).expanduser()
    if not path.exists():
        raise DlrunError(f"The run dir '{run_dir}' does not exist.")
    if not path.is_dir():
        raise DlrunError(f"'{run_dir}' is a file, not a run dir; give the directory that `dlrun train` made.")
    if not (path / CONFIG_FILE).is_file():
        raise DlrunError(
            f"'{run_dir}' is not a dlrun run dir (it has no {CONFIG_FILE}); give the dir a `dlrun train` made, "
            "e.g. outputs/train/runs/<timestamp> or one job dir of a sweep."
        )
    from dlrun.trust.gate import check_record
    from dlrun.trust.signature import trust_of

    run = RunDir(path.resolve(), trust_of(path.resolve(), trust_config, accept))
    # Damage is refused whatever the trust: --trust-config vouches for what the files ask for, not
    # that they can be read, and a signed run that was damaged since is no longer signed.
    run.check_records()
    if not run.trust.trusted:
        overrides = run.overrides() if (run.path / OVERRIDES_FILE).is_file() else []
        check_record(run.path, run.trust, run.config_as_recorded(), overrides, run.recorded_config_name())
    return run


def compose_run(
    run: RunDir,
    source: ConfigSource,
    overrides: list[str],
    *,
    run_overrides: Sequence[str] = (),
    users_overrides: Sequence[str] = (),
    users_config_dir: bool = False,
) -> CheckedConfig:
    """The run's config composed again from `overrides` and checked as `dlrun train` checks it.

    `run_overrides` are the run's own (from its .hydra files), `users_overrides` those the user
    gave now, and `users_config_dir` says whether `source`'s config dir is the user's (given now)
    or the one the run recorded. For an untrusted run the composed config is checked before any
    value check, since those import the classes the config names.
    """
    from dlrun.config.validate import check_values_of, compose_checked

    if not run.trust.trusted:
        from dlrun.config.validate import compose_plain
        from dlrun.trust.allowed import targets_in_tree, targets_named_by
        from dlrun.trust.gate import Provenance, check_composed, check_sources

        recorded_dir = None if users_config_dir else source.user_config_dir
        users = targets_named_by(users_overrides)
        if users_config_dir and source.user_config_dir:
            users |= targets_in_tree(Path(source.user_config_dir))
        provenance = Provenance(run.path, list(run_overrides), recorded_dir)
        check_sources(provenance, run.trust)
        check_composed(compose_plain(source, overrides), provenance, run.trust, users)
    return check_values_of(compose_checked(source, overrides))


def restore_recorded_paths(run: RunDir, cfg, recorded) -> list[str]:
    """Relative data paths start from the directory training ran in; when such a path, as the run
    recorded it, is not found from here but is from there, use it from there. Returns what changed."""
    from omegaconf import DictConfig, OmegaConf

    cwd = run.original_cwd()
    data = cfg.get("data")
    if cwd is None or not isinstance(data, DictConfig):
        return []
    changed = []
    for key in list(data.keys()):
        if not str(key).endswith("path"):
            continue
        value = data.get(key)
        if not isinstance(value, str) or not value or os.path.isabs(value) or Path(value).expanduser().exists():
            continue
        if OmegaConf.select(recorded, f"data.{key!s}", default=None) != value:
            continue  # a path the user gave now: it is theirs, relative to here
        there = cwd / value
        if there.exists():
            data[key] = str(there)
            changed.append(f"data.{key!s}={there}")
    return changed


def rebase_relative_paths(run: RunDir, overrides: list[str]) -> tuple[list[str], list[str]]:
    """The run's own overrides, with each relative path (`...path=FILE`) that is not found from here
    but is from the directory training ran in made absolute; and a note for each one changed."""
    cwd = run.original_cwd()
    if cwd is None:
        return list(overrides), []
    rebased, notes = [], []
    for line in overrides:
        key, sep, value = line.partition("=")
        bare = value.strip("'\"")
        if (
            sep
            and key.split(".")[-1].endswith("path")
            and bare
            and not os.path.isabs(bare)
            and not Path(bare).expanduser().exists()
            and (cwd / bare).exists()
        ):
            line = f"{key}={quoted(cwd / bare)}"
            notes.append(f"the run's {key} '{bare}' is read from the directory it trained in: {cwd / bare}")
        rebased.append(line)
    return rebased, notes


def quoted(path: Path) -> str:
    """Quote a path for Hydra's override grammar."""
    text = str(path).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{text}'"


def check_state_fits(model, state: dict, weights: Path) -> None:
    """Load `state` into `model`, turning a mismatch (another architecture) into a user error."""
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        first = " ".join(str(e).split())[:600]
        raise DlrunError(
            f"The weights in '{weights}' do not fit the model this config builds ({first}). Overrides that change "
            "the model's architecture (model.*, or data that changes its inputs or outputs) cannot be evaluated "
            "with this run's weights."
        ) from None
