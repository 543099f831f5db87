"""CTC: decoding of hand-made posteriors, the loss against torch and a sum over paths by hand, the error
rates against hand counts, and the per-frame read-out of the recurrent models."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import nn

from dlrun.data.spec import DataSpec
from dlrun.models import RecurrentNet
from dlrun.models.ctc_decoding import decode, greedy_decode, prefix_beam_search
from dlrun.tasks.ctc import CTCLoss, CTCTask

B = 0  # the blank


def posteriors(*frames: list[float]) -> torch.Tensor:
    """One example (1, T, V) of log-probabilities from per-frame probabilities."""
    return torch.tensor([frames], dtype=torch.float64).log()


def collapse(path: tuple[int, ...], blank: int = B) -> tuple[int, ...]:
    return tuple(label for i, label in enumerate(path) if label != blank and (i == 0 or path[i - 1] != label))


def most_likely_labelling(log_probs: torch.Tensor, blank: int = B) -> tuple[int, ...]:
    """By brute force: the probability of every labelling summed over all V^T paths."""
    frames, labels = log_probs.shape
    totals: dict[tuple[int, ...], float] = {}
    for path in itertools.product(range(labels), repeat=frames):
        p = math.exp(sum(float(log_probs[t, label]) for t, label in enumerate(path)))
        totals[collapse(path, blank)] = totals.get(collapse(path, blank), 0.0) + p
    return max(totals, key=totals.get)


# -- decoding ---------------------------------------------------------------------------------


def test_greedy_merges_repeats_drops_blanks_and_keeps_a_label_repeated_across_a_blank():
    # argmax per frame: 1 1 B 1 2 2 B  ->  1 1 2
    lp = posteriors(
        [0.1, 0.8, 0.1],
        [0.2, 0.7, 0.1],
        [0.9, 0.05, 0.05],
        [0.3, 0.6, 0.1],
        [0.1, 0.2, 0.7],
        [0.2, 0.1, 0.7],
        [0.8, 0.1, 0.1],
    )
    assert greedy_decode(lp, torch.tensor([7])) == [[1, 1, 2]]


def test_decoders_read_only_the_frames_within_each_length():
    real = [[0.1, 0.8, 0.1], [0.8, 0.1, 0.1]]
    junk = [[0.0001, 0.0001, 0.9998]] * 3  # a confident label 2 on padding frames
    lp = torch.cat([posteriors(*real, *junk), posteriors(*real, *junk)])
    lengths = torch.tensor([2, 5])
    assert greedy_decode(lp, lengths) == [[1], [1, 2]]
    assert prefix_beam_search(lp, lengths, beam_width=4) == [[1], [1, 2]]


def test_beam_search_finds_the_most_likely_labelling_where_the_best_path_misses_it():
    # The classic case: the single best path is blank blank (0.36), but "a" has three paths,
    # a a + a B + B a = 0.16 + 0.24 + 0.24 = 0.64.
    lp = posteriors([0.6, 0.4], [0.6, 0.4])
    lengths = torch.tensor([2])
    assert greedy_decode(lp, lengths) == [[]]
    assert prefix_beam_search(lp, lengths, beam_width=2) == [[1]]
    # A beam of one keeps only the best prefix after the first frame (the empty one, 0.6 > 0.4).
    assert prefix_beam_search(lp, lengths, beam_width=1) == [[]]
    assert decode(lp, lengths, beam_width=1) == [[]] and decode(lp, lengths, beam_width=2) == [[1]]


def test_a_wide_beam_is_exact_on_random_posteriors():
    generator = torch.Generator().manual_seed(0)
    differs_from_greedy = 0
    for _ in range(40):
        lp = (torch.randn(5, 3, generator=generator, dtype=torch.float64) * 1.5).log_softmax(-1)
        best = most_likely_labelling(lp)
        assert tuple(prefix_beam_search(lp[None], torch.tensor([5]), beam_width=64)[0]) == best
        differs_from_greedy += tuple(greedy_decode(lp[None], torch.tensor([5]))[0]) != best
    assert differs_from_greedy > 0  # the posteriors are ambiguous enough to tell the two apart


def test_the_blank_id_is_the_one_given():
    # Frames: label 2 is most likely, then label 0. With blank 2 the output is the label 0 run.
    lp = posteriors([0.3, 0.1, 0.6], [0.35, 0.05, 0.6])
    lengths = torch.tensor([2])
    assert greedy_decode(lp, lengths, blank=0) == [[2]]
    assert greedy_decode(lp, lengths, blank=2) == [[]]
    assert prefix_beam_search(lp, lengths, beam_width=3, blank=2) == [[0]]  # 0 0, 0 B, B 0: 0.495 > 0.36 for ""
    assert prefix_beam_search(lp, lengths, beam_width=3, blank=0) == [[2]]


@pytest.mark.parametrize("width", [0, -1, 1.5, True])
def test_a_bad_beam_width_is_refused(width):
    with pytest.raises(ValueError, match="beam_width"):
        prefix_beam_search(posteriors([0.5, 0.5]), torch.tensor([1]), beam_width=width)


# -- the loss -----------------------------------------------------------------------------------


def test_the_loss_of_a_tiny_case_is_the_sum_over_its_paths():
    # One label "a" over two frames: paths a a, a B, B a = 0.16 + 0.24 + 0.24.
    logits = torch.tensor([[[0.6, 0.4], [0.6, 0.4]]]).log()  # log-softmax of log-probabilities is itself
    loss = CTCLoss()(logits, torch.tensor([[1]]), torch.tensor([2]), torch.tensor([1]))
    assert loss.item() == pytest.approx(-math.log(0.64), rel=1e-6)


def test_the_loss_is_torchs_ctc_loss_per_target_label_and_brute_force_agrees():
    generator = torch.Generator().manual_seed(1)
    logits = torch.randn(3, 4, 3, generator=generator, dtype=torch.float64)
    targets = torch.tensor([[1, 2], [1, 1], [2, 0]])  # the last is padded after its one label
    frames, target_lengths = torch.tensor([4, 4, 3]), torch.tensor([2, 2, 1])
    loss = CTCLoss()(logits, targets, frames, target_lengths)
    log_probs = logits.log_softmax(-1)
    per_example = nn.functional.ctc_loss(
        log_probs.transpose(0, 1), targets, frames, target_lengths, blank=0, reduction="none"
    )
    assert loss.item() == pytest.approx((per_example / target_lengths).mean().item(), rel=1e-6)
    by_paths = []
    for i in range(3):
        target = tuple(targets[i, : target_lengths[i]].tolist())
        paths = itertools.product(range(3), repeat=int(frames[i]))
        p = sum(
            math.exp(sum(float(log_probs[i, t, label]) for t, label in enumerate(path)))
            for path in paths
            if collapse(path) == target
        )
        by_paths.append(-math.log(p) / len(target))
    assert loss.item() == pytest.approx(sum(by_paths) / 3, rel=1e-6)


def test_an_impossible_target_costs_nothing_instead_of_infinity():
    # "a a" needs three frames (a B a); two cannot hold it.
    logits = torch.zeros(1, 2, 2, requires_grad=True)
    loss = CTCLoss()(logits, torch.tensor([[1, 1]]), torch.tensor([2]), torch.tensor([2]))
    loss.backward()
    assert loss.item() == 0.0 and torch.isfinite(logits.grad).all()


# -- the task's metrics -------------------------------------------------------------------------

WORDS = ("<blank>", "one", "two", "three")


class Posteriors(nn.Module):
    """Hands its inputs back as the logits: the test decides what the "model" says per frame."""

    def __init__(self, labels: int) -> None:
        super().__init__()
        self.unused = nn.Linear(1, 1)  # an optimizer needs a parameter
        self.labels = labels

    def forward(self, inputs: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return inputs


def ctc_task(frames: int, beam_width: int = 1, model: nn.Module | None = None) -> CTCTask:
    spec = DataSpec(
        "ctc",
        (frames, len(WORDS)),
        class_names=WORDS,
        target_vocab_size=len(WORDS),
        max_length=frames,
        max_target_length=3,
    )
    model = model if model is not None else Posteriors(len(WORDS))
    return CTCTask(model, spec, lambda parameters: torch.optim.SGD(parameters, lr=0.1), beam_width=beam_width)


def one_hot_frames(*paths: list[int], frames: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits that make each path the certain best path, right-padded to `frames`."""
    logits = torch.full((len(paths), frames, len(WORDS)), -30.0)
    for i, path in enumerate(paths):
        for t, label in enumerate(path):
            logits[i, t, label] = 0.0
    return logits, torch.tensor([len(p) for p in paths])


