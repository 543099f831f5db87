"""Seq2Seq: attention against the papers' equations, masking, the bridge against per-example packed runs,
teacher forcing, greedy and beam decoding, a tiny training run, errors."""

from __future__ import annotations

import time
import typing

import pytest
import torch
from torch import nn

from dlrun.models.seq2seq import (
    BahdanauAttention,
    LuongConcatAttention,
    LuongDotAttention,
    LuongGeneralAttention,
    Seq2Seq,
    masked_softmax,
    per_layer_final,
)

PAD, BOS, EOS, UNK = 0, 1, 2, 3
SYMBOLS = 8
VOCAB = 4 + SYMBOLS
LENGTHS = torch.tensor([5, 1, 3, 5, 2])
ATTENTIONS = ("none", "bahdanau", "luong_dot", "luong_general", "luong_concat")
CLASSES = {
    "bahdanau": BahdanauAttention,
    "luong_dot": LuongDotAttention,
    "luong_general": LuongGeneralAttention,
    "luong_concat": LuongConcatAttention,
}


def source_batch(lengths: torch.Tensor, total: int | None = None, seed: int = 0) -> torch.Tensor:
    """(N, total) real symbols on the real steps, PAD after."""
    total = int(lengths.max()) if total is None else total
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(4, VOCAB, (len(lengths), total), generator=g)
    return x.masked_fill(torch.arange(total)[None, :] >= lengths[:, None], PAD)


