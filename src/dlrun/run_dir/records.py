"""The three files Hydra writes into a run dir's `.hydra/`, read as `dlrun train` wrote them.

A run dir is untrusted input: each file is checked to have the shape `dlrun train` writes, and
whatever is wrong with one is a DlrunError that names it, never a traceback from the verb that reads
it (see run_dir.reading.RunDir, which reads each file once through `read_record`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dlrun.errors import DlrunError

CONFIG_FILE = ".hydra/config.yaml"
OVERRIDES_FILE = ".hydra/overrides.yaml"
HYDRA_FILE = ".hydra/hydra.yaml"
# What `dlrun train` (through Hydra) writes into each of them, for the error that finds otherwise.
WRITTEN_AS = {
    CONFIG_FILE: "the run's config, a mapping of its settings",
    OVERRIDES_FILE: "a list of the overrides the run was started with, one string each",
    HYDRA_FILE: "Hydra's record of the run, a mapping with a `hydra` node",
}
# The nodes of a job config that dlrun builds from: each is a mapping (or null) where it is there,
# and there is no run without its data and model.
CONFIG_NODES: tuple[str, ...] = ("data", "model", "init", "task", "loss", "regularizer", "optimizer")
CONFIG_NODES += ("scheduler", "trainer", "callbacks", "logger", "transfer", "paths")
BUILT_FROM = ("data", "model")


def read_record(path: Path, name: str) -> Any:
    """The .hydra file `name` at `path`, checked to have the shape that `dlrun train` writes (see
    `RunDir._read`). A run dir is untrusted input: whatever is wrong with the file is a DlrunError
    that names it, never a traceback from the verb that reads it."""
    import yaml
    from omegaconf import DictConfig, OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise damaged(path, name, "is not text") from None
    except OSError as e:
        raise damaged(path, name, f"cannot be read ({e.strerror or e})") from None
    try:
        # Plain YAML first, for what the file holds: OmegaConf would read a lone word as a mapping.
        plain = yaml.safe_load(text)
    except (yaml.YAMLError, RecursionError) as e:
        raise damaged(path, name, f"is not valid YAML ({yaml_problem(e)})") from None
    expected = dict if name in (CONFIG_FILE, HYDRA_FILE) else list
    if not isinstance(plain, expected) or (not plain and name != OVERRIDES_FILE):
        raise damaged(path, name, f"holds {kind_of(plain)}")
    if name == OVERRIDES_FILE:
        from hydra.core.override_parser.overrides_parser import OverridesParser
        from hydra.errors import HydraException

        parser = OverridesParser.create()
        for line in plain:
            if not isinstance(line, str):
                raise damaged(path, name, f"lists {kind_of(line)} where an override belongs")
            try:
                parser.parse_override(line)
            except HydraException as e:
                raise damaged(path, name, f"lists {line!r}, which is not an override ({one_line(e, 200)})") from None
        return plain
    try:
        # OmegaConf's own reading, as Hydra's: its numbers (1e-3 is a float) and its interpolations.
        loaded = OmegaConf.load(path)
        if name == CONFIG_FILE and isinstance(plain, dict):
            for key in CONFIG_NODES:
                if not isinstance(plain.get(key), (dict, type(None))):
                    raise damaged(path, name, f"has {kind_of(plain[key])} at {key}, where a mapping belongs")
            return loaded
        node = loaded.get("hydra") if isinstance(loaded, DictConfig) else None
        record = OmegaConf.to_container(node, resolve=False) if isinstance(node, DictConfig) else None
    except yaml.YAMLError as e:  # what only OmegaConf's loader refuses, such as a repeated key
        raise damaged(path, name, f"is not valid YAML ({yaml_problem(e)})") from None
    except (OmegaConfBaseException, OSError, ValueError, RecursionError) as e:
        raise damaged(path, name, f"cannot be read as a config ({one_line(e)})") from None
    if not isinstance(record, dict):
        hydra = dict(plain).get("hydra")
        raise damaged(
            path, name, "has no `hydra` node" if hydra is None else f"has {kind_of(hydra)} as its `hydra` node"
        )
    check_hydra_record(record, path)
    return {str(key): value for key, value in record.items()}


# The parts of hydra.yaml's `hydra` node that dlrun reads, and what Hydra writes in each (None: null).
TEXT: tuple[type, ...] = (str, type(None))
HYDRA_FIELDS = {"runtime": (dict,), "runtime.cwd": TEXT, "runtime.config_sources": (list, type(None))}
HYDRA_FIELDS |= {"job": (dict,), "job.config_name": TEXT}


def check_hydra_record(record: dict, path: Path) -> None:
    """Each part of `record` that dlrun reads has the type Hydra writes there, when it is there."""
    for key, types in HYDRA_FIELDS.items():
        parent, _, leaf = key.rpartition(".")
        node = record.get(parent) if parent else record
        if isinstance(node, dict) and leaf in node and not isinstance(node[leaf], types):
            raise damaged(path, HYDRA_FILE, f"has {kind_of(node[leaf])} at hydra.{key}")
    for source in (record.get("runtime") or {}).get("config_sources") or []:
        if not isinstance(source, dict) or not all(isinstance(source.get(k), TEXT) for k in ("path", "provider")):
            raise damaged(path, HYDRA_FILE, f"has {one_line(source)} among hydra.runtime.config_sources")


def damaged(path: Path, name: str, problem: str) -> DlrunError:
    return DlrunError(
        f"The run dir's {name} ('{path}') {problem}, so the run cannot be opened. It should hold "
        f"{WRITTEN_AS[name]}, as `dlrun train` wrote it: it was changed or damaged since. Put back the file "
        "from a copy of the run dir, or train the run again."
    )


def yaml_problem(error: Exception) -> str:
    """What a YAML parser found and where, without the echo of the file it adds."""
    import yaml

    mark = getattr(error, "problem_mark", None)
    if isinstance(error, yaml.MarkedYAMLError) and error.problem and mark is not None:
        return f"{error.problem} at line {mark.line + 1}, column {mark.column + 1}"
    return one_line(error)


def kind_of(value: object) -> str:
    """How a YAML value reads in an error: 'nothing' (an empty file), 'a list', 'the number 42'."""
    if value is None:
        return "nothing"
    if isinstance(value, (dict, list)):
        return f"{'an empty' if not value else 'a'} {'mapping' if isinstance(value, dict) else 'list'}"
    if isinstance(value, str):
        return f"the text {one_line(value)!r}"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"the number {value}"
    return f"the value {one_line(value)}"


def one_line(value: object, limit: int = 300) -> str:
    """`value` as one line of at most `limit` characters: an error here is one paragraph."""
    text = " ".join(str(value).split())
    return text if len(text) <= limit else f"{text[: limit - 3]}..."
