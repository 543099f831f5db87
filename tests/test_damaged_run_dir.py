"""A run dir whose .hydra files are damaged (not YAML, not text, or not the shape Hydra writes) is a
user error for every verb that opens one: exit 2, one paragraph that names the file, no traceback.

Whether the run is trusted does not matter: damage after signing breaks the signature (the untrusted
path), and --trust-config vouches for what the files ask for, not that they can be read."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import assert_user_error, copy_run, trained

from dlrun.errors import DlrunError
from dlrun.run_dir.reading import CONFIG_FILE, HYDRA_FILE, OVERRIDES_FILE, open_run
from dlrun.trust import signature

NOT_YAML = (b"a: [1, 2\nb: {\n", "is not valid YAML (expected ',' or ']', but got ':' at line 2, column 2)")
NOT_TEXT = (b"\xff\xfe\x00\x81garbage", "is not text")
EMPTY = (b"", "holds nothing")
NUMBER = (b"42\n", "holds the number 42")
REPEATED_KEY = (b"a: 1\na: 2\n", "is not valid YAML (found duplicate key a")

# Each file, damaged in each way: its content and what the error says about it.
DAMAGES: dict[str, list[tuple[bytes, str]]] = {
    OVERRIDES_FILE: [
        NOT_YAML,
        NOT_TEXT,
        EMPTY,
        NUMBER,
        (b"data: iris\n", "holds a mapping"),
        (b"- data=iris\n- 1\n", "lists the number 1 where an override belongs"),
        (b"- data=iris\n- [a, b]\n", "lists a list"),
        (b"- data=iris\n- model=[1, 2\n", "lists 'model=[1, 2', which is not an override (no viable alternative"),
    ],
    CONFIG_FILE: [
        NOT_YAML,
        NOT_TEXT,
        EMPTY,
        NUMBER,
        REPEATED_KEY,
        (b"- seed\n- 0\n", "holds a list"),
        (b"hello\n", "holds the text 'hello'"),
        (b"seed: ${oops\n", "cannot be read as a config"),
        (b"data: iris\nmodel: {}\n", "has the text 'iris' at data, where a mapping belongs"),
        (b"data: {}\nmodel: [mlp]\n", "has a list at model, where a mapping belongs"),
    ],
    HYDRA_FILE: [
        NOT_YAML,
        NOT_TEXT,
        EMPTY,
        NUMBER,
        REPEATED_KEY,
        (b"- hydra\n", "holds a list"),
        (b"job: {}\n", "has no `hydra` node"),
        (b"hydra: 5\n", "has the number 5 as its `hydra` node"),
        (b"hydra:\n  runtime: abc\n", "has the text 'abc' at hydra.runtime"),
        (b"hydra:\n  runtime:\n    cwd: [1, 2]\n", "has a list at hydra.runtime.cwd"),
        (b"hydra:\n  job:\n    config_name: [train]\n", "has a list at hydra.job.config_name"),
        (b"hydra:\n  runtime:\n    config_sources: [conf]\n", "has conf among hydra.runtime.config_sources"),
    ],
}
CASES = [(name, *damage) for name, damages in DAMAGES.items() for damage in damages]


def small_run(root: Path) -> Path:
    """The .hydra files of a run, as small as the reading allows, signed by this user's dlrun."""
    (root / ".hydra").mkdir(parents=True)
    (root / CONFIG_FILE).write_text("seed: 0\ndata:\n  name: iris\nmodel:\n  hidden_sizes: [8]\n")
    (root / OVERRIDES_FILE).write_text("- seed=0\n")
    (root / HYDRA_FILE).write_text(
        "hydra:\n  runtime:\n    cwd: /somewhere\n    config_sources:\n    - {path: hydra.conf, schema: pkg, "
        "provider: hydra}\n  job:\n    config_name: train\n"
    )
    signature.sign(root)
    return root


def test_an_intact_run_dir_is_read_as_recorded(tmp_path):
    run = open_run(small_run(tmp_path / "run"))
    assert run.trust.trusted
    assert run.overrides() == ["seed=0"]
    assert run.recorded_config().data.name == "iris"
    assert run.recorded_config_name() == "train" and run.recorded_config_dir() is None
    assert run.original_cwd() == Path("/somewhere")