def target_in(n: int, steps: int, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    t = torch.randint(4, VOCAB, (n, steps), generator=g)
    t[:, 0] = BOS
    return t


def seq2seq(attention="bahdanau", cell="gru", **kwargs) -> Seq2Seq:
    torch.manual_seed(0)
    kwargs.setdefault("embedding_size", 5)
    kwargs.setdefault("hidden_size", 6)
    if attention == "luong_dot" and kwargs.get("bidirectional_encoder", True):
        kwargs.setdefault("decoder_hidden_size", 2 * kwargs["hidden_size"])
    return Seq2Seq(VOCAB, VOCAB, PAD, BOS, EOS, cell=cell, attention=attention, **kwargs).eval()


# ---------------------------------------------------------------- attention, by the papers' equations


def keys_and_mask(n=3, s=5, hk=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    keys = torch.randn(n, s, hk, generator=g)
    lengths = torch.tensor([5, 2, 3])[:n]
    mask = torch.arange(s)[None, :] < lengths[:, None]
    # Garbage on the padding: it must not reach the context.
    keys = torch.where(mask[..., None], keys, 1e3 * torch.randn(n, s, hk, generator=g))
    return keys, mask


def softmax_over_real(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """exp over the real keys only, normalised: the reference, computed without masked_fill."""
    shifted = scores - scores.masked_fill(~mask, -1e30).amax(1, keepdim=True)
    e = torch.where(mask, torch.exp(torch.where(mask, shifted, 0.0)), 0.0)
    return e / e.sum(1, keepdim=True)


def reference_scores(att, q, k):
    if isinstance(att, BahdanauAttention):
        W, U, v = att.W.weight, att.U.weight, att.v.weight[0]
        hidden = torch.einsum("ah,nh->na", W, q)[:, None] + torch.einsum("ak,nsk->nsa", U, k)
        return torch.einsum("a,nsa->ns", v, torch.tanh(hidden))
    if isinstance(att, LuongDotAttention):
        return torch.einsum("nh,nsh->ns", q, k)
    if isinstance(att, LuongGeneralAttention):
        return torch.einsum("nh,hk,nsk->ns", q, att.W.weight, k)
    W, v = att.W.weight, att.v.weight[0]
    joined = torch.cat([q[:, None].expand(-1, k.shape[1], -1), k], dim=-1)  # [q; k_j]
    return torch.einsum("a,nsa->ns", v, torch.tanh(torch.einsum("ad,nsd->nsa", W, joined)))


@pytest.mark.parametrize("kind", ["bahdanau", "luong_dot", "luong_general", "luong_concat"])
def test_attention_scores_weights_and_context_match_the_equations(kind):
    torch.manual_seed(0)
    hq, hk = (4, 4) if kind == "luong_dot" else (3, 4)
    att = CLASSES[kind](hq, hk)
    keys, mask = keys_and_mask(hk=hk)
    q = torch.randn(3, hq)
    context, weights = att(q, keys, mask)
    scores = reference_scores(att, q, keys)
    expected_w = softmax_over_real(scores, mask)
    torch.testing.assert_close(weights, expected_w, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(
        context, torch.einsum("ns,nsk->nk", expected_w, keys * mask[..., None]), rtol=1e-5, atol=1e-5
    )
    # The scores themselves, through the module's own scoring path.
    torch.testing.assert_close(att.score(q, keys, att.project_keys(keys)), scores, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", ["bahdanau", "luong_general", "luong_concat"])
def test_masking_zero_on_pad_rows_sum_to_one_and_extra_padding_changes_nothing(kind):
    torch.manual_seed(1)
    att = CLASSES[kind](3, 4)
    keys, mask = keys_and_mask()
    q = torch.randn(3, 3)
    context, weights = att(q, keys, mask)
    assert torch.all(weights[~mask] == 0)
    assert torch.all(weights[mask] > 0)
    torch.testing.assert_close(weights.sum(1), torch.ones(3))
    wider = torch.cat([keys, 1e4 * torch.randn(3, 4, 4)], dim=1)
    wider_mask = torch.cat([mask, torch.zeros(3, 4, dtype=torch.bool)], dim=1)
    context2, weights2 = att(q, wider, wider_mask)
    torch.testing.assert_close(context2, context)
    torch.testing.assert_close(weights2[:, :5], weights)
    assert torch.all(weights2[:, 5:] == 0)


def test_a_fully_masked_row_is_not_nan():
    weights, _ = masked_softmax(torch.randn(2, 3), torch.tensor([[True, False, False], [False, False, False]]))
    assert not torch.isnan(weights).any()
    assert torch.equal(weights[0], torch.tensor([1.0, 0.0, 0.0]))


@pytest.mark.parametrize("attention", ["bahdanau", "luong_general"])
def test_bahdanau_queries_the_previous_state_and_luong_the_current_one(attention):
    m = seq2seq(attention, num_layers=2)
    src, tin = source_batch(LENGTHS), target_in(len(LENGTHS), 3)
    queries = []
    m.decoder.attention.register_forward_hook(lambda mod, args, out: queries.append(args[0].clone()))
    rnn_out = []
    m.decoder.rnn.register_forward_hook(lambda mod, args, out: rnn_out.append((args[1].clone(), out[0][:, 0].clone())))
    m.fast_teacher_forcing = False
    m(src, LENGTHS, tin)
    initial_top, first_output = rnn_out[0][0][-1], rnn_out[0][1]
    if attention == "bahdanau":
        torch.testing.assert_close(queries[0], initial_top)  # s_0, before the first step
        torch.testing.assert_close(queries[1], first_output)  # s_1 for step 2
    else:
        torch.testing.assert_close(queries[0], first_output)  # h_1, after the first step


def test_luong_input_feeding_feeds_the_attentional_state_starting_from_zeros():
    m = seq2seq("luong_concat")
    inputs = []
    m.decoder.rnn.register_forward_hook(lambda mod, args, out: inputs.append(args[0][:, 0].clone()))
    m.fast_teacher_forcing = False
    src, tin = source_batch(LENGTHS), target_in(len(LENGTHS), 3)
    m(src, LENGTHS, tin)
    emb = 5
    assert torch.all(inputs[0][:, emb:] == 0)
    # Step 2's fed part is tanh(W_c [c_1; h_1]): bounded, non-zero, and not the context itself.
    fed = inputs[1][:, emb:]
    assert fed.shape[1] == 6 and fed.abs().max() < 1 and fed.abs().sum() > 0
    m(src, LENGTHS, tin)  # a second batch starts from zeros again
    assert torch.all(inputs[3][:, emb:] == 0)


def test_none_uses_the_mean_of_the_real_encoder_outputs_as_its_context():
    m = seq2seq("none")
    src = source_batch(LENGTHS)
    _, memory = m.encode(src, LENGTHS)
    keys, _ = m.encoder(src, LENGTHS)
    for i, length in enumerate(LENGTHS.tolist()):
        torch.testing.assert_close(memory.fixed[i], keys[i, :length].mean(0))


# ---------------------------------------------------------------- encoder and bridge


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_bridge_takes_each_layers_forward_and_backward_final_state_of_a_packed_run(cell):
    m = seq2seq("bahdanau", cell, num_layers=2, hidden_size=4, decoder_hidden_size=8, bridge="last")
    src = source_batch(LENGTHS, total=7)
    state, _ = m.encode(src, LENGTHS)
    _, final = m.encoder(src, LENGTHS)
    h0 = state.hidden[0] if cell == "lstm" else state.hidden
    for i, length in enumerate(LENGTHS.tolist()):
        # Each sequence alone, trimmed: no padding at all, no packing.
        _, alone = m.encoder.rnn(m.encoder.embedding(src[i : i + 1, :length]))
        h = alone[0] if cell == "lstm" else alone  # (layers * dirs, 1, H) = [l0_fwd, l0_bwd, l1_fwd, l1_bwd]
        for layer in range(2):
            expected = torch.cat([h[2 * layer, 0], h[2 * layer + 1, 0]])
            torch.testing.assert_close(h0[layer, i], expected, rtol=1e-5, atol=1e-6)
        if cell == "lstm":
            c = alone[1]
            torch.testing.assert_close(state.hidden[1][1, i], torch.cat([c[2, 0], c[3, 0]]), rtol=1e-5, atol=1e-6)
    # linear_tanh is tanh(W [fwd; bwd] + b) of the same per-layer states.
    m2 = seq2seq("bahdanau", cell, num_layers=2, hidden_size=4, bridge="linear_tanh")
    s2, _ = m2.encode(src, LENGTHS)
    _, f2 = m2.encoder(src, LENGTHS)
    h_n = f2[0] if cell == "lstm" else f2
    joined = per_layer_final(h_n, 2, 2)
    got = s2.hidden[0] if cell == "lstm" else s2.hidden
    torch.testing.assert_close(got, torch.tanh(joined @ m2.bridge.h.weight.T + m2.bridge.h.bias))
    # The pitfall: h_n[:num_layers] is layer 0's two directions, not each layer's forward state.
    assert not torch.allclose(joined[1, :, :4], h_n[1])


def test_zero_bridge_starts_from_zeros():
    m = seq2seq("bahdanau", "lstm", bridge="zero", num_layers=2)
    state, _ = m.encode(source_batch(LENGTHS), LENGTHS)
    assert state.hidden[0].shape == (2, len(LENGTHS), 6)
    assert torch.all(state.hidden[0] == 0) and torch.all(state.hidden[1] == 0)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_encoder_outputs_and_logits_are_unchanged_by_extra_padding(cell):
    m = seq2seq("luong_general", cell, num_layers=2)
    src = source_batch(LENGTHS)
    wider = torch.cat([src, torch.full((len(LENGTHS), 4), PAD)], dim=1)
    out, _ = m.encoder(src, LENGTHS)
    out2, _ = m.encoder(wider, LENGTHS)
    real = torch.arange(src.shape[1])[None, :] < LENGTHS[:, None]
    torch.testing.assert_close(out2[:, : src.shape[1]][real], out[real])
    assert torch.all(out2[:, src.shape[1] :] == 0)
    tin = target_in(len(LENGTHS), 4)
    torch.testing.assert_close(m(wider, LENGTHS, tin), m(src, LENGTHS, tin))


# ---------------------------------------------------------------- teacher forcing


@pytest.mark.parametrize("attention", ATTENTIONS)
@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_teacher_forcing_fast_path_equals_the_step_loop(attention, cell):
    m = seq2seq(attention, cell, num_layers=2)
    src, tin = source_batch(LENGTHS), target_in(len(LENGTHS), 6)
    fast = m(src, LENGTHS, tin)
    m.fast_teacher_forcing = False
    torch.testing.assert_close(m(src, LENGTHS, tin), fast, rtol=1e-5, atol=1e-6)
    assert fast.shape == (len(LENGTHS), 6, VOCAB)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_luong_without_input_feeding_runs_the_rnn_once_and_matches_the_step_loop(cell):
    m = seq2seq("luong_general", cell, num_layers=2, input_feeding=False)
    assert m.decoder.rnn.input_size == 5  # the embedding alone
    calls = []
    m.decoder.rnn.register_forward_hook(lambda mod, args, out: calls.append(args[0].shape))
    src, tin = source_batch(LENGTHS), target_in(len(LENGTHS), 6)
    fast = m(src, LENGTHS, tin)
    assert calls == [(len(LENGTHS), 6, 5)]
    m.fast_teacher_forcing = False
    torch.testing.assert_close(m(src, LENGTHS, tin), fast, rtol=1e-5, atol=1e-6)


def test_dropout_trains_and_eval_is_deterministic():
    m = seq2seq("luong_dot", "lstm", num_layers=2, dropout=0.3).train()
    src, tin = source_batch(LENGTHS), target_in(len(LENGTHS), 4)
    a, b = m(src, LENGTHS, tin), m(src, LENGTHS, tin)
    assert not torch.equal(a, b)
    a.sum().backward()
    assert all(p.grad is not None for p in m.decoder.parameters())
    m.eval()
    torch.testing.assert_close(m(src, LENGTHS, tin), m(src, LENGTHS, tin), rtol=0, atol=0)
    assert torch.equal(m.beam_search(src, LENGTHS, 1, max_length=5), m.greedy(src, LENGTHS, max_length=5)[0])


def record_fed_tokens(m: Seq2Seq) -> list[torch.Tensor]:
    fed: list[torch.Tensor] = []
    m.decoder.embedding.register_forward_hook(lambda mod, args, out: fed.append(args[0].clone()))
    return fed


@pytest.mark.parametrize("fast", [True, False])
def test_ratio_one_feeds_the_gold_tokens(fast):
    m = seq2seq("bahdanau")
    m.fast_teacher_forcing = fast
    fed = record_fed_tokens(m)
    src, tin = source_batch(LENGTHS), target_in(len(LENGTHS), 6)
    m(src, LENGTHS, tin, teacher_forcing_ratio=1.0)
    tokens = fed[0] if fast else torch.stack(fed, dim=1)
    assert torch.equal(tokens, tin)


def test_ratio_zero_feeds_the_models_own_argmax_like_greedy():
    m = seq2seq("bahdanau")
    # Never EOS, so greedy runs the full length and its tokens are the free-running argmaxes.
    with torch.no_grad():
        m.decoder.output.bias[EOS] = -1e4
    fed = record_fed_tokens(m)
    src, tin = source_batch(LENGTHS), target_in(len(LENGTHS), 6)
    logits = m(src, LENGTHS, tin, teacher_forcing_ratio=0.0)
    own = logits.detach().clone()
    own[..., [PAD, BOS]] = float("-inf")  # never chosen as outputs
    own = own.argmax(-1)
    tokens = torch.stack(fed, dim=1)
    assert torch.equal(tokens[:, 0], tin[:, 0])
    assert torch.equal(tokens[:, 1:], own[:, :-1])
    assert not torch.equal(tokens[:, 1:], tin[:, 1:])
    greedy, _ = m.greedy(src, LENGTHS, max_length=6)
    assert torch.equal(greedy, own)


def test_sampled_tokens_carry_no_gradient_and_coins_are_per_token_per_example():
    m = seq2seq("bahdanau")
    m.train()
    fed = record_fed_tokens(m)
    n, steps = 64, 12
    lengths = torch.full((n,), 5)
    src, tin = source_batch(lengths, seed=3), target_in(n, steps, seed=4)
    torch.manual_seed(5)
    logits = m(src, lengths, tin, teacher_forcing_ratio=0.5)
    logits.sum().backward()  # through the argmax path too: it must not fail, the token is an integer
    tokens = torch.stack(fed, dim=1)[:, 1:]
    own = logits.detach().index_fill(-1, torch.tensor([PAD, BOS]), float("-inf")).argmax(-1)[:, :-1]
    gold = tin[:, 1:]
    distinct = own != gold
    took_gold = (tokens == gold) & distinct
    took_own = (tokens == own) & distinct
    assert torch.all(took_gold | took_own | ~distinct)
    share = took_gold.sum() / distinct.sum()
    assert 0.35 < share < 0.65
    # Mixed within sequences: a per-sequence coin would give each row all gold or all own.
    mixed = (took_gold.any(1) & took_own.any(1)).float().mean()
    assert mixed > 0.5


# ---------------------------------------------------------------- decoding


def test_greedy_stops_at_the_per_example_limit_without_eos():
    m = seq2seq("luong_concat", max_decode_factor=1.5, max_decode_extra=2)
    with torch.no_grad():
        m.decoder.output.bias[EOS] = -1e4
    src = source_batch(LENGTHS)
    tokens, attention = m.greedy(src, LENGTHS)
    limits = torch.floor(1.5 * LENGTHS.double()).long() + 2  # 9, 3, 6, 9, 5
    assert tokens.shape == (len(LENGTHS), int(limits.max()))
    for i, limit in enumerate(limits.tolist()):
        assert torch.all(tokens[i, :limit] != PAD) and torch.all(tokens[i, limit:] == PAD)
        assert torch.all(attention[i, limit:] == 0)
        torch.testing.assert_close(attention[i, :limit].sum(-1), torch.ones(limit))
        assert torch.all(attention[i, :, LENGTHS[i] :] == 0)
    short, _ = m.greedy(src, LENGTHS, max_length=2)
    assert short.shape == (len(LENGTHS), 2) and torch.all(short != PAD)


def test_greedy_stops_at_eos_and_pads_after():
    m = seq2seq("bahdanau")
    with torch.no_grad():
        m.decoder.output.bias[EOS] = -1e4
    src = source_batch(LENGTHS)
    free, _ = m.greedy(src, LENGTHS, max_length=8)
    # EOS takes over the output row of a token the free run emits, so each example ends where it first
    # emitted that token: at different steps per example, known in advance.
    target = int(free[:, 2].mode().values)
    with torch.no_grad():
        m.decoder.output.weight[EOS] = m.decoder.output.weight[target]
        m.decoder.output.bias[EOS] = m.decoder.output.bias[target] + 1e-3
        m.decoder.output.bias[target] = -1e4
    tokens, _ = m.greedy(src, LENGTHS, max_length=8)
    for i in range(len(LENGTHS)):
        row = free[i].tolist()
        end = row.index(target) if target in row else None
        if end is None:
            assert tokens.shape[1] == 8 and torch.all(tokens[i] != PAD) and EOS not in tokens[i].tolist()
        else:
            assert tokens[i, :end].tolist() == row[:end]
            assert tokens[i, end] == EOS
            assert torch.all(tokens[i, end + 1 :] == PAD)
    ends = [r.index(target) + 1 if target in r else 8 for r in free.tolist()]
    assert tokens.shape[1] == max(ends) and min(ends) < tokens.shape[1]


@pytest.mark.parametrize("attention", ATTENTIONS)
@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_beam_size_one_equals_greedy(attention, cell):
    m = seq2seq(attention, cell, num_layers=2, max_decode_factor=1.0, max_decode_extra=3)
    with torch.no_grad():
        m.decoder.output.bias[EOS] += 1.0  # some rows end early, some at their limit
    src = source_batch(LENGTHS, seed=7)
    greedy, _ = m.greedy(src, LENGTHS)
    beam = m.beam_search(src, LENGTHS, beam_size=1)
    assert torch.equal(beam, greedy)
    short = m.beam_search(src, LENGTHS, beam_size=1, length_penalty=0.0, max_length=4)
    assert torch.equal(short, m.greedy(src, LENGTHS, max_length=4)[0])


def sequence_log_prob(m: Seq2Seq, src, lengths, tokens) -> torch.Tensor:
    """Sum of log p of each output up to and including its EOS (or the whole row)."""
    tin = torch.cat([torch.full((len(tokens), 1), BOS), tokens[:, :-1]], dim=1)
    with torch.no_grad():
        logp = m(src, lengths, tin).log_softmax(-1).gather(2, tokens[..., None])[..., 0]
    return (logp * (tokens != PAD)).sum(1)


def test_beam_search_finds_outputs_at_least_as_likely_as_greedy_and_pads_after_eos():
    m = seq2seq("bahdanau", hidden_size=8)
    lengths = torch.tensor([5, 4, 3, 5, 2, 4, 5, 1])
    src = source_batch(lengths, seed=11)
    greedy, _ = m.greedy(src, lengths, max_length=6)
    beam = m.beam_search(src, lengths, beam_size=4, length_penalty=0.0, max_length=6)
    for row in beam.tolist():
        if EOS in row:
            assert all(t == PAD for t in row[row.index(EOS) + 1 :])
    got, base = sequence_log_prob(m, src, lengths, beam), sequence_log_prob(m, src, lengths, greedy)
    assert torch.all(got >= base - 1e-5)
    assert torch.any(got > base + 1e-4)


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_a_wide_beam_finds_the_exhaustive_best_under_the_gnmt_length_penalty(alpha):
    """With beam_size >= V^2 and a limit of 3, no hypothesis is ever pruned: the beam is exact."""
    m = seq2seq("luong_general", hidden_size=8)
    with torch.no_grad():
        # Peaked outputs and a rarer EOS: here the raw best is the lone EOS, the penalised best 3 tokens.
        m.decoder.output.weight *= 10
        m.decoder.output.bias[EOS] -= 2.0
    lengths = torch.tensor([4, 2, 3])
    src = source_batch(lengths, seed=5)
    beam = m.beam_search(src, lengths, beam_size=VOCAB * VOCAB, length_penalty=alpha, max_length=3)
    not_eos = [t for t in range(VOCAB) if t not in (EOS, PAD, BOS)]  # decoding never outputs PAD or BOS
    prefixes = torch.tensor([[BOS, a, b] for a in not_eos for b in not_eos])  # every (a, b) without EOS
    for i in range(len(lengths)):
        k = len(prefixes)
        with torch.no_grad():
            logp = m(src[i : i + 1].expand(k, -1), lengths[i : i + 1].expand(k), prefixes).log_softmax(-1)
        penalty = lambda n: ((5 + n) / 6) ** alpha  # noqa: E731
        best = ([EOS], logp[0, 0, EOS].item() / penalty(1))
        for j, (_, a, b) in enumerate(prefixes.tolist()):
            two = logp[j, 0, a].item() + logp[j, 1, EOS].item()
            if two / penalty(2) > best[1]:
                best = ([a, EOS], two / penalty(2))
            three = logp[j, 0, a] + logp[j, 1, b] + logp[j, 2]  # every third token, EOS included
            three[[PAD, BOS]] = float("-inf")
            c = int(three.argmax())
            if three[c].item() / penalty(3) > best[1]:
                best = ([a, b, c], three[c].item() / penalty(3))
        row = beam[i].tolist()
        assert row[: len(best[0])] == best[0] and all(t == PAD for t in row[len(best[0]) :])
    if alpha == 1.0:  # the penalty changes the choices here, so the check above covers its formula
        raw = m.beam_search(src, lengths, beam_size=VOCAB * VOCAB, length_penalty=0.0, max_length=3)
        assert not torch.equal(raw, beam)
        # ... and the exact search beats greedy somewhere.
        assert not torch.equal(m.greedy(src, lengths, max_length=3)[0], beam)


# ---------------------------------------------------------------- training sanity


def reverse_batch(n: int, g: torch.Generator):
    lengths = torch.randint(3, 7, (n,), generator=g)
    width = int(lengths.max())
    src = torch.full((n, width), PAD)
    tin = torch.full((n, width + 1), PAD)
    tout = torch.full((n, width + 1), PAD)
    for i, length in enumerate(lengths.tolist()):
        y = torch.randint(4, VOCAB, (length,), generator=g)
        src[i, :length] = y.flip(0)
        tin[i, 0], tin[i, 1 : length + 1] = BOS, y
        tout[i, :length], tout[i, length] = y, EOS
    return src, lengths, tin, tout


def token_accuracy(outputs: torch.Tensor, tout: torch.Tensor) -> float:
    aligned = torch.full_like(tout, PAD)
    width = min(tout.shape[1], outputs.shape[1])
    aligned[:, :width] = outputs[:, :width]
    real = tout != PAD
    return ((aligned == tout) & real).sum().item() / real.sum().item()


@pytest.fixture(scope="module")
def trained():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    m = Seq2Seq(VOCAB, VOCAB, PAD, BOS, EOS, cell="gru", attention="bahdanau", embedding_size=16, hidden_size=32)
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    loss_fn = nn.CrossEntropyLoss(ignore_index=PAD)
    start = time.perf_counter()
    for _ in range(130):
        src, lengths, tin, tout = reverse_batch(64, g)
        loss = loss_fn(m(src, lengths, tin).flatten(0, 1), tout.flatten())
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
    return m.eval(), time.perf_counter() - start


def test_a_bahdanau_gru_learns_to_reverse_short_sequences(trained):
    m, seconds = trained
    src, lengths, _, tout = reverse_batch(200, torch.Generator().manual_seed(1))
    greedy, attention = m.greedy(src, lengths)
    assert token_accuracy(greedy, tout) > 0.9
    assert seconds < 10
    # The output ends with EOS right after the reversed input, then padding.
    exact = [
        row[: n + 1] == ref[: n + 1] and all(t == PAD for t in row[n + 1 :])
        for row, ref, n in zip(greedy.tolist(), tout.tolist(), lengths.tolist())
    ]
    assert sum(exact) / len(exact) > 0.7
    # Attention on reverse looks at the mirrored position: output step 0 attends most to the last real input.
    first = attention[:, 0].argmax(-1)
    assert (first == lengths - 1).float().mean() > 0.7
    beam = m.beam_search(src, lengths, beam_size=3)
    assert token_accuracy(beam, tout) > 0.9
    assert torch.equal(m.beam_search(src, lengths, beam_size=1), greedy)


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("name", "bad", "closest"),
    [("attention", "bahdanu", "bahdanau"), ("bridge", "linear", "linear_tanh"), ("cell", "lstn", "lstm")],
)
def test_an_unknown_choice_names_the_choices_the_signature_declares_and_the_closest(name, bad, closest):
    # The Literal the config checker reads is the one the model checks against: one list of choices.
    declared = typing.get_args(typing.get_type_hints(Seq2Seq.__init__)[name])
    with pytest.raises(ValueError) as info:
        seq2seq(**{name: bad})
    assert str(info.value) == f"unknown {name} '{bad}'; choose one of: {', '.join(declared)}. Did you mean {closest}?"


def test_luong_dot_size_mismatch_names_the_fixes():
    with pytest.raises(ValueError, match=r"luong_dot.*\(6\).*\(12;.*decoder_hidden_size=12.*luong_general"):
        Seq2Seq(VOCAB, VOCAB, PAD, BOS, EOS, attention="luong_dot", hidden_size=6)
    # Either fix builds.
    Seq2Seq(VOCAB, VOCAB, PAD, BOS, EOS, attention="luong_dot", hidden_size=6, decoder_hidden_size=12)
    Seq2Seq(VOCAB, VOCAB, PAD, BOS, EOS, attention="luong_dot", hidden_size=6, bidirectional_encoder=False)


def test_bridge_last_size_mismatch_names_the_fixes():
    with pytest.raises(ValueError, match=r"bridge=last.*12 wide.*decoder_hidden_size=12.*linear_tanh"):
        Seq2Seq(VOCAB, VOCAB, PAD, BOS, EOS, bridge="last", hidden_size=6)
    Seq2Seq(VOCAB, VOCAB, PAD, BOS, EOS, bridge="last", hidden_size=6, bidirectional_encoder=False)


@pytest.mark.parametrize("beam_size", [0, -1, 1.5])
def test_beam_size_below_one_is_refused(beam_size):
    m = seq2seq()
    with pytest.raises(ValueError, match="beam_size must be a whole number >= 1"):
        m.beam_search(source_batch(LENGTHS), LENGTHS, beam_size=beam_size)


def test_other_bad_inputs():
    with pytest.raises(ValueError, match="distinct"):
        Seq2Seq(VOCAB, VOCAB, PAD, PAD, EOS)
    with pytest.raises(ValueError, match="teacher_forcing_ratio"):
        seq2seq()(source_batch(LENGTHS), LENGTHS, target_in(5, 3), teacher_forcing_ratio=1.5)
    with pytest.raises(ValueError, match="source_lengths must be in"):
        seq2seq()(source_batch(LENGTHS), torch.tensor([5, 0, 3, 5, 2]), target_in(5, 3))
    with pytest.raises(ValueError, match="max_decode_extra"):
        Seq2Seq(VOCAB, VOCAB, PAD, BOS, EOS, max_decode_factor=0.5, max_decode_extra=0)
