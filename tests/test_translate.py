"""`dlrun translate`: a trained Seq2Seq run decodes what a user types, through the CLI."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_user_error

pytestmark = pytest.mark.slow

COPY = (
    "data=copy",
    "model=seq2seq",
    "data.min_length=3",
    "data.max_length=5",
    "data.vocab_size=6",
    "data.train_size=3000",
    "data.val_size=100",
    "data.test_size=100",
    "model.hidden_size=32",
    "model.embedding_size=16",
    "optimizer.lr=0.005",
    "trainer.max_epochs=4",
    "logger=none",
)


def test_a_trained_copy_run_copies_what_it_is_given(dlrun, tmp_path):
    trained = dlrun("train", *COPY, "hydra.run.dir=copy_run")
    assert trained.returncode == 0, trained.stderr
    sources = ["1 2 3", "5 4 3 2", "0 0 1 1 2"]
    done = dlrun("translate", "copy_run", *sources)
    assert done.returncode == 0, done.stderr
    outputs = done.stdout.splitlines()
    assert len(outputs) == 3 and sum(o == s for o, s in zip(outputs, sources)) >= 2, outputs
    (tmp_path / "sources.txt").write_text("\n".join(sources) + "\n")
    beamed = dlrun("translate", "copy_run", "--input", "sources.txt", "--beam", "3")
    assert beamed.returncode == 0 and len(beamed.stdout.splitlines()) == 3, beamed.stderr
    assert_user_error(dlrun("translate", "copy_run", "1 2", "--beam", "0"), "--beam must be at least 1")
    shown = dlrun("translate", "copy_run", "1 2 3", "--attention")
    output, *alignment = shown.stdout.splitlines()
    assert shown.returncode == 0 and len(alignment) == len(output.split()) + 1, shown.stdout  # + EOS
    assert alignment[0].split()[:3] == [output.split()[0], "<-", "'1'"], alignment
    assert_user_error(dlrun("translate", "copy_run", "1 2", "--attention", "--beam", "3"), "drop --beam")


def test_alignment_lines_name_the_most_weighted_source_token():
    from dlrun.commands.translate import alignment_lines

    matrix = np.array([[0.1, 0.7, 0.2], [0.6, 0.3, 0.1]])
    lines = list(alignment_lines(matrix, ["a", "b", "c"], ["B", "</s>"]))
    assert lines == ["  B     <- 'b' (position 2, weight 0.70)", "  </s>  <- 'a' (position 1, weight 0.60)"]


def test_translate_refuses_what_is_not_a_seq2seq_run(dlrun, tmp_path):
    assert_user_error(dlrun("translate", "missing", "1 2"), "The run dir 'missing' does not exist")
    (tmp_path / "plain").mkdir()
    assert_user_error(dlrun("translate", "plain", "1 2"), "is not a dlrun run dir")
    assert dlrun("train", "debug=fast", "logger=none", "hydra.run.dir=digits_run").returncode == 0
    assert_user_error(dlrun("translate", "digits_run", "1 2"), "needs a sequence-to-sequence run")
