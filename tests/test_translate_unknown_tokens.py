"""`dlrun translate` names the source tokens its run never saw (decoded as <unk>) on stderr, and
leaves stdout, which scripts read, exactly as it was."""

from __future__ import annotations

import pytest
from helpers import trained

from dlrun.commands.translate import UNKNOWN_SHOWN, note_unknown, unknown_tokens
from dlrun.data.seq2seq import symbol_vocabulary

NOTE = "not in the run's source vocabulary (read as <unk>)"


def test_unknown_tokens_are_the_distinct_ones_outside_the_vocabulary_in_order():
    vocabulary = symbol_vocabulary(["1", "2", "3"])
    sources = [["1", "xyz", "2", "q"], [], ["q", "3", "xyz", "Q"]]
    assert unknown_tokens(sources, vocabulary) == ["xyz", "q", "Q"]
    assert unknown_tokens([["1", "2"], ["3"]], vocabulary) == []


def test_the_note_names_each_token_once_and_cuts_a_long_list(capsys):
    note_unknown(["xyz", "q"])
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"dlrun: {NOTE}: 'xyz', 'q'.\n"
    note_unknown([f"w{i}" for i in range(UNKNOWN_SHOWN + 5)])
    err = capsys.readouterr().err
    assert err.count("'w") == UNKNOWN_SHOWN and err.endswith(" and 5 more.\n"), err


@pytest.mark.slow
def test_translate_notes_unknown_tokens_and_still_translates(dlrun, tmp_path_factory, tmp_path):
    run = trained(tmp_path_factory, "reverse")  # its sources are the digits 0-9; only read here

    done = dlrun("translate", run, "1 xyz 2 q", "3 q 4")
    assert done.returncode == 0, done.stderr
    assert f"{NOTE}: 'xyz', 'q'." in done.stderr
    assert done.stderr.count(NOTE) == 1, done.stderr  # once for all the sources
    # The outputs are those of the same sources with <unk> typed in, which the vocabulary holds.
    as_unk = dlrun("translate", run, "1 <unk> 2 <unk>", "3 <unk> 4")
    assert as_unk.returncode == 0 and NOTE not in as_unk.stderr, as_unk.stderr
    assert done.stdout == as_unk.stdout and len(done.stdout.splitlines()) == 2, done.stdout

    # Lines from --input: the same note, once.
    (tmp_path / "sources.txt").write_text("1 xyz 2 q\n3 q 4\n")
    from_file = dlrun("translate", run, "--input", "sources.txt")
    assert from_file.returncode == 0, from_file.stderr
    assert from_file.stdout == done.stdout
    assert from_file.stderr.count(f"{NOTE}: 'xyz', 'q'.") == 1, from_file.stderr
