"""Run dirs are untrusted input: a shared or edited run dir never gets to build or write what its
config asks for, while the runs a user made here open as before (dlrun.trust)."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import dlrun_env
from helpers import run_cli
from typer.testing import CliRunner

from dlrun.trust import signature

GROUPS = ("data", "model", "task", "init", "optimizer", "scheduler", "callbacks", "logger")
RUN = ("debug=fast", "logger=none", "trainer.max_epochs=1")


def payloads(marker: Path, source: Path) -> dict[str, dict]:
    """Nodes that write `marker` when Hydra builds them: two that Hydra's own blocklist lets through,
    one it blocks (dlrun must not lean on that list, and must refuse all three the same way)."""
    return {
        "copyfile": {"_target_": "shutil.copyfile", "src": str(source), "dst": str(marker)},
        "write_text": {
            "_target_": "pathlib.Path.write_text",
            "_args_": [{"_target_": "pathlib.Path", "_args_": [str(marker)]}, "pwned"],
        },
        "system": {"_target_": "os.system", "command": f"touch {marker}"},
    }


def flow(node: dict) -> str:
    """A node in Hydra's override grammar, as a line of .hydra/overrides.yaml holds it."""
    return yaml.safe_dump(node, default_flow_style=True, width=10_000).strip()


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("trusted")
    done = run_cli(root, "train", *RUN, "hydra.run.dir=run")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return root / "run"


def copy_of(run: Path, where: Path) -> Path:
    shutil.copytree(run, where)
    return where


def add_override(run: Path, line: str) -> None:
    path = run / ".hydra" / "overrides.yaml"
    path.write_text(yaml.safe_dump([*yaml.safe_load(path.read_text()), line]))


def set_in_config(run: Path, group: str, node: dict) -> None:
    path = run / ".hydra" / "config.yaml"
    config = yaml.safe_load(path.read_text())
    config[group] = {**(config.get(group) or {}), "evil": node}
    path.write_text(yaml.safe_dump(config))


def record_config_dir(run: Path, config_dir: Path) -> None:
    """Make .hydra/hydra.yaml say that the run was trained with --config-dir `config_dir`."""
    path = run / ".hydra" / "hydra.yaml"
    record = yaml.safe_load(path.read_text())
    record["hydra"]["runtime"]["config_sources"].insert(
        0, {"path": str(config_dir), "schema": "file", "provider": "command-line"}
    )
    path.write_text(yaml.safe_dump(record))


def cli(*args: str, env: dict[str, str] | None = None):
    from dlrun.cli import app

    return CliRunner().invoke(app, [str(a) for a in args], env=env)


def refused(result, *needles: str) -> None:
    assert result.exit_code == 2, (result.output, result.exception)
    assert "Traceback" not in result.output
    assert result.stderr.count("\n") == 1, result.stderr  # one paragraph
    for needle in needles:
        assert needle in result.stderr, result.stderr


def verbs(run: Path, tmp_path: Path) -> dict[str, tuple[str, ...]]:
    """Every verb that opens a run dir, as a user calls it."""
    (tmp_path / "input.csv").write_text("a\n1\n")
    return {
        "eval": ("eval", run),
        "predict": ("predict", run, tmp_path / "input.csv"),
        "export": ("export", run, "--format", "safetensors", "--output", tmp_path / "exported"),
        "resume": ("resume", run, "trainer.max_epochs=3"),
        "translate": ("translate", run, "hello"),
    }


def test_the_payloads_are_real(tmp_path):
    """Guards the tests below: built the way dlrun builds config nodes, the payloads do write."""
    from hydra.utils import instantiate

    (tmp_path / "source").write_text("x")
    for name in ("copyfile", "write_text"):
        marker = tmp_path / f"{name}-ran"
        instantiate(payloads(marker, tmp_path / "source")[name])
        assert marker.exists(), name


@pytest.mark.parametrize("where", ["overrides", "config"])
def test_a_payload_anywhere_in_a_run_dirs_record_is_refused_by_every_verb(trained, tmp_path, where):
    from dlrun.training.transfer import checkpoint_path

    source = tmp_path / "source"
    source.write_text("payload")
    marker = tmp_path / "payload-ran"
    for group in GROUPS:
        for name, node in payloads(marker, source).items():
            run = copy_of(trained, tmp_path / f"{where}-{group}-{name}")
            if where == "overrides":
                add_override(run, f"+{group}.evil={flow(node)}")
            else:
                set_in_config(run, group, node)
            for verb, args in verbs(run, tmp_path).items():
                refused(cli(*args), f"'{node['_target_']}'", "is not trusted", "--trust-config")
                assert not marker.exists(), (verb, group, name)
            with pytest.raises(Exception, match="is not trusted") as refusal:  # transfer.pretrained=RUN_DIR
                checkpoint_path(run)
            assert "DLRUN_TRUST_CONFIG=1" in str(refusal.value) and not marker.exists()
            assert where != "overrides" or f"{group}.evil" in str(refusal.value)


