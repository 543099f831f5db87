"""`dlrun doctor` (versions, devices, data, a short fit of every model family) and `dlrun completion`
(shell scripts that ask Hydra, through `dlrun train -sc query=SHELL`, what to complete)."""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys

import pytest
import torch
from conftest import dlrun_env

from dlrun.commands import doctor_fit
from dlrun.commands.doctor import doctor
from dlrun.errors import ConfigError

FAMILIES = ("mlp", "cnn", "lenet5", "alexnet", "vgg", "resnet", "rnn", "lstm", "gru", "bilstm", "bigru", "seq2seq")


def grid_row(output: str, family: str) -> str:
    """The grid's row for a family (Rich draws it as '│ family │ cell │')."""
    rows = [line for line in output.splitlines() if line.startswith("│") and line.split("│")[1].strip() == family]
    assert rows, f"no row for {family} in:\n{output}"
    return rows[0]


# -- doctor -----------------------------------------------------------------------------------


def test_doctor_passes_and_names_every_family(dlrun):
    done = dlrun("doctor", timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert set(doctor_fit.FAMILY_NAMES) == set(FAMILIES)
    for family in FAMILIES:
        assert "PASS" in grid_row(out, family)
    assert "FAIL" not in out
    for distribution in ("torch", "pytorch-lightning", "hydra-core", "omegaconf", "torchmetrics", "optuna"):
        assert importlib.metadata.version(distribution) in out
    for section in (
        "Versions",
        "Devices",
        "Optional data",
        "fashion-mnist",
        "rotten_tomatoes",
        "espeak-ng",
        "cuda",
        "torch threads",
    ):
        assert section in out
    assert "All 12 fits passed" in out or "All 24 fits passed" in out or "All 36 fits passed" in out


def test_a_family_that_does_not_train_fails_the_grid(monkeypatch, capsys):
    from dlrun.models import CNN

    forward = CNN.forward
    monkeypatch.setattr(CNN, "forward", lambda self, inputs: forward(self, inputs) * float("nan"))
    assert doctor(["mlp", "cnn"]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in grid_row(out, "cnn") and "nan" in out
    assert "PASS" in grid_row(out, "mlp")
    assert "fits failed" in out


def test_a_model_that_cannot_be_built_shows_its_error(monkeypatch, capsys):
    from dlrun.models import LeNet5

    def broken(self, *args, **kwargs):
        raise ValueError("the kernel is upside down")

    monkeypatch.setattr(LeNet5, "__init__", broken)
    monkeypatch.setenv("COLUMNS", "300")  # the error line on one line of the grid
    assert doctor(["lenet5"]) == 1
    row = grid_row(capsys.readouterr().out, "lenet5")
    assert "FAIL" in row and "Could not build model (dlrun.models.lenet.LeNet5): the kernel is upside down" in row


def test_a_loss_that_does_not_change_fails():
    assert doctor_fit._judge([1.5, 1.5, 1.5])[0] is False
    assert doctor_fit._judge([1.5, float("inf"), 1.0])[0] is False
    assert doctor_fit._judge([1.5, 1.4, 1.2]) == (True, "1.5 → 1.2")


def test_an_unknown_family_is_a_user_error():
    with pytest.raises(ConfigError, match="Did you mean mlp"):
        doctor(["mlpp"])


def test_every_family_fits_on_the_synthetic_data_of_its_kind():
    """The in-process path the grid reports (CPU; and CUDA where there is one)."""
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    checks = doctor_fit.check_families(doctor_fit.FAMILIES, devices)
    assert [c for c in checks if not c.ok] == []
    assert len(checks) == len(FAMILIES) * len(devices)


# -- shell completion ------------------------------------------------------------------------


def hydra_query(comp_line: str, shell: str = "bash", *flags: str) -> list[str]:
    """What Hydra answers when a completion script calls `dlrun train -sc query=SHELL` back."""
    env = dlrun_env() | {"COMP_LINE": comp_line, "COMP_POINT": str(len(comp_line))}
    done = subprocess.run(
        [sys.executable, "-m", "dlrun", "train", *flags, "-sc", f"query={shell}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_hydra_completes_groups_options_and_keys_through_dlrun_train():
    assert "model=" in hydra_query("dlrun mod")
    options = hydra_query("dlrun model=")
    assert {"model=cnn", "model=mlp", "model=lstm", "model=seq2seq"} <= set(options)


@pytest.fixture
def dlrun_on_path(tmp_path):
    """An environment whose PATH has a `dlrun` that runs this checkout, as after `pip install`."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    program = bin_dir / "dlrun"
    program.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m dlrun "$@"\n')
    program.chmod(0o755)
    env = dlrun_env()
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    return env


def completion_script(env, shell: str) -> str:
    done = subprocess.run(["dlrun", "completion", shell], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def bash_complete(env, script: str, tmp_path, *lines: str) -> dict[str, list[str]]:
    """COMPREPLY for each line, by calling the script's function as bash does on Tab."""
    (tmp_path / "completion.bash").write_text(script)
    calls = "".join(
        f"COMP_LINE='{line}'; COMP_POINT=${{#COMP_LINE}}; COMP_WORDS=($COMP_LINE); "
        "COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _dlrun_complete; "
        'echo "${COMPREPLY[*]}"\n'
        for line in lines
    )
    done = subprocess.run(
        ["bash", "-c", f"source {tmp_path / 'completion.bash'}\n{calls}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    return dict(zip(lines, (out.split() for out in done.stdout.splitlines()), strict=True))


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_completes_verbs_groups_and_options(dlrun_on_path, tmp_path):
    script = completion_script(dlrun_on_path, "bash")
    assert "complete -o default -F _dlrun_complete dlrun" in script
    replies = bash_complete(
        dlrun_on_path,
        script,
        tmp_path,
        "dlrun tr",
        "dlrun train mod",
        "dlrun train model=c",
        "dlrun show model=cnn optimizer.l",
    )
    assert replies["dlrun tr"] == ["train", "translate"]
    assert "model=" in replies["dlrun train mod"]
    # Bash replaces only the text after '=' (COMP_WORDBREAKS).
    assert replies["dlrun train model=c"] == ["cnn"]
    assert replies["dlrun show model=cnn optimizer.l"] == ["optimizer.lr="]


@pytest.mark.skipif(shutil.which("fish") is None, reason="needs fish")
def test_fish_completes_groups_and_options(dlrun_on_path):
    script = completion_script(dlrun_on_path, "fish")
    done = subprocess.run(
        ["fish", "--no-config", "-c", f"{script}\ncomplete -C'dlrun tr'\ncomplete -C'dlrun train model='"],
        env=dlrun_on_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    replies = done.stdout.split()
    assert replies[:2] == ["train", "translate"]
    assert {"model=cnn", "model=mlp", "model=lstm", "model=seq2seq"} <= set(replies)
    assert not [r for r in replies if "=_" in r]  # model=_recurrent is no option by itself


@pytest.mark.skipif(shutil.which("zsh") is None, reason="needs zsh")
def test_zsh_script_defines_its_completion(dlrun_on_path, tmp_path):
    (tmp_path / "completion.zsh").write_text(completion_script(dlrun_on_path, "zsh"))
    done = subprocess.run(
        [
            "zsh",
            "-f",
            "-c",
            f"autoload -Uz compinit && compinit -u -d {tmp_path}/zcompdump; "
            f"source {tmp_path}/completion.zsh; print -r -- $_comps[dlrun]",
        ],
        env=dlrun_on_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "_dlrun"


def test_completion_for_an_unknown_shell_is_a_user_error(dlrun):
    done = dlrun("completion", "tcsh")
    assert done.returncode == 2
    assert "bash, zsh, fish" in done.stderr
