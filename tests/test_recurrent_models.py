"""RecurrentNet: packed runs against per-example references, padding invariance, read-outs, inputs, errors."""

from __future__ import annotations

import time

import pytest
import torch
from torch import nn

from dlrun.models import RecurrentNet

CELLS = ("rnn", "lstm", "gru")
READ_OUTS = ("last", "mean", "max", "attention")
FEATURES = 3
HIDDEN = 5
LENGTHS = torch.tensor([4, 1, 7, 3, 7, 2])


def dense_batch(lengths: torch.Tensor, total: int, seed: int = 0) -> torch.Tensor:
    """(N, total, FEATURES) with real values on the real steps and large garbage on the padding."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(len(lengths), total, FEATURES, generator=g)
    pad = torch.arange(total)[None, :] >= lengths[:, None]
    garbage = 100 * torch.randn(len(lengths), total, FEATURES, generator=torch.Generator().manual_seed(seed + 1))
    return torch.where(pad[..., None], garbage, x)


def repad(x: torch.Tensor, lengths: torch.Tensor, total: int, seed: int) -> torch.Tensor:
    """The same real steps as `x`, padded to `total` steps with fresh garbage."""
    out = dense_batch(lengths, total, seed)
    for i, length in enumerate(lengths.tolist()):
        out[i, :length] = x[i, :length]
    return out


def model(cell="lstm", read_out="last", **kwargs) -> RecurrentNet:
    torch.manual_seed(0)
    kwargs.setdefault("hidden_size", HIDDEN)
    return RecurrentNet((7, FEATURES), 2, cell=cell, read_out=read_out, **kwargs).eval()


def alone(net: RecurrentNet, x: torch.Tensor, lengths: torch.Tensor) -> list[torch.Tensor]:
    """The bare RNN's outputs (T_i, directions * H) for each example run alone, trimmed to its length."""
    return [net.rnn(x[i : i + 1, :length])[0][0] for i, length in enumerate(lengths.tolist())]


# -- the packed run ---------------------------------------------------------------------------


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("num_layers", [1, 2])
def test_last_read_out_matches_each_example_run_alone(cell, bidirectional, num_layers):
    net = model(cell, bidirectional=bidirectional, num_layers=num_layers)
    x = dense_batch(LENGTHS, 7)
    with torch.no_grad():
        got = net.features(x, LENGTHS)
        expected = []
        for outputs in alone(net, x, LENGTHS):
            # The forward direction's state after the last real step; the backward one's after
            # reading back to step 0.
            state = outputs[-1, :HIDDEN]
            if bidirectional:
                state = torch.cat([state, outputs[0, HIDDEN:]])
            expected.append(state)
    assert got.shape == (len(LENGTHS), HIDDEN * (2 if bidirectional else 1))
    assert torch.allclose(got, torch.stack(expected), atol=1e-6)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_without_lengths_every_example_is_full_length(bidirectional):
    net = model("gru", bidirectional=bidirectional, num_layers=2)
    x = torch.randn(4, 6, FEATURES)
    full = torch.full((4,), 6)
    with torch.no_grad():
        assert torch.allclose(net(x), net(x, full), atol=1e-6)


def test_lengths_of_another_integer_dtype_are_accepted():
    net = model("lstm")
    x = dense_batch(LENGTHS, 7)
    with torch.no_grad():
        assert torch.allclose(net(x, LENGTHS.to(torch.int32)), net(x, LENGTHS), atol=1e-7)