def test_transfer_pretrained_refuses_a_tampered_run_dir_through_the_cli(trained, tmp_path, dlrun):
    run = copy_of(trained, tmp_path / "shared")
    marker = tmp_path / "payload-ran"
    add_override(run, f"+callbacks.evil={flow(payloads(marker, trained / 'results.json')['copyfile'])}")
    done = dlrun("train", *RUN, "transfer.pretrained=shared")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "'shutil.copyfile'" in done.stderr and "Traceback" not in done.stderr and not marker.exists()
    assert dlrun("train", *RUN, f"transfer.pretrained={trained}").returncode == 0  # the user's own run


def test_what_only_composing_shows_is_refused_by_the_verbs_that_compose(trained, tmp_path):
    """Targets behind an interpolation that builds a node, or in the config dir the run recorded,
    appear only when the run's config is composed again (eval and resume)."""
    marker = tmp_path / "payload-ran"
    node = payloads(marker, trained / "results.json")["copyfile"]
    decoded = copy_of(trained, tmp_path / "decoded")
    add_override(decoded, "+callbacks.evil='${oc.decode:\"" + flow(node) + "\"}'")

    config_dir = tmp_path / "their_conf"
    (config_dir / "model").mkdir(parents=True)
    (config_dir / "model" / "evil.yaml").write_text(yaml.safe_dump(node))
    recorded_dir = copy_of(trained, tmp_path / "recorded_dir")
    add_override(recorded_dir, "model=evil")
    record_config_dir(recorded_dir, config_dir)

    for run, needle in ((decoded, "oc.decode"), (recorded_dir, str(config_dir))):
        for args in (("eval", run), ("resume", run, "trainer.max_epochs=3")):
            refused(cli(*args), "'shutil.copyfile'", needle)
            assert not marker.exists()


