"""Variable-length batches: cut to their own longest sequence, bucketed by length, each example once."""

from __future__ import annotations

import pytest
import torch
from conftest import make_trainer

from dlrun.data.loader import TensorBatches
from dlrun.data.padding import bucketed_batches, padding_fraction, trim_to_longest


def sequences(n: int = 1000, longest: int = 50, seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, longest + 1, (n,), generator=generator)
    steps = torch.arange(longest)
    inputs = torch.where(steps < lengths[:, None], torch.arange(n)[:, None] + 1, 0)  # row id + 1, 0 = pad
    return {"inputs": inputs, "lengths": lengths, "targets": torch.arange(n)}


@pytest.mark.parametrize("pool", [None, 1, 10, 1000])
@pytest.mark.parametrize("group", [None, 4])
def test_every_example_is_served_once_per_epoch_with_its_own_padding(pool, group):
    data = sequences()
    loader = TensorBatches(data, 32, shuffle=True, group_size=group, bucket_pool_batches=pool)
    seen = []
    for item in loader:
        for batch in item if isinstance(item, list) else [item]:
            longest = int(batch["lengths"].max())
            assert batch["inputs"].shape[1] == longest  # cut to this batch's own longest sequence
            assert torch.equal((batch["inputs"] != 0).sum(1), batch["lengths"])  # nothing real was cut
            assert torch.equal(batch["inputs"][:, 0] - 1, batch["targets"])  # rows stay together
            seen.append(batch["targets"])
    assert torch.equal(torch.cat(seen).sort().values, torch.arange(1000))
    assert len(seen) == loader.num_batches


def test_bucketing_cuts_the_padding_and_still_shuffles():
    data = sequences(5000)
    torch.manual_seed(0)
    plain = TensorBatches(data, 64, shuffle=True).batch_indices()
    loader = TensorBatches(data, 64, shuffle=True, bucket_pool_batches=50)
    bucketed = loader.batch_indices()
    assert padding_fraction(data["lengths"], bucketed) < 0.1 < 0.4 < padding_fraction(data["lengths"], plain)
    again = loader.batch_indices()
    assert not all(torch.equal(a, b) for a, b in zip(bucketed, again))  # another epoch, other batches


def test_bucketed_batches_sort_within_pools_only():
    lengths = torch.arange(100, 0, -1)
    torch.manual_seed(0)
    batches = bucketed_batches(lengths, batch_size=10, pool_batches=2)
    assert sorted(len(b) for b in batches) == [10] * 10
    for batch in batches:  # each batch comes from one pool of 20, sorted by length
        assert torch.all(lengths[batch][1:] >= lengths[batch][:-1])


def test_trimming_leaves_tensors_without_a_step_axis_alone():
    batch = {"inputs": torch.ones(3, 9, 2), "lengths": torch.tensor([2, 4, 1]), "targets": torch.ones(3, 5)}
    trimmed = trim_to_longest(batch)
    assert trimmed["inputs"].shape == (3, 4, 2) and trimmed["targets"].shape == (3, 5)


def test_the_task_hands_lengths_to_a_model_that_takes_them(tmp_path):
    from dlrun.data.in_memory import InMemoryDataModule
    from dlrun.data.spec import DataSpec
    from dlrun.tasks import ClassificationTask

    class Recorder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(1, 2)
            self.seen: list[tuple[int, torch.Tensor]] = []

        def forward(self, inputs, lengths=None):
            self.seen.append((inputs.shape[1], lengths))
            return self.linear(inputs.float().sum(1, keepdim=True))

    class Sequences(InMemoryDataModule):
        def load(self):
            data = sequences(200)
            data["targets"] = data["targets"] % 2
            spec = DataSpec("multiclass", (50,), num_classes=2, vocab_size=202, max_length=50)
            return {split: data for split in ("train", "val", "test")}, spec

    model = Recorder()
    datamodule = Sequences(batch_size=16, steps_per_execution=4, bucket_pool_batches=4)
    task = ClassificationTask(model, datamodule.spec, lambda p: torch.optim.SGD(p, lr=0.1))
    make_trainer(tmp_path, max_epochs=1).fit(task, datamodule=datamodule)
    assert model.seen and all(lengths is not None and lengths.device.type == "cpu" for _, lengths in model.seen)
    assert all(width == int(lengths.max()) for width, lengths in model.seen)


def test_group_metrics_join_batches_only_when_their_shapes_agree():
    from torchmetrics import Metric, MetricCollection

    from dlrun.tasks.base import update_per_group

    class Shapes(Metric):
        def __init__(self):
            super().__init__()
            self.seen = []

        def update(self, predictions, targets):
            self.seen.append(tuple(predictions.shape))

        def compute(self):
            return torch.tensor(0.0)

    def by_step(outputs, targets):
        return outputs, targets

    metrics = MetricCollection({"shapes": Shapes()})
    update_per_group(metrics, by_step, [torch.ones(4, 3), torch.ones(2, 3)], [torch.ones(4), torch.ones(2)])
    assert metrics["shapes"].seen == [(6, 3)]
    metrics = MetricCollection({"shapes": Shapes()})
    padded = [torch.ones(4, 7, 3), torch.ones(2, 5, 3)]  # token outputs of batches padded differently
    update_per_group(metrics, by_step, padded, [torch.ones(4, 7), torch.ones(2, 5)])
    assert metrics["shapes"].seen == [(4, 7, 3), (2, 5, 3)]


def test_the_shuffle_depends_on_the_seed_alone():
    """Not on how many random numbers the model's initialization drew before the loader was made."""
    data = sequences(300)
    orders = []
    for draws in (0, 1000):
        torch.manual_seed(7)
        torch.rand(draws)
        orders.append(TensorBatches(data, 32, shuffle=True, bucket_pool_batches=4).batch_indices())
    assert all(torch.equal(a, b) for a, b in zip(*orders))
    torch.manual_seed(8)
    other = TensorBatches(data, 32, shuffle=True, bucket_pool_batches=4).batch_indices()
    assert not all(torch.equal(a, b) for a, b in zip(orders[0], other))
