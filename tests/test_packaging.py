"""A non-editable install carries the config tree and the Optuna sweeper plugin, and finds the config
tree from any directory."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import dlrun_env

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_wheel_ships_conf_and_runs_from_elsewhere(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(REPO)],
        check=True,
        capture_output=True,
    )
    [wheel] = dist.glob("dlrun-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {str(p.relative_to(REPO / "conf")) for p in (REPO / "conf").rglob("*.yaml")}
    assert shipped and {f"dlrun/conf/{name}" for name in shipped} <= names
    # The Optuna sweeper's plugin class, where Hydra looks for plugins; hydra_plugins stays a namespace
    # package that Hydra's launcher plugins share.
    assert "hydra_plugins/dlrun_optuna_sweeper/optuna_sweeper.py" in names
    assert "hydra_plugins/__init__.py" not in names

    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = dlrun_env()
    env["PYTHONPATH"] = os.pathsep.join([str(site), env["PYTHONPATH"]])
    where = subprocess.run(
        [sys.executable, "-c", "from dlrun.config.location import config_dir; print(config_dir())"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(where.stdout.strip()) == site / "dlrun" / "conf"
    done = subprocess.run(
        [sys.executable, "-m", "dlrun", "train", "debug=fast"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert list(elsewhere.glob("outputs/train/runs/*/results.json"))