def test_hydra_settings_and_writes_outside_the_run_dir_are_refused(trained, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    cases = {
        "+hydra.callbacks.evil={_target_: shutil.copyfile}": "Hydra's own settings",
        "hydra.job_logging.root.level=DEBUG": "Hydra's own settings",
        f"callbacks.model_checkpoint.dirpath={elsewhere}": "outside the run dir",
        "callbacks.last_checkpoint.filename=../../last": "leads out of its dir",
        f"+data.cache_dir={elsewhere}": "a cache at",
    }
    for i, (line, needle) in enumerate(cases.items()):
        run = copy_of(trained, tmp_path / f"case{i}")
        add_override(run, line)
        refused(cli("resume", run, "trainer.max_epochs=3"), needle)
        assert not elsewhere.exists()

    # A primary config that Hydra would look for outside every config dir.
    run = copy_of(trained, tmp_path / "config_name")
    hydra_file = run / ".hydra" / "hydra.yaml"
    record = yaml.safe_load(hydra_file.read_text())
    record["hydra"]["job"]["config_name"] = "../../../elsewhere/train"
    hydra_file.write_text(yaml.safe_dump(record))
    refused(cli("eval", run), "'../../../elsewhere/train', which is not a plain name")

    # A config dir that sets Hydra's node: its logging handlers could append to any file.
    config_dir = tmp_path / "their_conf"
    (config_dir / "experiment").mkdir(parents=True)
    (config_dir / "experiment" / "evil.yaml").write_text(
        "# @package _global_\nhydra:\n  job_logging:\n    handlers:\n      file:\n        filename: /tmp/x\n"
    )
    run = copy_of(trained, tmp_path / "logging")
    add_override(run, "+experiment=evil")
    record_config_dir(run, config_dir)
    refused(cli("resume", run, "trainer.max_epochs=3"), "Hydra's own settings", "evil.yaml")


def test_a_foreign_run_that_builds_only_dlruns_own_classes_opens_as_any_other(trained, tmp_path):
    run = copy_of(trained, tmp_path / "theirs")
    env = {"XDG_DATA_HOME": str(tmp_path / "another-user")}
    done = cli("eval", run, env=env)
    assert done.exit_code == 0, done.output
    assert "test/acc" in done.stdout


def test_a_slot_refuses_an_object_of_another_kind(tmp_path, dlrun):
    from conftest import build_from_overrides

    from dlrun.errors import ConfigError

    with pytest.raises(ConfigError, match="takes a pytorch_lightning.callbacks.callback.Callback"):
        build_from_overrides(tmp_path, "+callbacks.odd={_target_: collections.OrderedDict}")
    with pytest.raises(ConfigError, match="takes a pytorch_lightning.loggers.logger.Logger"):
        build_from_overrides(tmp_path, "+logger.odd={_target_: collections.OrderedDict}")
    done = dlrun("train", *RUN, "+callbacks.odd={_target_: collections.OrderedDict}")
    assert done.returncode == 2 and "Traceback" not in done.stderr and "callbacks.odd" in done.stderr, done.stderr


# -- the user's own runs: signed, so their plug-ins work as before -------------------------------

PLUGIN = '''
from dlrun.models import MLP


class Tiny(MLP):
    """A user's own model class, outside dlrun."""
'''


def run_dlrun(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    """dlrun with the user's plug-in module (cwd/plugins) importable."""
    plugins = os.pathsep.join([str(cwd / "plugins"), dlrun_env()["PYTHONPATH"]])
    return run_cli(cwd, *args, PYTHONPATH=plugins, **env)


@pytest.mark.slow
def test_a_run_with_a_users_plugin_is_trusted_here_and_refused_elsewhere_until_trusted(tmp_path):
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "my_models.py").write_text(PLUGIN)
    plugin = ("model._target_=my_models.Tiny", "model.hidden_sizes=[8]")
    assert run_dlrun(tmp_path, "train", *RUN, *plugin, "hydra.run.dir=mine").returncode == 0
    mine = tmp_path / "mine"
    key = signature.data_dir() / signature.KEY_FILE
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert json.loads((mine / signature.SIGNATURE_FILE).read_text())["algorithm"] == "hmac-sha256"

    done = run_dlrun(tmp_path, "eval", "mine")
    assert done.returncode == 0, done.stderr
    done = run_dlrun(tmp_path, "resume", "mine", "trainer.max_epochs=2")
    assert done.returncode == 0, done.stderr
    assert json.loads((mine / "results.json").read_text())["epochs"] == 2

    # The same run dir as another user receives it: refused until they vouch for it.
    copy_of(mine, tmp_path / "shared")
    other = {"XDG_DATA_HOME": str(tmp_path / "another-user")}
    # (Every verb goes through the same gate: test_a_payload_anywhere_... meets each of them.)
    done = run_dlrun(tmp_path, "resume", "shared", "trainer.max_epochs=3", **other)
    assert done.returncode == 2 and "'my_models.Tiny'" in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert run_dlrun(tmp_path, "eval", "shared", **other, DLRUN_TRUST_CONFIG="1").returncode == 0

    # One byte changed in the user's own run: no longer the run dlrun signed.
    hydra_file = mine / ".hydra" / "hydra.yaml"
    hydra_file.write_bytes(hydra_file.read_bytes() + b"\n")
    done = run_dlrun(tmp_path, "eval", "mine")
    assert done.returncode == 2 and "changed since it was signed" in done.stderr, done.stderr
    assert run_dlrun(tmp_path, "eval", "mine", "--trust-config").returncode == 0  # the flag, as the variable above


def test_a_signature_covers_each_recorded_file_and_only_this_users_key_makes_it(trained, tmp_path, monkeypatch):
    run = copy_of(trained, tmp_path / "run")
    assert signature.is_signed_here(run)
    for name in signature.SIGNED_FILES:
        edited = copy_of(trained, tmp_path / name.replace("/", "_"))
        (edited / name).write_bytes((edited / name).read_bytes() + b" ")
        assert not signature.is_signed_here(edited), name
    (run / signature.SIGNATURE_FILE).write_text('{"digest": "00"}')
    assert not signature.is_signed_here(run)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "another-user"))
    assert not signature.is_signed_here(trained)
    assert not (tmp_path / "another-user").exists()  # checking never makes a key


def test_a_library_target_an_earlier_config_tree_shipped_is_still_allowed():
    from dlrun.trust.allowed import is_allowed

    # Runs recorded before the TensorBoard logger became dlrun's own subclass name Lightning's.
    assert is_allowed("pytorch_lightning.loggers.TensorBoardLogger")
    assert not is_allowed("pytorch_lightning.loggers.MLFlowLogger")  # never shipped: not vouched for
