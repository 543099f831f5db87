"""The check every verb that opens a run dir makes before it builds anything from the run's config.

A run dir is trusted when this user's dlrun signed it (see `signature`) or the user says so
(`--trust-config`, or DLRUN_TRUST_CONFIG=1 for scripts). For any other run dir the config is data:
every callable it would build must be on the allow-list (see `allowed`), its overrides and config dir
may not change Hydra's own settings (callbacks, logging, environment), and what it would write goes
into the run dir or nowhere. A refusal names each finding, the file it came from and how to accept.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from hydra.errors import HydraException
from omegaconf import DictConfig, open_dict
from omegaconf.errors import OmegaConfBaseException

from dlrun.errors import DlrunError
from dlrun.trust import allowed
from dlrun.trust.signature import Trust
from dlrun.trust.targets import callables_in

HYDRA = "hydra"
CONFIG_NAME = re.compile(r"[\w-]+")
OVERRIDES_FILE = ".hydra/overrides.yaml"
# Where the callbacks, loggers and trainer a run builds write: inside the run dir, or not at all.
WRITE_DIRS = ("dirpath", "save_dir", "default_root_dir", "root_dir", "log_dir")
WRITE_NAMES = ("filename", "name", "version", "sub_dir")
WRITING_GROUPS = ("callbacks", "logger", "trainer")
# Files the data writes outside the run dir: only where the user's own settings say.
CACHE_KEY = "cache_dir"


class UntrustedRunError(DlrunError):
    """A run dir nobody vouched for asks to build or write something dlrun does not do for one."""


@dataclass
class Provenance:
    """Where an untrusted run's config came from, to say which file and line a finding is in."""

    run_dir: Path
    overrides: list[str] = field(default_factory=list)  # the run's own, from .hydra/overrides.yaml
    config_dir: str | None = None  # the --config-dir recorded in .hydra/hydra.yaml, when composed with it

    def source_of(self, key: str) -> str:
        for line in self.overrides:
            overridden = _override_key(line).replace("/", ".")
            if key == overridden or key.startswith((f"{overridden}.", f"{overridden}[")):
                picked = "." not in _override_key(line) and "=" in line and self.config_dir
                return f"{OVERRIDES_FILE}, '{line}'" + (
                    f", an option of {self._config_dir()} or dlrun's" if picked else ""
                )
        if self.config_dir:
            return self._config_dir()
        return ".hydra/config.yaml"

    def _config_dir(self) -> str:
        return f"the config dir '{self.config_dir}' that .hydra/hydra.yaml names"


def check_record(
    run_dir: Path, trust: Trust, config: DictConfig, overrides: list[str], config_name: str | None
) -> None:
    """All that a run's .hydra files ask for, whichever part a verb goes on to use: the job config
    as recorded, the overrides it was composed from, and the name of its primary config."""
    if trust.trusted:
        return
    findings = _hydra_overrides(overrides)
    if config_name is not None and not CONFIG_NAME.fullmatch(config_name):
        # Hydra joins the name to each config dir: "../.." would reach a file that nothing vouches for.
        findings.append(f"the primary config '{config_name}', which is not a plain name (from .hydra/hydra.yaml)")
    for line in overrides:
        try:
            named = allowed.targets_named_by([line])
        except HydraException:  # Hydra's parser refuses it: so will every composition of it
            continue
        findings += [
            f"{target!r} (from {OVERRIDES_FILE}, '{line}')"
            for target in sorted(named)
            if not allowed.is_allowed(target)
        ]
    config = config.copy()
    if isinstance(config.get("paths"), DictConfig):
        # ${hydra:runtime.output_dir} as the run had it: here it would be this process's own run, if any.
        with open_dict(config):
            config.paths.output_dir = str(run_dir)
    findings += config_findings(config, Provenance(run_dir))
    _refuse(run_dir, trust, findings)


def check_sources(provenance: Provenance, trust: Trust) -> None:
    """Before a verb composes the run's config again: the overrides and config dir it composes from
    leave Hydra's own node as Hydra ships it."""
    if trust.trusted:
        return
    findings = _hydra_overrides(provenance.overrides)
    if provenance.config_dir:
        findings += [
            f"Hydra's own settings in '{path}' of the config dir that .hydra/hydra.yaml names"
            for path in hydra_settings_in(Path(provenance.config_dir))
        ]
    _refuse(provenance.run_dir, trust, findings)


def check_composed(cfg: DictConfig, provenance: Provenance, trust: Trust, also: Iterable[str] = ()) -> None:
    """The run's config as a verb composed it again (with the config dir it recorded, and what
    interpolations turn into), before any of it is imported or built; `also`: the targets the user's
    own command line and config dir name, which are theirs to trust."""
    if not trust.trusted:
        _refuse(provenance.run_dir, trust, config_findings(cfg, provenance, set(also)))


