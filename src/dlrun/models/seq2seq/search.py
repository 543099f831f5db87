"""Free-running decoding: greedy and batched beam search.

Neither ever outputs PAD or BOS. Both stop each example at its own limit (`limits`, (N,) tokens, EOS
included) and return tokens (N, L) that include the EOS an example ended with, padded with pad after
it; an example cut at its limit has no EOS. L is the longest output in the batch.
"""

from __future__ import annotations

import torch
from torch import Tensor

from dlrun.models.seq2seq.decoder import Decoder, DecoderState, Memory


def gnmt_length_penalty(length: int, alpha: float) -> float:
    """((5 + length) / 6) ** alpha (Wu et al. 2016, GNMT eq. 14); alpha 0 ranks by raw log-probability."""
    return ((5.0 + length) / 6.0) ** alpha


def greedy_decode(
    decoder: Decoder, state: DecoderState, memory: Memory, bos_id: int, eos_id: int, pad_id: int, limits: Tensor
) -> tuple[Tensor, Tensor | None]:
    """(tokens (N, L), attention weights (N, L, S) or None for attention=none; zero rows after the end)."""
    n = limits.shape[0]
    device = memory.keys.device
    limits = limits.to(device)
    tokens = torch.full((n,), bos_id, dtype=torch.long, device=device)
    finished = torch.zeros(n, dtype=torch.bool, device=device)
    outputs, attentions = [], []
    for t in range(int(limits.max())):
        logits, state, weights = decoder.step(tokens, state, memory)
        tokens = decoder.decodable(logits).argmax(-1).masked_fill(finished, pad_id)
        outputs.append(tokens)
        if weights is not None:
            attentions.append(weights.masked_fill(finished[:, None], 0.0))
        finished = finished | (tokens == eos_id) | (limits <= t + 1)
        if bool(finished.all()):
            break
    out = torch.stack(outputs, dim=1)
    return out, (torch.stack(attentions, dim=1) if attentions else None)


def beam_search(
    decoder: Decoder,
    state: DecoderState,
    memory: Memory,
    bos_id: int,
    eos_id: int,
    pad_id: int,
    limits: Tensor,
    beam_size: int,
    length_penalty: float = 1.0,
) -> Tensor:
    """Tokens (N, L): the best of `beam_size` hypotheses per example, batched as N * beam_size rows.

    The beams grow by raw log-probability. Each step ranks the top 2K continuations of an example's
    K beams; an EOS among the top K finishes that hypothesis, scored log p / GNMT penalty (see
    `gnmt_length_penalty`; its length counts the EOS), and the best K non-EOS ones go on. An example
    stops once it has K finished hypotheses, or at its limit (where its live beams are finished
    without an EOS), and returns its best finished one. With K = 1 the only candidate that can
    finish is the argmax, so beam size 1 is greedy decoding exactly.
    """
    k = beam_size
    n = limits.shape[0]
    device = memory.keys.device
    limits_list = limits.tolist()
    rows = torch.arange(n, device=device).repeat_interleave(k)
    memory, state = memory.select(rows), state.select(rows)
    scores = torch.zeros(n, k, device=device)
    # Only beam 0 is live at first, so the K beams do not start as K copies of the same hypothesis.
    scores[:, 1:] = float("-inf")
    history = torch.empty(n * k, 0, dtype=torch.long, device=device)
    tokens = torch.full((n * k,), bos_id, dtype=torch.long, device=device)
    finished: list[list[tuple[float, Tensor]]] = [[] for _ in range(n)]
    done = [False] * n
    base = torch.arange(n, device=device)[:, None] * k
    for t in range(int(max(limits_list))):
        length = t + 1
        logits, state, _ = decoder.step(tokens, state, memory)
        vocab = logits.shape[-1]
        log_probs = decoder.decodable(logits.float().log_softmax(-1)).view(n, k, vocab)
        candidates = (scores[:, :, None] + log_probs).view(n, k * vocab)
        top_scores, top_index = candidates.topk(min(2 * k, k * vocab), dim=1)
        top_beam, top_token = top_index // vocab, top_index % vocab
        is_eos = top_token == eos_id
        # The first K non-EOS candidates by rank go on (a stable sort keeps their order).
        keep = torch.argsort(is_eos.to(torch.int8), dim=1, stable=True)[:, :k]
        live_scores = top_scores.gather(1, keep)
        live_beam, live_token = top_beam.gather(1, keep), top_token.gather(1, keep)
        flat_keep = (base + live_beam).view(-1)

        eos_hits = (is_eos[:, :k] & torch.isfinite(top_scores[:, :k])).nonzero().tolist()
        at_limit = [i for i in range(n) if not done[i] and limits_list[i] <= length]
        if eos_hits or at_limit:
            penalty = gnmt_length_penalty(length, length_penalty)
            for i, rank in eos_hits:
                if not done[i]:
                    row = i * k + int(top_beam[i, rank])
                    sequence = torch.cat([history[row], top_token[i, rank : rank + 1]])
                    finished[i].append((float(top_scores[i, rank]) / penalty, sequence))
            for i in at_limit:
                for j in range(k):
                    if torch.isfinite(live_scores[i, j]):
                        sequence = torch.cat([history[int(flat_keep[i * k + j])], live_token[i, j : j + 1]])
                        finished[i].append((float(live_scores[i, j]) / penalty, sequence))
            for i in range(n):
                if not done[i] and (len(finished[i]) >= k or limits_list[i] <= length):
                    done[i] = True
        if all(done):
            break
        state = state.select(flat_keep)
        history = torch.cat([history.index_select(0, flat_keep), live_token.view(-1, 1)], dim=1)
        scores = live_scores
        tokens = live_token.view(-1)

    best = [max(hypotheses, key=lambda h: h[0])[1] for hypotheses in finished]
    out = torch.full((n, max(len(b) for b in best)), pad_id, dtype=torch.long, device=device)
    for i, sequence in enumerate(best):
        out[i, : len(sequence)] = sequence
    return out