def evaluate(task: CTCTask, stage: str, batch: dict) -> dict[str, float]:
    metrics = task.test_metrics if stage == "test" else task.val_metrics
    loss = task.test_loss if stage == "test" else task.val_loss
    task._evaluate(stage, batch, loss, metrics)
    return {name.split("/")[1]: float(value) for name, value in metrics.compute().items()}


def test_error_rates_and_exact_match_are_the_hand_counted_ones():
    # Decoded: "one three" for "one two three", and "two two" for "two two" (a blank between).
    logits, lengths = one_hot_frames([1, 1, B, 3, 3], [2, B, 2, B], frames=6)
    batch = {
        "inputs": logits,
        "lengths": lengths,
        "targets": torch.tensor([[1, 2, 3], [2, 2, 0]]),
        "target_lengths": torch.tensor([3, 2]),
    }
    found = evaluate(ctc_task(6), "val", batch)
    # WER: one deletion over 3 + 2 reference words. CER: "one two three" -> "one three" deletes
    # "two " (4 characters); the references have 13 + 7 characters.
    assert found["wer"] == pytest.approx(1 / 5)
    assert found["cer"] == pytest.approx(4 / 20)
    assert found["exact_match"] == pytest.approx(0.5)


def test_the_test_split_decodes_with_the_beam_and_validation_greedily():
    probabilities = torch.tensor([[[0.6, 0.4, 0.0, 0.0], [0.6, 0.4, 0.0, 0.0]]]).clamp(min=1e-12)
    batch = {
        "inputs": probabilities.log(),
        "lengths": torch.tensor([2]),
        "targets": torch.tensor([[1]]),
        "target_lengths": torch.tensor([1]),
    }
    assert evaluate(ctc_task(2, beam_width=2), "val", batch)["exact_match"] == 0.0  # greedy: ""
    assert evaluate(ctc_task(2, beam_width=2), "test", batch)["exact_match"] == 1.0  # beam: "one"
    assert evaluate(ctc_task(2, beam_width=1), "test", batch)["exact_match"] == 0.0
    greedy, beam = ctc_task(2, beam_width=1), ctc_task(2, beam_width=2)
    evaluate(greedy, "test", batch)
    evaluate(beam, "test", batch)
    assert greedy.test_extras()["errors"] == [{"reference": "one", "hypothesis": ""}]
    assert beam.test_extras()["errors"] == [] and "beam_width 2" in beam.test_extras()["decoding"]