# -- padding invariance -----------------------------------------------------------------------


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("read_out", READ_OUTS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_extra_padding_changes_nothing(cell, read_out, bidirectional):
    net = model(cell, read_out, bidirectional=bidirectional, num_layers=2, dropout=0.2, head_sizes=(4,))
    x = dense_batch(LENGTHS, 7)
    longer = repad(x, LENGTHS, 12, seed=5)
    with torch.no_grad():
        assert torch.allclose(net(x, LENGTHS), net(longer, LENGTHS), atol=1e-6)


@pytest.mark.parametrize("read_out", READ_OUTS)
def test_extra_padding_changes_nothing_for_tokens(read_out):
    torch.manual_seed(0)
    net = RecurrentNet(
        (9,),
        3,
        cell="gru",
        hidden_size=HIDDEN,
        read_out=read_out,
        bidirectional=True,
        vocab_size=11,
        pad_id=2,
        embedding_size=4,
    ).eval()
    tokens = torch.randint(3, 11, (len(LENGTHS), 7))
    tokens[torch.arange(7)[None, :] >= LENGTHS[:, None]] = 2
    longer = torch.cat([tokens, torch.full((len(LENGTHS), 5), 2)], dim=1)
    with torch.no_grad():
        assert torch.allclose(net(tokens, LENGTHS), net(longer, LENGTHS), atol=1e-6)


# -- read-outs ----------------------------------------------------------------------------------


@pytest.mark.parametrize("bidirectional", [False, True])
def test_mean_and_max_read_outs_cover_only_the_real_steps(bidirectional):
    x = dense_batch(LENGTHS, 7)
    for read_out, reduce in (("mean", lambda o: o.mean(0)), ("max", lambda o: o.max(0).values)):
        net = model("lstm", read_out, bidirectional=bidirectional, num_layers=2)
        with torch.no_grad():
            expected = torch.stack([reduce(outputs) for outputs in alone(net, x, LENGTHS)])
            assert torch.allclose(net.features(x, LENGTHS), expected, atol=1e-6), read_out


def test_max_read_out_ignores_padding_when_every_real_output_is_negative():
    # The zeros pad_packed_sequence fills in would win the max if padding were not masked.
    net = model("rnn", "max")
    with torch.no_grad():
        for param in net.rnn.parameters():
            param.zero_()
        net.rnn.bias_ih_l0.fill_(-1.0)
        out = net.features(dense_batch(LENGTHS, 7), LENGTHS)
    assert torch.allclose(out, torch.full_like(out, torch.tanh(torch.tensor(-1.0)).item()))


@pytest.mark.parametrize("bidirectional", [False, True])
def test_attention_weights_are_zero_on_padding_and_sum_to_one(bidirectional):
    net = model("gru", "attention", bidirectional=bidirectional)
    x = dense_batch(LENGTHS, 7)
    weights = net.attention_weights(x, LENGTHS)
    assert weights.shape == (len(LENGTHS), 7)
    pad = torch.arange(7)[None, :] >= LENGTHS[:, None]
    assert (weights[pad] == 0).all()
    assert (weights[~pad] > 0).all()
    assert torch.allclose(weights.sum(1), torch.ones(len(LENGTHS)), atol=1e-6)

    with torch.no_grad():
        context = net.features(x, LENGTHS)
        assert torch.equal(net.last_attention, weights)
        for i, outputs in enumerate(alone(net, x, LENGTHS)):
            expected = torch.softmax(net.attention(outputs).squeeze(-1), dim=0)
            assert torch.allclose(weights[i, : LENGTHS[i]], expected, atol=1e-6)
            assert torch.allclose(context[i], expected @ outputs, atol=1e-6)


def test_last_attention_is_detached_and_attention_weights_need_attention():
    net = model("lstm", "attention").train()
    net(dense_batch(LENGTHS, 7), LENGTHS).sum().backward()
    assert not net.last_attention.requires_grad
    with pytest.raises(ValueError, match="read_out=attention"):
        model("lstm", "mean").attention_weights(dense_batch(LENGTHS, 7), LENGTHS)
    assert model("lstm", "mean").attention is None


# -- inputs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 4, 5)])
def test_images_are_read_row_by_row(shape):
    channels, height, width = shape
    torch.manual_seed(0)
    net = RecurrentNet(shape, 4, cell="gru", hidden_size=HIDDEN).eval()
    assert net.rnn.input_size == channels * width
    images = torch.randn(3, *shape)
    rows = torch.stack(
        [torch.cat([images[:, c, row, :] for c in range(channels)], dim=1) for row in range(height)], dim=1
    )
    assert rows.shape == (3, height, channels * width)
    with torch.no_grad():
        assert torch.allclose(net.features(images), net.rnn(rows)[0][:, -1], atol=1e-6)
        assert net(images).shape == (3, 4)


def test_token_embedding_uses_pad_id_as_padding():
    torch.manual_seed(0)
    net = RecurrentNet((6,), 2, vocab_size=10, pad_id=3, embedding_size=4, hidden_size=HIDDEN, read_out="mean")
    assert isinstance(net.embedding, nn.Embedding)
    assert net.embedding.padding_idx == 3
    assert net.embedding.num_embeddings == 10 and net.rnn.input_size == 4
    assert torch.equal(net.embedding.weight[3], torch.zeros(4))
    tokens = torch.tensor([[1, 3, 5, 3, 3, 3], [3, 2, 3, 7, 8, 9]])
    net(tokens, torch.tensor([3, 6])).sum().backward()
    grad = net.embedding.weight.grad
    assert torch.equal(grad[3], torch.zeros(4))
    assert grad[[1, 2, 5, 7]].abs().sum() > 0


def test_dense_inputs_have_no_embedding():
    assert model().embedding is None


# -- shapes ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("read_out", READ_OUTS)
def test_output_shape(cell, read_out):
    net = model(cell, read_out)
    assert isinstance(net.rnn, {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell])
    assert net.rnn.batch_first
    assert net(dense_batch(LENGTHS, 7), LENGTHS).shape == (len(LENGTHS), 2)
    assert net(torch.randn(2, 5, FEATURES)).shape == (2, 2)


@pytest.mark.parametrize("cell", CELLS)
def test_stacked_bidirectional_shapes(cell):
    net = model(cell, num_layers=3, bidirectional=True, head_sizes=(6, 4))
    assert net.rnn.num_layers == 3 and net.rnn.bidirectional
    assert net.features(dense_batch(LENGTHS, 7), LENGTHS).shape == (len(LENGTHS), 2 * HIDDEN)
    linears = [m for m in net.head if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(2 * HIDDEN, 6), (6, 4), (4, 2)]
    assert net(dense_batch(LENGTHS, 7), LENGTHS).shape == (len(LENGTHS), 2)


def test_dropout_settings_reach_the_layers():
    net = model("lstm", num_layers=2, dropout=0.3, head_dropout=0.4)
    assert net.rnn.dropout == 0.3
    assert [m.p for m in net.head if isinstance(m, nn.Dropout)] == [0.4]
    assert not any(isinstance(m, nn.Dropout) for m in model("lstm").head)


def test_initializer_attributes():
    assert (model("lstm").nonlinearity, model("lstm").nonlinearity_param) == ("tanh", None)
    assert model("gru").nonlinearity == "tanh"
    assert model("rnn", nonlinearity="relu").nonlinearity == "relu"
    assert model("rnn", nonlinearity="relu").rnn.nonlinearity == "relu"


# -- errors ------------------------------------------------------------------------------------------


def test_a_table_is_rejected_with_a_pointer_to_mlp():
    with pytest.raises(ValueError, match="model=mlp") as excinfo:
        RecurrentNet((4,), 3)
    assert "4 features" in str(excinfo.value)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_relu_nonlinearity_only_for_the_plain_rnn(cell):
    with pytest.raises(ValueError, match="cell=rnn"):
        RecurrentNet((5, 2), 1, cell=cell, nonlinearity="relu")


def test_dropout_between_layers_needs_two_layers():
    with pytest.raises(ValueError, match="num_layers >= 2.*head_dropout"):
        RecurrentNet((5, 2), 1, dropout=0.2)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cell": "lstn"}, "unknown cell 'lstn'.*Did you mean lstm"),
        ({"read_out": "mena"}, "unknown read_out 'mena'.*Did you mean mean"),
        ({"nonlinearity": "rel"}, "unknown nonlinearity 'rel'.*Did you mean relu"),
        ({"hidden_size": 0}, "hidden_size must be"),
        ({"num_layers": 0}, "num_layers must be"),
        ({"embedding_size": 0}, "embedding_size must be"),
        ({"num_layers": 2, "dropout": 1.0}, r"dropout must be in \[0, 1\)"),
        ({"head_dropout": -0.1}, r"head_dropout must be in \[0, 1\)"),
        ({"head_activation": "rleu"}, "unknown activation 'rleu'"),
        ({"vocab_size": 5, "pad_id": 5}, r"pad_id must be a token id in \[0, 5\)"),
    ],
)
def test_invalid_settings(kwargs, message):
    shape = (6,) if "vocab_size" in kwargs else (5, 2)
    with pytest.raises(ValueError, match=message):
        RecurrentNet(shape, 1, **kwargs)


