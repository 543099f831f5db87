"""Seq2Seq encoder-decoder with Bahdanau or Luong attention, greedy and beam decoding (plain torch)."""

from dlrun.models.seq2seq.attention import (
    AttentionKind,
    BahdanauAttention,
    LuongConcatAttention,
    LuongDotAttention,
    LuongGeneralAttention,
    make_attention,
    masked_softmax,
)
from dlrun.models.seq2seq.bridge import Bridge, BridgeKind, per_layer_final
from dlrun.models.seq2seq.decoder import Decoder, DecoderState, Memory
from dlrun.models.seq2seq.encoder import Encoder
from dlrun.models.seq2seq.model import Seq2Seq
from dlrun.models.seq2seq.search import beam_search, gnmt_length_penalty, greedy_decode

__all__ = [
    "AttentionKind",
    "BahdanauAttention",
    "Bridge",
    "BridgeKind",
    "Decoder",
    "DecoderState",
    "Encoder",
    "LuongConcatAttention",
    "LuongDotAttention",
    "LuongGeneralAttention",
    "Memory",
    "Seq2Seq",
    "beam_search",
    "gnmt_length_penalty",
    "greedy_decode",
    "make_attention",
    "masked_softmax",
    "per_layer_final",
]
