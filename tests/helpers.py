"""Helpers that several test modules share: the exit-2 check, a checkpoint that carries a payload,
runs trained once through the CLI for the verbs that read a run dir (eval, export), and TensorBoard's
view of run dirs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from conftest import dlrun_env

from dlrun.models import MLP


def assert_user_error(done: subprocess.CompletedProcess, *needles: str) -> None:
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    for needle in needles:
        assert needle in done.stderr


class Payload:
    """Unpickling this runs a shell command that creates `marker`."""

    def __init__(self, marker) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch '{self.marker}'",)


def malicious_checkpoint(path, marker):
    """A checkpoint a dlrun run could have written, with a payload riding along."""
    model = MLP((4,), 3, hidden_sizes=[5])
    state = {f"model.{k}": v for k, v in model.state_dict().items()}
    torch.save({"state_dict": state, "epoch": 3, "extra": Payload(marker)}, path)
    return path


# Runs trained once per test session and shared by test_eval.py and test_export.py: a test that
# changes a run works on its own copy.
_TRAINED: dict[str, Path] = {}

RUNS = {
    "iris": ("data=iris", "debug=fast", "logger=none"),
    "cnn": ("model=cnn", "debug=fast", "logger=none", "model.channels=[4,8]", "model.head_sizes=[16]"),
    "text": (
        "data=text_csv",
        "data.path=texts.csv",
        "data.min_freq=1",
        "model=bilstm",
        "model.hidden_size=8",
        "model.embedding_size=8",
        "debug=fast",
        "logger=none",
    ),
    "reverse": (
        "data=reverse",
        "model=seq2seq",
        "data.train_size=200",
        "data.val_size=20",
        "data.test_size=20",
        "model.hidden_size=8",
        "model.embedding_size=8",
        "debug=fast",
        "logger=none",
    ),
    "csv": ("data=csv", "data.path=a.csv", "data.target=y", "debug=fast", "logger=none", "model.hidden_sizes=[16]"),
}


def run_cli(cwd: Path, *args: str | Path, timeout: float = 300, **env: str) -> subprocess.CompletedProcess:
    """`python -m dlrun ARGS` in `cwd`, as a user runs it (`env`: variables to set on top)."""
    return subprocess.run(
        [sys.executable, "-m", "dlrun", *map(str, args)],
        cwd=cwd,
        env={**dlrun_env(), **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def write_table(path: Path, seed: int, rows: int = 300) -> Path:
    """Three classes from three numeric features, with some noise."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 3))
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int) + (x[:, 2] > 1)
    pd.DataFrame({"f0": x[:, 0], "f1": x[:, 1], "f2": x[:, 2], "y": y}).to_csv(path, index=False)
    return path


def write_texts(path: Path, rows: int = 300) -> Path:
    """Texts of 2 to 14 words; the label says whether "good" outnumbers "bad"."""
    rng = np.random.default_rng(0)
    words = ["good", "bad", "film", "plot", "actor", "long", "short", "music", "scene", "story"]
    texts, labels = [], []
    for _ in range(rows):
        chosen = rng.choice(words, size=int(rng.integers(2, 15)))
        texts.append(" ".join(chosen))
        labels.append("pos" if (chosen == "good").sum() > (chosen == "bad").sum() else "neg")
    pd.DataFrame({"text": texts, "label": labels}).to_csv(path, index=False)
    return path


def trained(tmp_path_factory, name: str) -> Path:
    """The run dir of RUNS[name], trained on first use."""
    if name not in _TRAINED:
        root = tmp_path_factory.mktemp(f"trained-{name}")
        if name == "csv":
            write_table(root / "a.csv", seed=0)
        if name == "text":
            write_texts(root / "texts.csv")
        done = run_cli(root, "train", *RUNS[name], f"hydra.run.dir={name}_run")
        assert done.returncode == 0, done.stdout + done.stderr
        _TRAINED[name] = root / f"{name}_run"
    return _TRAINED[name]


def copy_run(run: Path, to: Path) -> Path:
    shutil.copytree(run, to, ignore=shutil.ignore_patterns("eval-*.json", "export*"))
    return to


def rebuilt(run: Path, checkpoint: str):
    """The run's test split and its network with the weights of `checkpoint`, built here from the run's
    recorded config, through the safe loader: what the test computes its own numbers from."""
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from dlrun.building import model_arguments
    from dlrun.checkpoints import load_weights

    cfg = OmegaConf.load(run / ".hydra" / "config.yaml")
    cfg.paths.output_dir = str(run)
    if cfg.data.get("path") and not Path(cfg.data.path).is_absolute():
        cfg.data.path = str(run.parent / cfg.data.path)  # the fixtures train in the run's parent dir
    datamodule = instantiate(cfg.data)
    model = instantiate(cfg.model, **model_arguments(cfg.model, datamodule.spec))
    model.load_state_dict(load_weights(run / "checkpoints" / checkpoint))
    return datamodule.split("test"), model.eval()


def tensorboard_dir(run_dir: Path) -> Path:
    """Where a run's TensorBoard events are: `tensorboard/<the run's overrides>/` in its run dir."""
    [found] = {path.parent for path in Path(run_dir).glob("tensorboard/**/events.out.tfevents.*")}
    return found


def hparams_dashboard(logdir: Path) -> tuple[dict, list[dict]]:
    """What the HParams tab of `tensorboard --logdir LOGDIR` gets: the experiment and every session
    group, as JSON from the hparams plugin's own HTTP routes, served in this process."""
    import json

    from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
    from tensorboard.plugins import base_plugin
    from tensorboard.plugins.hparams import hparams_plugin
    from werkzeug.test import Client

    events = plugin_event_multiplexer.EventMultiplexer()
    events.AddRunsFromDirectory(str(logdir))
    events.Reload()
    provider = data_provider.MultiplexerDataProvider(events, str(logdir))
    plugin = hparams_plugin.HParamsPlugin(
        base_plugin.TBContext(logdir=str(logdir), multiplexer=events, data_provider=provider)
    )
    routes = plugin.get_plugin_apps()

    def post(route: str, request: dict) -> dict:
        response = Client(routes[route]).post(route, json=request)
        assert response.status_code == 200, response.get_data(as_text=True)
        return json.loads(response.get_data(as_text=True))

    experiment = post("/experiment", {"experimentName": ""})
    every_status = ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"]
    groups = post(
        "/session_groups",
        {"experimentName": "", "allowedStatuses": every_status, "colParams": [], "startIndex": 0, "sliceSize": 1000},
    )
    return experiment, groups["sessionGroups"]