# -- learning ------------------------------------------------------------------------------------------


def first_equals_last(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Tokens 1-4 (pad 0) of length 2-8; the target is whether the last real token equals the first."""
    lengths = torch.randint(2, 9, (n,), generator=g)
    tokens = torch.randint(1, 5, (n, 8), generator=g)
    rows = torch.arange(n)
    same = torch.rand(n, generator=g) < 0.5
    tokens[rows[same], lengths[same] - 1] = tokens[same, 0]
    tokens[torch.arange(8)[None, :] >= lengths[:, None]] = 0
    return tokens, lengths, (tokens[rows, lengths - 1] == tokens[:, 0]).float()


def test_an_lstm_learns_whether_the_first_token_equals_the_last():
    g = torch.Generator().manual_seed(0)
    train, test = first_equals_last(512, g), first_equals_last(512, g)
    torch.manual_seed(0)
    net = RecurrentNet((8,), 1, cell="lstm", hidden_size=32, vocab_size=5, pad_id=0, embedding_size=8)
    optimizer = torch.optim.Adam(net.parameters(), lr=0.02)
    start = time.perf_counter()
    for _ in range(150):
        i = torch.randint(0, 512, (64,))
        logits = net(train[0][i], train[1][i]).squeeze(1)
        loss = nn.functional.binary_cross_entropy_with_logits(logits, train[2][i])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    elapsed = time.perf_counter() - start
    with torch.no_grad():
        accuracy = ((net.eval()(test[0], test[1]).squeeze(1) > 0).float() == test[2]).float().mean().item()
    assert accuracy > 0.9
    assert elapsed < 3.0


def test_predict_change_adds_the_last_observed_target_value():
    torch.manual_seed(0)
    model = RecurrentNet((6, 2), 3, cell="gru", hidden_size=4, predict_change=True)
    inputs = torch.randn(5, 6, 2)
    plain = RecurrentNet((6, 2), 3, cell="gru", hidden_size=4)
    plain.load_state_dict(model.state_dict())
    assert torch.allclose(model(inputs), plain(inputs) + inputs[:, -1, :1])
    lengths = torch.tensor([6, 3, 1, 4, 2])
    last = torch.stack([inputs[i, n - 1, 0] for i, n in enumerate(lengths.tolist())])[:, None]
    assert torch.allclose(model(inputs, lengths), plain(inputs, lengths) + last)
    with pytest.raises(ValueError, match="predict_change"):
        RecurrentNet((10,), 2, vocab_size=20, predict_change=True)
