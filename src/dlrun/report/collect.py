"""Find the results.json files under the dirs a user names and read each into a RunRecord.

A report must show every run it finds, so nothing here raises for one bad file: a file that cannot
be read becomes a record with status "unreadable" and the reason. Only a dir that is missing, or
that holds no run at all, is the user's error.
"""

from __future__ import annotations

import json
import math
import os
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path

from dlrun.epochs import recorded_epoch
from dlrun.errors import DlrunError
from dlrun.results import RESULTS_FILE

UNREADABLE = "unreadable"
# Overrides that only say where or how Hydra ran, not what was trained.
IGNORED_PREFIX = "hydra"
SEED = "seed"
# The config groups whose choice decides what a metric means: runs on other data, or trained as
# another task, are never ranked against each other (see report.groups).
MEANING_GROUPS = ("data", "task")
HYDRA_RECORD = Path(".hydra") / "hydra.yaml"


@dataclass
class RunRecord:
    """What the report needs of one run, read from its results.json."""

    run_dir: Path  # where the file was found (not the run_dir it names: sweeps get moved)
    status: str
    overrides: dict[str, str] = field(default_factory=dict)
    monitor: str | None = None
    monitor_mode: str | None = None
    best_value: float | None = None
    test_metrics: dict[str, float | None] = field(default_factory=dict)  # null in results.json stays None
    epochs: float | None = None
    wall_time_s: float | None = None
    history: list[dict[str, float]] = field(default_factory=list)
    error: str | None = None
    seed: int | None = None  # the seed it ran with, overridden or not
    # data and task choices (e.g. {"data": "iris", "task": "auto"}), from Hydra's record of the run
    choices: dict[str, str] = field(default_factory=dict)


def best_value_of(record: RunRecord) -> float:
    """The run's best value, for the runs already picked for having one (a sort key)."""
    assert record.best_value is not None
    return record.best_value


def collect(dirs: list[Path]) -> list[RunRecord]:
    """Every run under these dirs, in the order given and in natural order within each dir."""
    problems = [problem for directory in dirs if (problem := _dir_problem(directory))]
    if problems:
        raise DlrunError(" ".join(problems))
    seen: set[Path] = set()
    records = []
    for directory in dirs:
        for path in find_results(directory):
            if path.resolve() not in seen:  # a sweep dir given together with one of its run dirs
                seen.add(path.resolve())
                records.append(read_record(path))
    return records


def _dir_problem(directory: Path) -> str | None:
    expected = "dlrun report expects a run dir or a sweep dir made by `dlrun train` (with results.json files in it)."
    if not directory.exists():
        return f"'{directory}' does not exist; {expected}"
    if not directory.is_dir():
        return f"'{directory}' is a file, not a dir; {expected}"
    if not find_results(directory):
        return f"'{directory}' has no {RESULTS_FILE} under it; {expected}"
    return None


def find_results(directory: Path) -> list[Path]:
    """The results.json files at any depth under `directory`, skipping Hydra's own .hydra dirs."""
    found = []
    for root, subdirs, files in os.walk(directory):
        subdirs[:] = [d for d in subdirs if d != ".hydra"]
        if RESULTS_FILE in files:
            found.append(Path(root) / RESULTS_FILE)
    return sorted(found, key=natural_key)


def natural_key(path: Path) -> list[tuple[int, int | str]]:
    """Sort key that puts sweep job dirs 2 before 10."""
    return [(0, int(chunk)) if chunk.isdigit() else (1, chunk) for chunk in re.split(r"(\d+)", str(path)) if chunk]


