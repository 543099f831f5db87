"""The Seq2Seq task: loss on real tokens only, free-running metrics against hand counts, BLEU as sacrebleu's."""

from __future__ import annotations

import json

import pytest
import sacrebleu
import torch
from conftest import build_from_overrides
from helpers import assert_user_error

from dlrun.tasks.seq2seq import compare, corpus_bleu, strip
from dlrun.training.losses import TokenCrossEntropy

PAD, EOS = 0, 3


def test_compare_counts_reference_tokens_and_whole_matches():
    decoded = torch.tensor([[5, 6, EOS, PAD], [5, 7, EOS, PAD], [5, 6, 7, 8]])  # the last never ended
    targets = torch.tensor([[5, 6, EOS], [5, 6, EOS], [5, 6, 7]])[:, :3]
    lengths = torch.tensor([3, 3, 3])
    correct, exact = compare(decoded, targets, lengths, PAD)
    assert correct.tolist() == [3, 2, 3] and exact.tolist() == [True, False, False]
    assert strip(decoded, EOS, PAD) == [[5, 6], [5, 7], [5, 6, 7, 8]]


def test_bleu_is_sacrebleus_corpus_bleu_on_the_same_tokens():
    pairs = [([4, 5, 6, 7, 8], [4, 5, 6, 7, 9]), ([10, 11, 12], [10, 11, 12]), ([4, 4], [5, 4, 4, 6])]
    expected = sacrebleu.corpus_bleu(
        ["4 5 6 7 8", "10 11 12", "4 4"], [["4 5 6 7 9", "10 11 12", "5 4 4 6"]], tokenize="none", force=True
    )
    score, signature = corpus_bleu(pairs)
    assert score == pytest.approx(expected.score) and "tok:none" in signature


def test_the_token_loss_averages_over_real_tokens_only():
    logits = torch.randn(2, 7, 4)  # (N, V, T)
    targets = torch.tensor([[1, 2, 3, PAD], [4, 5, PAD, PAD]])
    real = targets != PAD
    by_hand = torch.nn.functional.cross_entropy(logits, targets, reduction="none")[real].mean()
    assert torch.allclose(TokenCrossEntropy(ignore_index=PAD)(logits, targets), by_hand)


def test_a_seq2seq_run_learns_to_copy_and_reports_by_length(tmp_path):
    run = build_from_overrides(
        tmp_path,
        "data=copy",
        "model=seq2seq",
        "data.min_length=3",
        "data.max_length=6",
        "data.vocab_size=6",
        "data.train_size=3000",
        "data.val_size=200",
        "data.test_size=200",
        "model.hidden_size=32",
        "model.embedding_size=16",
        "trainer.max_epochs=3",
        "trainer.limit_train_batches=1.0",
        "trainer.limit_val_batches=1.0",
        "trainer.limit_test_batches=1.0",
        "optimizer.lr=0.005",
    )
    run.trainer.fit(run.task, datamodule=run.datamodule)
    [metrics] = run.trainer.test(run.task, datamodule=run.datamodule, verbose=False)
    assert metrics["test/token_acc"] > 0.8 and metrics["test/exact_match"] > 0.3, metrics
    extras = run.task.test_extras()
    assert sum(bucket["n"] for bucket in extras["by_length"].values()) == 200
    assert extras["bleu_signature"].startswith("nrefs:1")
    assert json.dumps(extras)  # results.json can hold it


def test_teacher_forcing_follows_the_models_schedule(tmp_path):
    run = build_from_overrides(
        tmp_path,
        "data=reverse",
        "model=seq2seq",
        "model.teacher_forcing_schedule=linear",
        "model.teacher_forcing_decay_steps=4",
        "data.train_size=256",
        "model.hidden_size=16",
    )
    schedule = run.task.model.teacher_forcing
    assert [schedule(step) for step in (0, 2, 4, 8)] == [1.0, 0.5, 0.0, 0.0]
    run.trainer.fit(run.task, datamodule=run.datamodule)
    assert run.trainer.callback_metrics["train/teacher_forcing_ratio"] == pytest.approx(
        schedule(run.trainer.global_step)
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (("data=reverse", "model=lstm"), "use model=seq2seq"),
        (("model=seq2seq",), "needs source_vocab_size"),
        (("data=reverse", "model=seq2seq", "model.attention=bahdanu"), "Did you mean bahdanau"),
        (("data=reverse", "model=seq2seq", "model.beam_size=0"), "beam_size must be"),
        (("data=reverse", "model=seq2seq", "model.teacher_forcing_schedule=sigmoid"), "inverse_sigmoid"),
    ],
)
def test_seq2seq_misconfigurations_are_config_errors(tmp_path, overrides, message):
    from dlrun.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        build_from_overrides(tmp_path, *overrides)


@pytest.mark.slow
def test_attention_copes_with_lengths_where_the_fixed_context_fails(tmp_path):
    """The reverse references in miniature (lengths 4-16, seconds each): see scripts/attention_lesson.py."""
    by_length = {}
    for attention in ("bahdanau", "none"):
        run = build_from_overrides(
            tmp_path / attention,
            "data=reverse",
            "model=seq2seq",
            f"model.attention={attention}",
            "data.min_length=4",
            "data.max_length=16",
            "data.vocab_size=8",
            "data.train_size=4096",
            "data.val_size=200",
            "data.test_size=300",
            "data.length_buckets=[4-8,9-12,13-16]",
            "model.hidden_size=32",
            "model.embedding_size=16",
            "optimizer.lr=0.005",
            "data.steps_per_execution=8",
            "trainer.max_epochs=4",
            "trainer.limit_train_batches=1.0",
            "trainer.limit_val_batches=1.0",
            "trainer.limit_test_batches=1.0",
        )
        run.trainer.fit(run.task, datamodule=run.datamodule)
        run.trainer.test(run.task, datamodule=run.datamodule, verbose=False)
        by_length[attention] = run.task.by_length
    attention, fixed = by_length["bahdanau"], by_length["none"]
    # Measured: exact match 0.86 against 0.01 at 9-12, token accuracy well apart at 13-16.
    assert attention["9-12"]["exact_match"] > fixed["9-12"]["exact_match"] + 0.4
    assert attention["13-16"]["token_acc"] > fixed["13-16"]["token_acc"] + 0.2


def test_evaluation_targets_longer_than_the_decode_limit_are_refused(dlrun, tmp_path):
    """Reversed sources of 5-10 are as long as their sources: a limit of floor(0.5 * S) + 1 leaves no room."""
    done = dlrun("train", "data=reverse", "model=seq2seq", "model.max_decode_factor=0.5", "model.max_decode_extra=1")
    assert_user_error(done, "val targets are longer than the decode limit", "model.max_decode_extra to at least 6")
    assert json.loads(next(tmp_path.rglob("results.json")).read_text())["status"] == "failed"
