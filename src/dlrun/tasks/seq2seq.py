"""Sequence to sequence: teacher-forced training, free-running evaluation with exact match, token
accuracy and corpus BLEU, overall and per source-length bucket."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn
from torchmetrics import MeanMetric, MetricCollection
from torchmetrics.classification import MulticlassAccuracy

from dlrun.data.loader import Batch
from dlrun.errors import ConfigError
from dlrun.tasks.base import SupervisedTask
from dlrun.training.losses import TokenCrossEntropy

if TYPE_CHECKING:
    from dlrun.models.seq2seq.model import Seq2Seq

FREE_RUNNING = ("token_acc", "exact_match", "bleu")


class Seq2SeqTask(SupervisedTask):
    """Trains on `target_in` -> `target_out` with the model's teacher-forcing schedule; validation and
    test decode free-running (the model's own `decode`: greedy or beam search), never from gold
    prefixes, which would inflate every metric.

    Logged per stage: `token_acc` (decoded tokens equal to the reference at its positions, EOS
    included, over all reference tokens), `exact_match` (the whole output up to EOS), `bleu`
    (sacrebleu's corpus BLEU over the split, 0-100, tokenize="none" on space-joined token ids, so a
    token is a word) and `teacher_forced_loss` (cross-entropy over real target tokens with gold
    prefixes: the training objective, not a decoding score). Training logs `loss` and a
    teacher-forced `token_acc`, and `train/teacher_forcing_ratio`.
    """

    data_kinds = ("seq2seq",)
    headline_metrics = ("token_acc", "exact_match")
    model: Seq2Seq  # an encoder-decoder that decodes (checked in __init__) within its decode limits

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not callable(getattr(self.model, "decode", None)):
            raise ValueError(
                f"sequence-to-sequence data needs an encoder-decoder that can decode (a `decode(source, "
                f"source_lengths)` method), and {type(self.model).__name__} has none; use model=seq2seq"
            )
        # Per decoded example: (hypothesis, reference, source length, matched tokens, reference tokens, exact).
        self._decoded: dict[str, list[tuple]] = {"val": [], "test": []}
        self.bleu_signature: str | None = None
        self.by_length: dict[str, dict[str, float]] = {}

    def setup(self, stage: str) -> None:
        super().setup(stage)
        split = getattr(self.trainer.datamodule, "split", None)  # type: ignore[attr-defined]  # set by Lightning, undeclared
        if callable(split):
            for name in ("val", "test"):
                check_decode_room(self.model, name, split(name))

    def default_loss(self) -> nn.Module:
        return TokenCrossEntropy(ignore_index=self.spec.pad_id)

    def loss_name(self, stage: str) -> str:
        return "loss" if stage == "train" else "teacher_forced_loss"

    def loss_inputs(self, outputs: Tensor) -> Tensor:
        return outputs.transpose(1, 2)  # (N, V, T): cross-entropy over the vocabulary at each step

    def targets_of(self, batch: Batch) -> Tensor:
        return batch["target_out"]

    def forward_batch(self, batch: Batch) -> Tensor:
        ratio = self.teacher_forcing_ratio() if self.training else 1.0
        return self.model(batch["source"], batch["source_lengths"], batch["target_in"], teacher_forcing_ratio=ratio)

    def teacher_forcing_ratio(self) -> float:
        schedule = getattr(self.model, "teacher_forcing", None)
        return 1.0 if schedule is None else schedule(self.global_step)

    def make_metrics(self) -> MetricCollection:
        return MetricCollection({"token_acc": MeanMetric(), "exact_match": MeanMetric()})

    def make_train_metrics(self) -> MetricCollection:
        accuracy = MulticlassAccuracy(
            self.spec.target_vocab_size, ignore_index=self.spec.pad_id, multidim_average="global", average="micro"
        )
        return MetricCollection({"token_acc": accuracy})

    def metric_inputs(self, outputs: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
        return outputs.transpose(1, 2), targets

    def metric_names(self, stage: str) -> list[str]:
        names = super().metric_names(stage)
        return names if stage == "train" else [*names, f"{stage}/bleu"]

    def on_train_epoch_end(self) -> None:
        self.publish_epoch_values({"train/teacher_forcing_ratio": torch.tensor(self.teacher_forcing_ratio())}, set())
        super().on_train_epoch_end()

    # -- free-running evaluation --------------------------------------------------------------

    def _evaluate(self, stage: str, batch: Batch, loss_metric: MeanMetric, metrics: MetricCollection) -> None:
        targets = batch["target_out"]
        outputs = self.forward_batch(batch)
        loss_metric.update(self.loss(outputs, targets), weight=len(outputs))
        decoded = self.model.decode(batch["source"], batch["source_lengths"])
        correct, exact = compare(decoded, targets, batch["target_lengths"], self.spec.pad_id)
        lengths = batch["target_lengths"].to(correct.device)
        metrics["token_acc"].update(correct.sum() / lengths.sum(), weight=lengths.sum())
        metrics["exact_match"].update(exact.float())
        self._decoded[stage].extend(
            zip(
                strip(decoded, self.spec.eos_id, self.spec.pad_id),
                strip(targets, self.spec.eos_id, self.spec.pad_id),
                batch["source_lengths"].tolist(),
                correct.tolist(),
                batch["target_lengths"].tolist(),
                exact.tolist(),
            )
        )

    def on_validation_epoch_start(self) -> None:
        self._decoded["val"].clear()

    def on_test_epoch_start(self) -> None:
        self._decoded["test"].clear()

    def on_validation_epoch_end(self) -> None:
        self._log_bleu("val")
        super().on_validation_epoch_end()

    def on_test_epoch_end(self) -> None:
        self._log_bleu("test")
        self.by_length = self._by_length(self._decoded["test"])
        super().on_test_epoch_end()

    def test_extras(self) -> dict[str, object]:
        return {"by_length": self.by_length, "bleu_signature": self.bleu_signature}

    def _log_bleu(self, stage: str) -> None:
        if not self._decoded[stage]:
            return
        bleu, self.bleu_signature = corpus_bleu([(h, r) for h, r, *_ in self._decoded[stage]])
        self.log(f"{stage}/bleu", bleu, prog_bar=True)

    def _by_length(self, decoded: list[tuple]) -> dict[str, dict[str, float]]:
        """Test metrics per bucket of source length (the data's `length_buckets`)."""
        buckets = getattr(self.trainer.datamodule, "length_buckets", None) or []  # type: ignore[attr-defined]  # set by Lightning, undeclared
        table = {}
        for low, high in buckets:
            members = [example for example in decoded if low <= example[2] <= high]
            if not members:
                continue
            table[f"{low}-{high}"] = {
                "exact_match": sum(example[5] for example in members) / len(members),
                "token_acc": sum(example[3] for example in members) / sum(example[4] for example in members),
                "bleu": corpus_bleu([(h, r) for h, r, *_ in members])[0],
                "n": len(members),
            }
        return table


def check_decode_room(model: Seq2Seq, split_name: str, batch: Batch) -> None:
    """Refuse evaluation data whose references are longer than the model may decode: those examples
    could never be matched, so exact match and BLEU would be capped without saying why."""
    limits = model.decode_limits(batch["source_lengths"])
    excess = batch["target_lengths"].cpu() - limits
    if int(excess.max()) <= 0:
        return
    worst = int(excess.argmax())
    factor, extra = model.max_decode_factor, model.max_decode_extra
    raise ConfigError(
        f"{int((excess > 0).sum())} {split_name} targets are longer than the decode limit "
        f"floor(max_decode_factor * source_length) + max_decode_extra = floor({factor:g} * source_length) + {extra}, "
        f"e.g. a source of {int(batch['source_lengths'][worst])} tokens with a target of "
        f"{int(batch['target_lengths'][worst])} (EOS included) may decode only {int(limits[worst])}; they could "
        f"never be matched. Raise model.max_decode_extra to at least {extra + int(excess.max())} or "
        "model.max_decode_factor."
    )


def compare(decoded: Tensor, targets: Tensor, target_lengths: Tensor, pad_id: int) -> tuple[Tensor, Tensor]:
    """Per example: how many reference tokens (EOS included) the decoded output matches at their
    positions, and whether the whole output equals the reference (both padded alike after EOS)."""
    width = max(decoded.shape[1], targets.shape[1])
    decoded = nn.functional.pad(decoded, (0, width - decoded.shape[1]), value=pad_id)
    targets = nn.functional.pad(targets, (0, width - targets.shape[1]), value=pad_id)
    real = torch.arange(width, device=targets.device)[None, :] < target_lengths.to(targets.device)[:, None]
    matches = decoded == targets
    return (matches & real).sum(1), matches.all(1)


def strip(tokens: Tensor, eos_id: int, pad_id: int) -> list[list[int]]:
    """Each row's tokens before its first EOS (padding dropped)."""
    rows = []
    for row in tokens.tolist():
        end = row.index(eos_id) if eos_id in row else len(row)
        rows.append([t for t in row[:end] if t != pad_id])
    return rows


def corpus_bleu(pairs: list[tuple[list[int], list[int]]]) -> tuple[float, str]:
    """sacrebleu's corpus BLEU (0-100) over (hypothesis, reference) token-id lists, and its signature."""
    from sacrebleu.metrics import BLEU

    bleu = BLEU(tokenize="none", force=True)
    hypotheses = [" ".join(map(str, h)) for h, _ in pairs]
    references = [[" ".join(map(str, r)) for _, r in pairs]]
    score = bleu.corpus_score(hypotheses, references)
    return float(score.score), str(bleu.get_signature())