def config_findings(cfg: DictConfig, provenance: Provenance, also: AbstractSet[str] = frozenset()) -> list[str]:
    """What in `cfg` an untrusted run may not have: callables off the allow-list, values that only
    building would turn into config, and writes outside the run dir. Hydra's own node is left out:
    it comes from Hydra's shipped configs alone (see `_hydra_overrides` and `hydra_settings_in`)."""
    targets, opaque = callables_in(cfg)
    findings = [
        f"{'a _target_ that does not resolve to a name' if t.value is None else repr(t.value)} at {t.key} "
        f"(from {provenance.source_of(t.key)})"
        for t in targets
        if _top(t.key) != HYDRA and (t.value is None or not allowed.is_allowed(t.value, also))
    ]
    findings += [
        f"'{o.text}' at {o.key}, which becomes config only as it is built (from {provenance.source_of(o.key)})"
        for o in opaque
        if _top(o.key) != HYDRA
    ]
    return findings + _writes_outside(cfg, provenance)


def hydra_settings_in(config_dir: Path) -> list[Path]:
    """The YAML files of a config dir that set Hydra's node or pick Hydra's own config groups:
    Hydra builds its job callbacks and logging handlers (which can write any file) from them."""
    found = []
    for path in sorted(config_dir.rglob("*.yaml")):
        if path.relative_to(config_dir).parts[0] == HYDRA:
            found.append(path)
            continue
        try:
            documents = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            found.append(path)  # unreadable here; Hydra might read it otherwise
            continue
        if any(isinstance(d, dict) and (HYDRA in d or _picks_hydra_groups(d.get("defaults"))) for d in documents):
            found.append(path)
    return found


def _hydra_overrides(overrides: list[str]) -> list[str]:
    """`dlrun train` records Hydra's overrides apart from the job's, so a run's own never touch Hydra."""
    return [
        f"a change to Hydra's own settings (from {OVERRIDES_FILE}, '{line}')"
        for line in overrides
        if _top(_override_key(line).replace("/", ".")) == HYDRA
    ]


def _picks_hydra_groups(defaults) -> bool:
    for entry in defaults if isinstance(defaults, list) else []:
        names = [entry] if isinstance(entry, str) else list(entry) if isinstance(entry, dict) else []
        if any(str(name).replace("override ", "").replace("optional ", "").strip().startswith(HYDRA) for name in names):
            return True
    return False


def _writes_outside(cfg: DictConfig, provenance: Provenance) -> list[str]:
    run_dir = provenance.run_dir.resolve()
    findings = []
    for group in WRITING_GROUPS:
        for key, value in _leaves(cfg.get(group), group):
            name = key.rsplit(".", 1)[-1]
            if name in WRITE_DIRS and isinstance(value, str) and not _inside(Path(value), run_dir):
                findings.append(
                    f"a write to '{value}' at {key}, outside the run dir (from {provenance.source_of(key)})"
                )
            elif name in WRITE_NAMES and isinstance(value, str) and ("/" in value or "\\" in value or ".." in value):
                findings.append(
                    f"a file name '{value}' at {key} that leads out of its dir (from {provenance.source_of(key)})"
                )
    for key, value in _leaves(cfg.get("data"), "data"):
        if key.rsplit(".", 1)[-1] == CACHE_KEY and value is not None:
            findings.append(
                f"a cache at '{value}' ({key}, from {provenance.source_of(key)}; without it your own cache is used)"
            )
    return findings


def _leaves(node, prefix: str):
    if not isinstance(node, DictConfig):
        return
    for key in node.keys():
        path = f"{prefix}.{key!s}"
        try:
            value = node[key]
        except OmegaConfBaseException:
            continue  # an interpolation that only a real run resolves (to the run dir): not the run's to choose
        if isinstance(value, DictConfig):
            yield from _leaves(value, path)
        else:
            yield path, value


def _inside(path: Path, run_dir: Path) -> bool:
    resolved = (Path.cwd() / path.expanduser()).resolve()
    return resolved == run_dir or run_dir in resolved.parents


def _override_key(line: str) -> str:
    return line.partition("=")[0].strip().lstrip("~+")


def _top(key: str) -> str:
    return key.split(".")[0].split("[")[0]


def _refuse(run_dir: Path, trust: Trust, findings: list[str]) -> None:
    if not findings:
        return
    raise UntrustedRunError(
        f"The run dir '{run_dir}' is not trusted ({trust.why}), and it asks for what dlrun does only for runs you "
        f"trust: {'; '.join(dict.fromkeys(findings))}. A run dir is data that someone else may have written, and each "
        "_target_ in it is code that runs with your rights; so from a run dir that dlrun did not sign for you it "
        "builds only dlrun's own classes and the library callables dlrun's shipped configs name, keeps Hydra's "
        f"settings as shipped and writes only into the run dir. If you trust whoever made it, {trust.accept}."
    )