def read_record(path: Path) -> RunRecord:
    """The run in this results.json; an "unreadable" record saying why when it cannot be read."""
    run_dir = path.parent
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError(f"expected a JSON object, found {type(data).__name__}")
        record = RunRecord(
            run_dir=run_dir,
            status=str(data["status"]),
            overrides=parse_overrides(_list(data.get("overrides"), "overrides")),
            monitor=data.get("monitor"),
            monitor_mode=data.get("monitor_mode"),
            best_value=_number(data.get("best_value")),
            test_metrics={str(k): _number(v) for k, v in (data.get("test_metrics") or {}).items()},
            epochs=_number(data.get("epochs")),
            wall_time_s=_number(data.get("wall_time_s")),
            history=[
                _user_epochs(data, entry) for entry in _list(data.get("history"), "history") if isinstance(entry, dict)
            ],
            error=data.get("error"),
            seed=data.get("seed") if isinstance(data.get("seed"), int) else None,
        )
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as e:
        reason = f"missing field {e}" if isinstance(e, KeyError) else str(e)
        return RunRecord(run_dir=run_dir, status=UNREADABLE, error=f"{RESULTS_FILE}: {reason}")
    record.choices = meaning_choices(run_dir, record.overrides)
    if record.status == "running" and _process_is_gone(data.get("host"), data.get("pid")):
        record.status = "interrupted"
        record.error = record.error or f"its process (pid {data['pid']}) has ended without finishing the run"
    return record


def meaning_choices(run_dir: Path, overrides: dict[str, str]) -> dict[str, str]:
    """The run's data and task choices: Hydra's record of the run (which knows the defaults a run did
    not override), else its overrides; a choice found in neither is left out."""
    import yaml

    recorded: object = None
    try:
        # Plain safe YAML: the file is untrusted input, and only two strings of it are wanted.
        text = (run_dir / HYDRA_RECORD).read_text(encoding="utf-8")
        recorded = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        for key in ("hydra", "runtime", "choices"):
            recorded = recorded.get(key) if isinstance(recorded, dict) else None
    except (OSError, UnicodeDecodeError, yaml.YAMLError, RecursionError):
        recorded = None  # a run copied without its .hydra, or a damaged file: its overrides still say
    choices = recorded if isinstance(recorded, dict) else {}
    found = {}
    for group in MEANING_GROUPS:
        value = choices.get(group, overrides.get(group))
        if value is not None:
            found[group] = str(value)
    return found


def _number(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"expected a number, found {value!r}")
    return float(value)


def _list(value: object, name: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"expected {name} to be a list, found {value!r}")
    return value


def _process_is_gone(host: object, pid: object) -> bool:
    """Whether a "running" run's process is known to be dead: only provable on this same host.

    A run killed hard (SIGKILL, power loss) never writes its end, so its file says "running" forever.
    """
    if os.name != "posix" or host != socket.gethostname() or not isinstance(pid, int) or pid <= 0:
        return False  # on Windows os.kill(pid, 0) would send a Ctrl-C, not test for the process
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, under another user
        return False
    return False


def parse_overrides(overrides: list[str]) -> dict[str, str]:
    """Hydra override strings as key -> value; `+`/`++` prefixes dropped, hydra.* left out."""
    parsed = {}
    for override in overrides:
        override = str(override)
        if override.startswith("~"):  # a deletion: ~key or ~key=value
            key, value = override[1:].split("=", 1)[0], "(deleted)"
        else:
            key, _, value = override.lstrip("+").partition("=")
        if key != IGNORED_PREFIX and not key.startswith((IGNORED_PREFIX + ".", IGNORED_PREFIX + "/")):
            parsed[key] = value
    return parsed


def varied_keys(records: list[RunRecord]) -> list[str]:
    """The override keys that tell runs apart, in the order they first appear.

    A key varies when its values differ across runs or when only some runs set it; seed never
    counts, since runs that differ only in seed are repeats to average, not settings to compare.
    """
    runs = [r for r in records if r.status != UNREADABLE]
    keys = list(dict.fromkeys(key for r in runs for key in r.overrides if key != SEED))
    return [
        key
        for key in keys
        if any(key not in r.overrides for r in runs) or len({same_value(r.overrides[key]) for r in runs}) > 1
    ]


def same_value(value: str | None) -> float | str | None:
    """A value to compare overrides by, so that lr=0.1 and lr=1e-1 count as one setting."""
    number = as_number(value)
    return value if number is None else number


def as_number(value: str | None) -> float | None:
    """The override's value as a finite number, or None when it is not one (a name, true, ...)."""
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _user_epochs(record: dict, entry: dict) -> dict:
    """A history entry with its epoch as users read it, whichever numbering its record was written with."""
    if "epoch" not in entry:
        return entry
    return {**entry, "epoch": recorded_epoch(record, entry["epoch"])}
