"""`dlrun translate RUN_DIR [TEXT...]`: decode lines with a trained Seq2Seq run."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dlrun.errors import DlrunError

if TYPE_CHECKING:
    from dlrun.run_dir.rebuilding import TrainedRun

BATCH = 64
# At most this many unknown tokens are named; a file in another language would name thousands.
UNKNOWN_SHOWN = 20


def translate_run(
    run_dir: str, texts: list[str], input_file: str | None, beam_size: int | None, attention: bool, trust_config: bool
) -> Iterable[str]:
    """`dlrun translate`: the run's best (else last) weights decode the texts given, or the lines of
    --input or stdin."""
    from dlrun.run_dir.rebuilding import open_trained

    trained = open_trained(run_dir, trust_config=trust_config, fall_back_to_last=True)
    yield from translate(trained, read_lines(texts, input_file), beam_size, attention, note_unknown)


def note_unknown(tokens: list[str]) -> None:
    """Say on stderr which tokens the model saw as UNK: stdout stays one output per line for scripts."""
    shown = ", ".join(repr(t) for t in tokens[:UNKNOWN_SHOWN])
    more = f" and {len(tokens) - UNKNOWN_SHOWN} more" if len(tokens) > UNKNOWN_SHOWN else ""
    print(f"dlrun: not in the run's source vocabulary (read as <unk>): {shown}{more}.", file=sys.stderr, flush=True)


def unknown_tokens(sources: Iterable[Sequence[str]], vocabulary: Any) -> list[str]:
    """The distinct tokens of `sources` that `vocabulary` encodes as UNK, in the order first met."""
    known = vocabulary.ids
    return list(dict.fromkeys(token for source in sources for token in source if token not in known))


def translate(
    trained: TrainedRun,
    lines: Iterable[str],
    beam_size: int | None = None,
    attention: bool = False,
    on_unknown: Callable[[list[str]], None] | None = None,
) -> Iterable[str]:
    """Each line decoded by the run's model (greedy, or beam search of `beam_size`), in order. With
    `attention`, each output is followed by one indented line per output token: the token, and the
    source token its greedy step weighted most, with that weight, so an alignment can be read by eye.
    `on_unknown` is called once, before the first output, with the source tokens that the run's
    vocabulary does not hold (they are decoded as UNK), if there are any."""
    import torch

    from dlrun.callbacks.attention_maps import attention_table, token_names
    from dlrun.data.seq2seq.batches import encode_pairs

    # A Seq2Seq run's data and network, known by what they can do (a user's own may be other classes).
    datamodule: Any = trained.data()
    run_dir = trained.path
    if not callable(getattr(datamodule, "tokenize_source", None)):
        raise DlrunError(
            f"'{run_dir}' is a {datamodule.spec.task} run; dlrun translate needs a sequence-to-sequence run."
        )
    model: Any = trained.model(datamodule.spec)
    datamodule.setup()
    if beam_size is not None:
        if beam_size < 1:
            raise DlrunError(f"--beam must be at least 1 (1 is greedy decoding), got {beam_size}.")
        model.beam_size = beam_size
    if attention:
        if beam_size not in (None, 1):
            raise DlrunError(
                "--attention shows the weights of greedy decoding; drop --beam, or drop --attention to beam-search."
            )
        if getattr(model, "attention_name", None) == "none":
            raise DlrunError(
                f"'{run_dir}' was trained with model.attention=none: there are no attention weights to show."
            )
    tokenized = [datamodule.tokenize_source(line) for line in lines]
    unknown = unknown_tokens(tokenized, datamodule.source_vocab)
    if unknown and on_unknown is not None:
        on_unknown(unknown)
    for start in range(0, len(tokenized), BATCH):
        # The encoder needs at least one step: an empty line is one empty token, read as UNK.
        sources = [source or [""] for source in tokenized[start : start + BATCH]]
        batch = encode_pairs([(source, []) for source in sources], datamodule.source_vocab, datamodule.target_vocab)
        with torch.no_grad():
            if attention:
                tokens, weights = model.greedy(batch["source"], batch["source_lengths"])
            else:
                tokens, weights = model.decode(batch["source"], batch["source_lengths"]), None
        for i, row in enumerate(tokens.tolist()):
            yield datamodule.join_target(datamodule.target_vocab.decode(row))
            if weights is not None:
                source_tokens = token_names(datamodule.source_vocab, batch["source"][i].tolist())
                output_tokens = token_names(datamodule.target_vocab, row, keep_eos=True)
                yield from alignment_lines(*attention_table(weights[i], source_tokens, output_tokens))


def alignment_lines(matrix, source_tokens: list[str], output_tokens: list[str]) -> Iterable[str]:
    """'  output <- source (weight)' for each output step, the source being the most-weighted one."""
    width = max((len(t) for t in output_tokens), default=0)
    for token, row in zip(output_tokens, matrix):
        j = int(row.argmax())
        yield f"  {token:<{width}}  <- {source_tokens[j]!r} (position {j + 1}, weight {row[j]:.2f})"


def read_lines(texts: list[str], input_file: str | None) -> list[str]:
    """Lines from the arguments, else from --input (`-` for stdin), else from stdin."""
    if texts:
        return texts
    if input_file and input_file != "-":
        path = Path(input_file)
        if not path.is_file():
            raise DlrunError(
                f"--input '{input_file}' is not a file; give a text file with one source per line, or - for stdin."
            )
        return path.read_text(encoding="utf-8").splitlines()
    return sys.stdin.read().splitlines()
