"""The check every verb that opens a run dir makes before it builds anything from the run's config.

A run dir is trusted when this user's dlrun signed it (see `signature`) or the user says so
(`--trust-config`, or DLRUN_TRUST_CONFIG=1 for scripts). For any other run dir the config is data:
every callable it would build must be on the allow-list (see `allowed`), its overrides and config dir
may not change Hydra's own settings (callbacks, logging, environment), and what it would write goes
into the run dir or nowhere. Each refusal names what, where it came from and how to accept it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from dlrun.errors import DlrunError
from dlrun.trust import allowed
from dlrun.trust.signature import TRUST_ENV, TRUST_FLAG, Trust
from dlrun.trust.targets import callables_in

HYDRA = "hydra"
# Where the callbacks, loggers and trainer a run builds write: inside the run dir, or not at all.
WRITE_DIRS = ("dirpath", "save_dir", "default_root_dir", "root_dir", "log_dir")
WRITE_NAMES = ("filename", "name", "version", "sub_dir", "prefix")
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
    composed: bool = False  # False: loaded from .hydra/config.yaml as it is

    def source_of(self, key: str) -> str:
        for line in self.overrides:
            overridden = line.partition("=")[0].lstrip("~+").replace("/", ".")
            if key == overridden or key.startswith((f"{overridden}.", f"{overridden}[")):
                return f".hydra/overrides.yaml, '{line}'"
        if self.composed and self.config_dir:
            return f"the config dir '{self.config_dir}' that .hydra/hydra.yaml names"
        return ".hydra/config.yaml"


def check_config(
    cfg: DictConfig, provenance: Provenance, trust: Trust, also: Iterable[str] = (), what: str = "its config"
) -> None:
    """Refuse, before anything is built, a config from an untrusted run dir that builds a callable
    off the allow-list (`also`: targets the user's own command line names) or writes outside it."""
    if trust.trusted:
        return
    also = set(also)
    targets, opaque = callables_in(cfg)
    # Hydra's own node comes from Hydra's shipped configs alone (check_hydra_untouched).
    targets = [t for t in targets if t.key.split(".")[0] != HYDRA]
    opaque = [o for o in opaque if o.key.split(".")[0] != HYDRA]
    problems = [
        f"{'a _target_ that does not resolve to a name' if t.value is None else repr(t.value)} at {t.key} "
        f"(from {provenance.source_of(t.key)})"
        for t in targets
        if t.value is None or not allowed.is_allowed(t.value, also)
    ]
    problems += [
        f"'{o.text}' at {o.key}, which would only become config when built (from {provenance.source_of(o.key)})"
        for o in opaque
    ]
    problems += _writes_outside(cfg, provenance)
    if problems:
        raise UntrustedRunError(_refusal(provenance.run_dir, trust, f"{what} asks to build " + "; ".join(problems)))


def check_hydra_untouched(provenance: Provenance, trust: Trust) -> None:
    """Refuse an untrusted run whose overrides or config dir change Hydra's own settings: its job
    callbacks, logging (whose handlers can write any file) and environment run when a run is resumed.
    `dlrun train` records Hydra's overrides apart from the job's, so a run's own never touch them."""
    if trust.trusted:
        return
    problems = [
        f"'{line}' (from .hydra/overrides.yaml)"
        for line in provenance.overrides
        if line.partition("=")[0].lstrip("~+").split(".")[0].split("/")[0] == HYDRA
    ]
    if provenance.config_dir:
        problems += [
            f"the file '{path}' of the config dir that .hydra/hydra.yaml names" for path in hydra_settings_in(Path(provenance.config_dir))
        ]
    if problems:
        raise UntrustedRunError(_refusal(provenance.run_dir, trust, "it changes Hydra's own settings: " + "; ".join(problems)))


def hydra_settings_in(config_dir: Path) -> list[Path]:
    """The YAML files of a config dir that set Hydra's node or pick Hydra's own config groups."""
    found = []
    for path in sorted(config_dir.rglob("*.yaml")):
        relative = path.relative_to(config_dir)
        if relative.parts[0] == HYDRA:
            found.append(path)
            continue
        try:
            documents = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            found.append(path)  # unreadable here; Hydra might read it otherwise
            continue
        for document in documents:
            if isinstance(document, dict) and (HYDRA in document or _picks_hydra_groups(document.get("defaults"))):
                found.append(path)
                break
    return found


def _picks_hydra_groups(defaults) -> bool:
    for entry in defaults or []:
        names = [entry] if isinstance(entry, str) else list(entry) if isinstance(entry, dict) else []
        if any(str(name).replace("override ", "").replace("optional ", "").strip().startswith(HYDRA) for name in names):
            return True
    return False


def _writes_outside(cfg: DictConfig, provenance: Provenance) -> list[str]:
    run_dir = provenance.run_dir.resolve()
    problems = []
    for group in WRITING_GROUPS:
        node = cfg.get(group)
        for key, value in _leaves(node, group):
            name = key.rsplit(".", 1)[-1]
            if name in WRITE_DIRS and isinstance(value, str) and not _inside(Path(value), run_dir):
                problems.append(f"a write to '{value}' at {key}, outside the run dir (from {provenance.source_of(key)})")
            elif name in WRITE_NAMES and isinstance(value, str) and ("/" in value or "\\" in value or ".." in value):
                problems.append(f"a file name '{value}' at {key} that leads out of its dir (from {provenance.source_of(key)})")
    for key, value in _leaves(cfg.get("data"), "data"):
        if key.rsplit(".", 1)[-1] == CACHE_KEY and value is not None:
            problems.append(
                f"a cache at '{value}' ({key}, from {provenance.source_of(key)}; without it your own cache dir is used)"
            )
    return problems


def _leaves(node, prefix: str):
    if not isinstance(node, DictConfig):
        return
    for key in node.keys():
        path = f"{prefix}.{key}"
        try:
            value = node[key]
        except OmegaConfBaseException:
            continue  # an interpolation that only a real run resolves (the run dir): not the config's to choose
        if isinstance(value, DictConfig):
            yield from _leaves(value, path)
        else:
            yield path, value


def _inside(path: Path, run_dir: Path) -> bool:
    resolved = (path.expanduser() if path.is_absolute() else Path.cwd() / path.expanduser()).resolve()
    return resolved == run_dir or run_dir in resolved.parents


def _refusal(run_dir: Path, trust: Trust, finding: str) -> str:
    return (
        f"The run dir '{run_dir}' is not trusted ({trust.why}), and {finding}. A run dir is data that someone "
        "else may have written: each _target_ in it is code that runs with your rights, so from a run dir dlrun "
        "did not sign for you it builds only dlrun's own classes and the library callables dlrun's shipped configs "
        "name, leaves Hydra's settings as shipped and writes only into the run dir. If you trust whoever made it, "
        f"and what it builds, give {TRUST_FLAG} (or set {TRUST_ENV}=1) to open it as it is."
    )


def check_recorded(cfg: DictConfig, run_dir: Path, trust: Trust) -> None:
    """The run's .hydra/config.yaml, as loaded, before a verb builds from it."""
    check_config(cfg, Provenance(run_dir), trust, what="its .hydra/config.yaml")