def test_missing_records_are_read_as_before(tmp_path):
    # A run dir from before hydra.yaml, or one without overrides, still opens; verbs that compose
    # again say what is missing when they need it.
    run_path = small_run(tmp_path / "run")
    (run_path / HYDRA_FILE).unlink()
    (run_path / OVERRIDES_FILE).unlink()
    run = open_run(run_path)
    assert run.hydra_record() == {} and run.recorded_config_name() is None
    with pytest.raises(DlrunError, match="has no .hydra/overrides.yaml"):
        run.overrides()


def test_a_config_without_data_or_model_opens_but_builds_nothing(tmp_path):
    # Such a dir still opens far enough to say what else it lacks (weights, say: see test_eval).
    run_path = small_run(tmp_path / "run")
    (run_path / CONFIG_FILE).write_text("seed: 0\nmodel: {}\n")
    run = open_run(run_path, trust_config=True)
    with pytest.raises(DlrunError, match=r"config.yaml'\) has no `data` node"):
        run.recorded_config()


@pytest.mark.parametrize("trust_config", [False, True], ids=["signed-then-damaged", "trust-config"])
@pytest.mark.parametrize(("name", "content", "says"), CASES)
def test_each_damage_is_an_error_naming_the_file(tmp_path, name, content, says, trust_config):
    run_path = small_run(tmp_path / "run")
    (run_path / name).write_bytes(content)
    assert not signature.is_signed_here(run_path)
    with pytest.raises(DlrunError) as raised:
        open_run(run_path, trust_config)
    message = str(raised.value)
    assert f"The run dir's {name} ('{run_path.resolve() / name}') {says}" in message, message
    assert "\n" not in message


# -- through the CLI, on copies of trained runs ----------------------------------------------------

IRIS_FEATURES = "sepal length (cm),sepal width (cm),petal length (cm),petal width (cm)\n5.1,3.5,1.4,0.2\n"
VERBS = {
    "eval": ("iris", ["eval", "RUN"]),
    "predict": ("iris", ["predict", "RUN", "new.csv"]),
    "export": ("iris", ["export", "RUN", "--format", "safetensors"]),
    "translate": ("reverse", ["translate", "RUN", "1 2 3"]),
    "resume": ("iris", ["resume", "RUN", "trainer.max_epochs=3"]),
}


@pytest.mark.slow
@pytest.mark.parametrize("verb", list(VERBS))
def test_every_verb_refuses_a_damaged_run_dir(dlrun, tmp_path_factory, tmp_path, verb):
    which, args = VERBS[verb]
    run = copy_run(trained(tmp_path_factory, which), tmp_path / "run")
    (tmp_path / "new.csv").write_text(IRIS_FEATURES)
    # Each verb meets one damaged file, the files and their damages (unreadable, wrong-shaped) spread
    # over the verbs: the root cause is one reader, tested in-process with every damage above.
    at = list(VERBS).index(verb)
    name, damages = list(DAMAGES.items())[at % len(DAMAGES)]
    intact = (run / name).read_bytes()
    content, says = damages[at % len(damages)]
    (run / name).write_bytes(content)
    # Signed (the damage breaks the signature) or vouched for, by turns: either way it is refused.
    trust = ["--trust-config"] if at % 2 else []
    done = dlrun(*[str(run) if a == "RUN" else a for a in args], *trust)
    assert_user_error(done, f"The run dir's {name} ('{run / name}') {says}")
    assert done.stderr.count("\n") == 1, done.stderr  # one paragraph
    (run / name).write_bytes(intact)
    assert signature.is_signed_here(run)  # put back as it was: what was refused was the damage alone
    assert not (run / "export").exists() and not list(run.glob("eval-*.json"))


def test_a_recorded_value_that_does_not_resolve_is_a_config_error():
    from omegaconf import OmegaConf

    from dlrun.building import build
    from dlrun.errors import ConfigError

    node = OmegaConf.create({"_target_": "dlrun.models.mlp.MLP", "input_shape": [4], "hidden_sizes": "${nowhere}"})
    with pytest.raises(ConfigError, match="Could not build model .*Interpolation key 'nowhere' not found"):
        build(node, "model")
