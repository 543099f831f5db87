"""Bad sequence inputs are user errors: one paragraph naming the problem, and exit 2 on the command line.

Each case is built in-process (a subprocess costs seconds); one case goes through the CLI as users
meet it.
"""

from __future__ import annotations

import pytest
from conftest import build_from_overrides
from helpers import assert_user_error

from dlrun.errors import DlrunError

WORDS = "good bad great awful fine dull superb boring".split()


def write_files(root) -> None:
    texts = [" ".join(WORDS[(i * 7 + k) % len(WORDS)] for k in range(5)) for i in range(60)]
    rows = "".join(f"{text},{'pos' if i % 2 else 'neg'}\n" for i, text in enumerate(texts))
    (root / "texts.csv").write_text("review,label\n" + rows)
    (root / "blank.csv").write_text(
        "text,label\n" + "".join(f"{' ' if i == 7 else 'good film'},{i % 2}\n" for i in range(60))
    )
    (root / "short.csv").write_text("t,y\n" + "".join(f"{i},{i / 2}\n" for i in range(20)))
    (root / "words.csv").write_text("t,y\n" + "".join(f"{i},{'x' if i == 30 else i / 2}\n" for i in range(100)))


@pytest.mark.parametrize(
    ("overrides", "needles"),
    [
        (("data=text_csv", "data.path=texts.csv"), ("data.text_column 'text'", "Columns: review, label")),
        (
            ("data=text_csv", "data.path=texts.csv", "data.text_column=review", "data.label_column=lable"),
            ("data.label_column 'lable'", "Did you mean label?"),
        ),
        (("data=text_csv", "data.path=blank.csv"), ("row",)),
        (
            ("data=text_csv", "data.path=texts.csv", "data.text_column=review", "data.min_freq=1000"),
            ("only PAD and UNK", "data.min_freq"),
        ),
        (("data=series_csv", "data.path=short.csv", "data.target=y"), ("20 steps", "data.lookback")),
        (("data=series_csv", "data.path=words.csv", "data.target=y"), ("not a number", "'x'")),
        (("data=sunspots", "data.lookback=0"), ("data.lookback must be", "at least 1")),
        (("data=sunspots", "data.horizon=0"), ("data.horizon must be", "at least 1")),
        (("data=iris",), ("needs sequences", "model=mlp for tables")),
    ],
    ids=lambda value: value[-1] if isinstance(value, tuple) and value and "=" in str(value[-1]) else None,
)
def test_bad_sequence_inputs_are_user_errors(tmp_path, monkeypatch, overrides, needles):
    write_files(tmp_path)
    monkeypatch.chdir(tmp_path)  # relative data paths start where dlrun is started
    with pytest.raises(DlrunError) as info:
        build_from_overrides(tmp_path, "model=lstm", *overrides)
    message = str(info.value)
    assert "\n" not in message and all(needle in message for needle in needles), message


def test_token_data_needs_a_model_that_embeds_tokens(tmp_path, monkeypatch):
    write_files(tmp_path)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DlrunError, match="token ids.*model=lstm"):
        build_from_overrides(tmp_path, "model=mlp", "data=text_csv", "data.path=texts.csv", "data.text_column=review")


@pytest.mark.slow
def test_on_the_command_line_they_exit_2_without_a_traceback(dlrun, tmp_path):
    write_files(tmp_path)
    done = dlrun("train", "debug=fast", "model=lstm", "data=series_csv", "data.path=short.csv", "data.target=y")
    assert_user_error(done, "20 steps", "data.lookback")
    assert not list(tmp_path.glob("outputs/**/checkpoints/*"))  # nothing trained, nothing saved
