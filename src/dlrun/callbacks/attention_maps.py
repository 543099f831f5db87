"""Attention heat maps and sample translations in TensorBoard (and MLflow, W&B), for sequence-to-sequence runs."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytorch_lightning as pl
import torch

from dlrun.callbacks.stage_figure import StageFigure
from dlrun.checks import check_number
from dlrun.data.seq2seq.vocabulary import EOS_ID, EOS_TOKEN, PAD_ID
from dlrun.trackers.sinks import Sinks

SampleRow = tuple[str, str, str]


def attention_table(
    weights: np.ndarray | torch.Tensor, source_tokens: Sequence[str], output_tokens: Sequence[str]
) -> tuple[np.ndarray, list[str], list[str]]:
    """What one heat map draws: (matrix (output rows, source columns), x labels, y labels).

    `weights` (L, S) are one example's attention, row t over the (padded) source for output step t;
    `source_tokens` are its real source tokens (the columns kept: the first len(source_tokens));
    `output_tokens` its decoded tokens, the rows kept up to and including the first EOS (all of
    them when there is none), and never more than `weights` has."""
    weights = weights.detach().cpu().numpy() if isinstance(weights, torch.Tensor) else np.asarray(weights)
    if weights.ndim != 2:
        raise ValueError(f"attention weights of one example are (output steps, source positions), got {weights.shape}")
    output_tokens = list(output_tokens)
    end = output_tokens.index(EOS_TOKEN) + 1 if EOS_TOKEN in output_tokens else len(output_tokens)
    rows = min(end, weights.shape[0])
    columns = min(len(source_tokens), weights.shape[1])
    return weights[:rows, :columns].astype(np.float64), list(source_tokens[:columns]), output_tokens[:rows]


def samples_markdown(rows: Sequence[SampleRow]) -> str:
    """A markdown table source | reference | output, one line per (source, reference, output) row;
    a `|` inside a cell is escaped, and an empty cell shows as a space."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|") or " "

    lines = ["| source | reference | output |", "| --- | --- | --- |"]
    lines += [f"| {cell(s)} | {cell(r)} | {cell(o)} |" for s, r, o in rows]
    return "\n".join(lines)


def token_names(vocab, ids: Sequence[int], keep_eos: bool = False) -> list[str]:
    """Tokens of ids with PAD left out; up to the first EOS (included when `keep_eos`)."""
    names = []
    for i in ids:
        i = int(i)
        if i == EOS_ID:
            if keep_eos:
                names.append(vocab.tokens[i])
            break
        if i != PAD_ID:
            names.append(vocab.tokens[i])
    return names


def draw_attention(matrix: np.ndarray, x_labels: Sequence[str], y_labels: Sequence[str], title: str):
    """A matplotlib Figure: the weights as a heat map, source tokens across, output tokens down, colour bar."""
    from matplotlib.figure import Figure

    width = max(4.0, 0.4 * len(x_labels) + 2.0)
    height = max(3.0, 0.35 * len(y_labels) + 1.5)
    figure = Figure(figsize=(width, height), layout="constrained")
    axes = figure.add_subplot()
    image = axes.imshow(matrix, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto", interpolation="nearest")
    axes.set_xticks(range(len(x_labels)), labels=list(x_labels), rotation=90)
    axes.set_yticks(range(len(y_labels)), labels=list(y_labels))
    axes.set_xlabel("source")
    axes.set_ylabel("output")
    axes.set_title(title)
    figure.colorbar(image, ax=axes)
    return figure


class AttentionMaps(StageFigure):
    """For sequence-to-sequence runs (a model with `greedy`, a data module with `target_vocab`) with
    a logger that takes figures (TensorBoard, MLflow, W&B): on the first `num_examples` examples of the validation split (the same
    ones every time) every `every_n_epochs` validation epochs (0: never), and of the test split
    after testing, decodes greedily and logs `{stage}/attention/{i}` (source tokens across, output
    tokens down to EOS; not for attention=none) and the text `{stage}/samples` (a markdown table
    source | reference | output). Other runs: nothing."""

    def __init__(self, num_examples: int = 4, every_n_epochs: int = 1) -> None:
        check_number("num_examples", num_examples, at_least=1, whole=True, unit="examples", error=ValueError)
        super().__init__(every_n_epochs)
        self.num_examples = num_examples

    def log_figure(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        datamodule = getattr(trainer, "datamodule", None)
        model = getattr(pl_module, "model", None)
        sinks = Sinks.of(trainer.loggers)
        seq2seq = callable(getattr(model, "greedy", None)) and getattr(datamodule, "target_vocab", None) is not None
        if not sinks or not seq2seq:
            return
        assert datamodule is not None  # it has the target vocabulary (seq2seq above)
        split = datamodule.split(stage)
        n = min(self.num_examples, len(split["source"]))
        source = split["source"][:n]
        source_lengths = split["source_lengths"][:n]
        tokens, attention = decode_examples(pl_module, model, source, source_lengths)
        source_vocab, target_vocab = datamodule.source_vocab, datamodule.target_vocab
        rows: list[SampleRow] = []
        step = trainer.global_step
        for i in range(n):
            source_names = token_names(source_vocab, source[i][: int(source_lengths[i])].tolist())
            output_names = token_names(target_vocab, tokens[i].tolist(), keep_eos=True)
            reference = token_names(target_vocab, split["target_out"][i].tolist())
            shown = [t for t in output_names if t != EOS_TOKEN]
            rows.append((" ".join(source_names), " ".join(reference), " ".join(shown)))
            if attention is None:
                continue
            matrix, x_labels, y_labels = attention_table(attention[i], source_names, output_names)
            figure = draw_attention(matrix, x_labels, y_labels, f"{stage} example {i}: attention")
            sinks.figure(f"{stage}/attention/{i}", figure, step)
        text = samples_markdown(rows)
        sinks.text(f"{stage}/samples", text, step)


@torch.no_grad()
def decode_examples(pl_module: pl.LightningModule, model, source: torch.Tensor, source_lengths: torch.Tensor):
    """The model's greedy (tokens, attention or None) on CPU, run in eval mode on the module's
    device; the module is left in the mode it was."""
    training = pl_module.training
    pl_module.eval()
    try:
        tokens, attention = model.greedy(source.to(pl_module.device), source_lengths.to(pl_module.device))
    finally:
        pl_module.train(training)
    return tokens.cpu(), (None if attention is None else attention.float().cpu())