@pytest.mark.parametrize("width", [0, 2.5, "4"])
def test_the_task_refuses_a_bad_beam_width(width):
    with pytest.raises(ValueError, match="task.beam_width"):
        ctc_task(2, beam_width=width)


def test_the_task_refuses_a_model_without_an_output_per_frame():
    spec_frames, features = 5, len(WORDS)
    with pytest.raises(ValueError, match="model.read_out=frames"):
        ctc_task(spec_frames, model=RecurrentNet((spec_frames, features), len(WORDS), hidden_size=4))

    class OnePerSequence(Posteriors):
        def forward(self, inputs, lengths=None):
            return inputs.mean(1)

    with pytest.raises(ValueError, match=r"\(batch, frames, labels\)"):
        ctc_task(spec_frames, model=OnePerSequence(len(WORDS)))


# -- the per-frame read-out ---------------------------------------------------------------------


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_the_frames_read_out_gives_an_output_per_step_unchanged_by_more_padding(cell):
    torch.manual_seed(0)
    net = RecurrentNet(
        (9, 5),
        4,
        cell=cell,
        hidden_size=6,
        num_layers=2,
        bidirectional=True,
        read_out="frames",
        head_sizes=[7],
        head_activation={"name": "prelu", "num_parameters": 7},
    ).eval()
    inputs = torch.randn(3, 6, 5)
    lengths = torch.tensor([6, 4, 2])
    outputs = net(inputs, lengths)
    assert outputs.shape == (3, 6, 4)
    padded = net(torch.cat([inputs, torch.randn(3, 3, 5)], dim=1), lengths)
    for i, length in enumerate(lengths.tolist()):
        assert torch.allclose(outputs[i, :length], padded[i, :length], atol=1e-6)
        # Each example alone, unpadded: the backward direction starts at its own last frame.
        alone = net(inputs[i : i + 1, :length])
        assert torch.allclose(outputs[i, :length], alone[0], atol=1e-6)


def test_predict_change_has_no_meaning_per_frame():
    with pytest.raises(ValueError, match="read_out=frames"):
        RecurrentNet((9, 5), 4, read_out="frames", predict_change=True)


def test_the_packing_free_export_form_gives_the_same_frames():
    from dlrun.export.unpacked_recurrent import UnpackedRecurrent

    torch.manual_seed(1)
    net = RecurrentNet((8, 3), 5, cell="gru", hidden_size=4, num_layers=2, bidirectional=True, read_out="frames").eval()
    inputs, lengths = torch.randn(3, 8, 3), torch.tensor([8, 5, 1])
    with torch.no_grad():
        assert torch.allclose(UnpackedRecurrent(net)(inputs, lengths), net(inputs, lengths), atol=1e-6)


def test_a_task_with_one_output_per_example_refuses_the_frames_read_out(tmp_path):
    from conftest import build_from_overrides

    from dlrun.tasks import ClassificationTask

    frames = RecurrentNet((9, 5), 4, read_out="frames")
    assert frames.outputs_per_step and not RecurrentNet((9, 5), 4).outputs_per_step
    from dlrun.errors import ConfigError

    with pytest.raises(ConfigError, match="only a per-frame task such as task=ctc reads; ClassificationTask"):
        build_from_overrides(tmp_path, "model=lstm", "model.read_out=frames")
    assert ClassificationTask.reads_outputs_per_step is False
