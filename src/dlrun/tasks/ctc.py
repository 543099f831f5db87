"""Connectionist temporal classification: label sequences from frames without an alignment.

The model gives logits per frame over the data's labels, the blank (id 0) first; the loss sums over
every frame-level path that collapses to the target (torch's CTCLoss), and evaluation decodes the
frames back into labels (greedy, or prefix beam search: dlrun.models.ctc_decoding).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torchmetrics import MeanMetric, MetricCollection
from torchmetrics.text import CharErrorRate, WordErrorRate

from dlrun.checks import check_number
from dlrun.data.loader import Batch
from dlrun.models.ctc_decoding import decode
from dlrun.tasks.base import SupervisedTask

BLANK = 0
# Wrongly decoded test utterances (reference, hypothesis) kept in results.json, to see what the errors look like.
ERRORS_KEPT = 10


class CTCLoss(nn.CTCLoss):
    """torch's CTC loss with the blank at 0, on (N, T, V) logits: log-softmax over the labels of
    each frame, the frames past each example's length never read. Each example's negative log
    likelihood is divided by its target length, then averaged over the batch (reduction "mean").
    `zero_infinity` zeroes the loss of an example that has fewer frames than its labels need (a
    repeated label needs a blank between), which no path can produce, instead of an infinite loss."""

    supports = ("ctc",)

    def __init__(self) -> None:
        super().__init__(blank=BLANK, reduction="mean", zero_infinity=True)

    def forward(self, logits: Tensor, targets: Tensor, frame_lengths: Tensor, target_lengths: Tensor) -> Tensor:
        # float32 even under bf16 autocast: the sums over paths underflow in half precision.
        log_probs = logits.float().log_softmax(dim=-1).transpose(0, 1)  # (T, N, V), as torch takes them
        return super().forward(log_probs, targets, frame_lengths, target_lengths)


class CTCTask(SupervisedTask):
    """Trains with the CTC loss on batches of `inputs` (N, T, features), `lengths` (frames),
    `targets` (N, S) label ids (no blanks, right-padded) and `target_lengths`.

    Logged per evaluation stage: `loss` (the CTC loss), `wer` (word error rate: edit distance over the
    words of the transcripts, each label's name a word, divided by the reference words), `cer` (the
    same over the characters of the transcripts, spaces included) and `exact_match` (the whole
    labelling right), from torchmetrics. Validation decodes greedily, which is cheap and picks the
    checkpoint; the test decodes with `beam_width` (1 = greedy; wider = prefix beam search, which
    costs a few milliseconds of Python per utterance and label). Training logs the loss only.
    """

    data_kinds = ("ctc",)
    reads_outputs_per_step = True
    headline_metrics = ("wer",)

    def __init__(self, *args, beam_width: int = 1, **kwargs) -> None:
        check_number(
            "task.beam_width", beam_width, at_least=1, whole=True, meaning="1 decodes greedily", error=ValueError
        )
        self.beam_width = beam_width
        super().__init__(*args, **kwargs)
        check_outputs_per_frame(self)
        self._errors: list[tuple[str, str]] = []

    def default_loss(self) -> nn.Module:
        return CTCLoss()

    def batch_loss(self, outputs: Tensor, batch: Batch) -> Tensor:
        return self.loss_fn(outputs, batch["targets"], batch["lengths"], batch["target_lengths"])

    def make_metrics(self) -> MetricCollection:
        # Each is updated on its own (see _evaluate), so no compute groups are shared between them.
        return MetricCollection(
            {"cer": CharErrorRate(), "wer": WordErrorRate(), "exact_match": MeanMetric()}, compute_groups=False
        )

    def make_train_metrics(self) -> MetricCollection:
        # Decoding costs a host sync and Python per example, which a training step must not pay.
        return MetricCollection({})

    def metric_inputs(self, outputs: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
        return outputs, targets

    def transcripts(self, outputs: Tensor, lengths: Tensor, beam_width: int = 1) -> list[str]:
        """Each example's decoded labels as text: their names joined by spaces."""
        return [self.spell(labels) for labels in decode(outputs.float().log_softmax(-1), lengths, beam_width, BLANK)]

    def spell(self, labels: list[int]) -> str:
        return " ".join(self.spec.class_names[label] for label in labels)

    def _evaluate(self, stage: str, batch: Batch, loss_metric: MeanMetric, metrics: MetricCollection) -> None:
        outputs = self.forward_batch(batch)
        loss_metric.update(self.batch_loss(outputs, batch), weight=len(outputs))
        hypotheses = self.transcripts(outputs, batch["lengths"], self.beam_width if stage == "test" else 1)
        targets, target_lengths = batch["targets"].tolist(), batch["target_lengths"].tolist()
        references = [self.spell(row[:length]) for row, length in zip(targets, target_lengths)]
        metrics["cer"].update(hypotheses, references)
        metrics["wer"].update(hypotheses, references)
        exact = [float(h == r) for h, r in zip(hypotheses, references)]
        metrics["exact_match"].update(torch.tensor(exact, device=self.device))
        if stage == "test":
            wrong = [(r, h) for r, h in zip(references, hypotheses) if r != h]
            self._errors.extend(wrong[: ERRORS_KEPT - len(self._errors)])

    def on_test_epoch_start(self) -> None:
        self._errors.clear()

    def test_extras(self) -> dict[str, object]:
        decoding = "greedy" if self.beam_width == 1 else f"prefix beam search, beam_width {self.beam_width}"
        return {"decoding": decoding, "errors": [{"reference": r, "hypothesis": h} for r, h in self._errors]}

    def predict_step(self, batch: Batch, batch_idx: int = 0) -> list[str]:
        """Transcripts decoded with `beam_width`."""
        return self.transcripts(self.forward_batch(batch), batch["lengths"], self.beam_width)


def check_outputs_per_frame(task: CTCTask) -> None:
    """Refuse a model that does not give one output per frame and label: CTC sums over alignments of
    the labels to the frames, so a model that reads a sequence out into one vector cannot be used."""
    spec = task.spec
    model = task.model
    read_out = getattr(model, "read_out", "frames")
    if read_out != "frames":
        raise ValueError(
            f"CTC needs an output per frame, and the model reads each sequence out into one vector "
            f"(read_out={read_out}); set model.read_out=frames"
        )
    frames = spec.input_shape[0]
    probe = {"inputs": torch.zeros(1, *spec.input_shape), "lengths": torch.tensor([frames])}
    was_training = model.training
    model.eval()  # no dropout, so the probe draws no random numbers
    try:
        with torch.no_grad():
            shape = tuple(task.forward_batch(probe).shape)
    finally:
        model.train(was_training)
    expected = (1, frames, spec.num_outputs)
    if shape != expected:
        raise ValueError(
            f"CTC needs outputs (batch, frames, labels) = {expected} for one example of {frames} frames, and the "
            f"model ({type(model).__name__}) gives {shape}; use a model with an output per frame, such as "
            "model=bilstm model.read_out=frames"
        )
