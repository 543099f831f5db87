"""Free-running test metrics against source length, as a figure (TensorBoard, MLflow, W&B): where a model stops coping."""

from __future__ import annotations

import pytorch_lightning as pl

from dlrun.trackers.sinks import Sinks

SHOWN = ("exact_match", "token_acc", "bleu")


class LengthMetricsFigure(pl.Callback):
    """Logs `test/by_length`: exact match, token accuracy and BLEU / 100 per bucket of source length,
    for a task that reports `by_length` (Seq2Seq). Does nothing for other tasks or without a logger that takes figures."""

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        by_length = getattr(pl_module, "by_length", None)
        sinks = Sinks.of(trainer.loggers)
        if not by_length or not sinks:
            return
        figure = draw_by_length(by_length)
        sinks.figure("test/by_length", figure, trainer.global_step)
        sinks.flush()


def by_length_lines(by_length: dict[str, dict[str, float]]) -> list[tuple[str, list[str], list[float]]]:
    """(metric, bucket names, values) per metric, BLEU scaled to 0-1 like the others."""
    buckets = list(by_length)
    return [
        (
            name if name != "bleu" else "bleu / 100",
            buckets,
            [by_length[b][name] / (100 if name == "bleu" else 1) for b in buckets],
        )
        for name in SHOWN
    ]


def draw_by_length(by_length: dict[str, dict[str, float]]):
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 4), layout="constrained")
    axes = figure.add_subplot()
    for label, buckets, values in by_length_lines(by_length):
        axes.plot(buckets, values, marker="o", label=label)
    axes.set_xlabel("source length")
    axes.set_ylabel("test score")
    axes.set_ylim(0, 1.02)
    axes.set_title("Free-running test metrics by source length")
    axes.grid(alpha=0.3)
    axes.legend(loc="best")
    return figure
