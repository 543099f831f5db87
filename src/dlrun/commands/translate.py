"""`dlrun translate RUN_DIR [TEXT...]`: decode lines with a trained Seq2Seq run."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path

from dlrun.errors import DlrunError

BATCH = 64


def translate(run_dir: Path, lines: Iterable[str], beam_size: int | None = None) -> Iterable[str]:
    """Each line decoded by the run's model (greedy, or beam search of `beam_size`), in order."""
    import torch

    from dlrun.data.seq2seq.batches import encode_pairs
    from dlrun.experiment import load_trained

    datamodule, model = load_trained(run_dir)
    if not callable(getattr(datamodule, "tokenize_source", None)):
        raise DlrunError(f"'{run_dir}' is a {datamodule.spec.task} run; dlrun translate needs a sequence-to-sequence run.")
    datamodule.setup()
    if beam_size is not None:
        if beam_size < 1:
            raise DlrunError(f"--beam must be at least 1 (1 is greedy decoding), got {beam_size}.")
        model.beam_size = beam_size
    lines = list(lines)
    for start in range(0, len(lines), BATCH):
        chunk = lines[start : start + BATCH]
        sources = [datamodule.tokenize_source(line) or [""] for line in chunk]
        batch = encode_pairs([(source, []) for source in sources], datamodule.source_vocab, datamodule.target_vocab)
        with torch.no_grad():
            tokens = model.decode(batch["source"], batch["source_lengths"])
        for row in tokens.tolist():
            yield datamodule.join_target(datamodule.target_vocab.decode(row))


def read_lines(texts: list[str], input_file: str | None) -> list[str]:
    """Lines from the arguments, else from --input (`-` for stdin), else from stdin."""
    if texts:
        return texts
    if input_file and input_file != "-":
        path = Path(input_file)
        if not path.is_file():
            raise DlrunError(f"--input '{input_file}' is not a file; give a text file with one source per line, or - for stdin.")
        return path.read_text(encoding="utf-8").splitlines()
    return sys.stdin.read().splitlines()
