"""Spoken digit strings: "three seven one" synthesized by espeak-ng, for speech recognition with CTC.

Every utterance is drawn from `generator_seed`: how many digits (uniformly from min_digits to
max_digits), each digit, a voice, a speed and a pitch. The digits are spoken as their words in one
espeak-ng call, so the words run into each other as a voice reads a number aloud, and nothing says
where one ends: the targets are the digits alone, for a model that learns the alignment (CTC). As in
data=spoken_digits, the speakers (voice variants) are shared out among the splits first
(synthesis.speaker_split), so every test utterance is spoken by a voice never heard in training, and
each split draws from its own random stream (a numpy SeedSequence spawned from generator_seed).

Targets are label ids: the blank is 0 and the words zero..nine are 1..10 (class_names holds the
words after "<blank>"). Batches carry `inputs` (N, frames, features), `lengths` (frames), `targets`
(N, max_digits, padded with 0) and `target_lengths` (digits). Clips are never cut: an utterance
longer than `max_duration` would lose words its targets still name, so the module refuses it and
says how long max_duration must be.

The waveforms are synthesized once and cached as in data=spoken_digits (see cache.py and
synthesized.py), keyed by a hash of every generation setting and espeak-ng's version; features are
computed at every load.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from dlrun.checks import check_number
from dlrun.data.audio.features import FeatureScaler
from dlrun.data.audio.speech_module import Layout, clip_features, prepare_clips
from dlrun.data.audio.spoken_digits import DIGIT_WORDS
from dlrun.data.audio.synthesized import SynthesizedSpeechModule, synthesize_all, waveforms
from dlrun.data.in_memory import SPLITS
from dlrun.data.loader import Batch
from dlrun.data.spec import DataSpec
from dlrun.errors import ConfigError

BLANK = "<blank>"
LABELS = (BLANK, *DIGIT_WORDS)  # label id = digit + 1
# Clips are trimmed but never cut (see _check_duration).
UNCUT = np.iinfo(np.int64).max

# One planned utterance: its digits, voice, speed and pitch.
Utterance = tuple[tuple[int, ...], str, int, int]


def spell(digits: Sequence[int]) -> str:
    """What espeak-ng is asked to say: the digits' words, space separated ("3 7 1" -> "three seven one")."""
    return " ".join(DIGIT_WORDS[d] for d in digits)


def generation_plan(
    voices: dict[str, list[str]],
    sizes: dict[str, int],
    digit_range: tuple[int, int],
    speed_range: tuple[int, int],
    pitch_range: tuple[int, int],
    seed: int,
) -> dict[str, list[Utterance]]:
    """{split: utterances}: `sizes[split]` of them, each of a digit count drawn uniformly from
    `digit_range` (inclusive) and uniform digits, spoken by the next voice of a shuffled cycle over
    the split's voices (so voices are used evenly), at a speed and pitch drawn uniformly."""
    plan = {}
    for split, stream in zip(SPLITS, np.random.SeedSequence(seed).spawn(len(SPLITS))):
        rng = np.random.default_rng(stream)
        count, pool = sizes[split], voices[split]
        cycles = -(-count // len(pool))
        order = np.concatenate([rng.permutation(len(pool)) for _ in range(cycles)])[:count]
        counts = rng.integers(digit_range[0], digit_range[1] + 1, size=count)
        speeds = rng.integers(speed_range[0], speed_range[1] + 1, size=count)
        pitches = rng.integers(pitch_range[0], pitch_range[1] + 1, size=count)
        plan[split] = [
            (tuple(int(d) for d in rng.integers(0, 10, size=n)), pool[v], int(s), int(p))
            for n, v, s, p in zip(counts, order, speeds, pitches)
        ]
    return plan


def synthesize_plan(plan: dict[str, list[Utterance]], sample_rate: int) -> dict[str, np.ndarray]:
    """Every planned utterance synthesized, as the cache's arrays: synthesize_all's `samples` and
    `offsets`, `digits` (all digits end to end; utterance i's are digits[digit_offsets[i]:digit_offsets[i+1]]),
    `digit_offsets`, `voices`, `speeds`, `pitches` and `splits` (index into SPLITS), in split order."""
    entries = [(index, *utterance) for index, split in enumerate(SPLITS) for utterance in plan[split]]
    spoken = [(spell(digits), voice, speed, pitch) for _, digits, voice, speed, pitch in entries]
    digit_counts = [len(entry[1]) for entry in entries]
    return {
        **synthesize_all(spoken, sample_rate),
        "digits": np.array([d for entry in entries for d in entry[1]], dtype=np.int8),
        "digit_offsets": np.concatenate([[0], np.cumsum(digit_counts)]).astype(np.int64),
        "voices": np.array([entry[2] for entry in entries], dtype=str),
        "speeds": np.array([entry[3] for entry in entries], dtype=np.int16),
        "pitches": np.array([entry[4] for entry in entries], dtype=np.int16),
        "splits": np.array([entry[0] for entry in entries], dtype=np.int8),
    }


class SpokenDigitStringsDataModule(SynthesizedSpeechModule):
    """Utterances of several spoken digits and the digits they say, speaker-disjoint splits (see the
    module's docstring), as CTC data: frames in, label sequences out.

    `options` are SynthesizedSpeechModule's (languages, variants, val_fraction, test_fraction,
    generator_seed, cache_dir) and SpeechDataModule's (sample_rate, max_duration, trim_db, features,
    scaling, augment, batch_size, eval_batch_size, steps_per_execution, bucket_pool_batches); the
    layout is always frames. `load` takes the place of SpeechDataModule's `clips`, whose labels are
    one class per clip.
    """

    cache_folder = "spoken_digit_strings"
    cache_format = 2

    def __init__(
        self,
        train_size: int = 2000,
        val_size: int = 200,
        test_size: int = 300,
        min_digits: int = 2,
        max_digits: int = 5,
        speed_range: Sequence[int] = (140, 220),
        pitch_range: Sequence[int] = (30, 70),
        layout: Layout = "frames",
        **options,
    ) -> None:
        if layout not in ("frames", "auto"):
            raise ConfigError(
                f"data.layout must be frames for spoken digit strings (got {layout!r}): CTC labels a sequence of "
                "frames, so the model reads (frames, features) sequences with their lengths, e.g. model=bilstm "
                "model.read_out=frames."
            )
        super().__init__(speed_range=speed_range, pitch_range=pitch_range, layout="frames", **options)
        sizes = {"train_size": train_size, "val_size": val_size, "test_size": test_size}
        for key, value in sizes.items():
            check_number(f"data.{key}", value, at_least=1, whole=True, unit="utterances")
        for key, value in (("min_digits", min_digits), ("max_digits", max_digits)):
            check_number(f"data.{key}", value, at_least=1, whole=True, unit="digits per utterance")
        if min_digits > max_digits:
            raise ConfigError(
                f"data.min_digits ({min_digits}) is above data.max_digits ({max_digits}); each utterance draws its "
                "number of digits uniformly from min_digits to max_digits, so give min_digits <= max_digits."
            )
        self.sizes = {"train": int(train_size), "val": int(val_size), "test": int(test_size)}
        self.digit_range = (int(min_digits), int(max_digits))
        self.split_voices: dict[str, np.ndarray] = {}

    # -- generation -------------------------------------------------------------------------

    def cache_settings(self) -> dict[str, object]:
        return {"sizes": self.sizes, "digit_range": self.digit_range}

    def plan(self) -> dict[str, list[Utterance]]:
        return generation_plan(
            self.voices_by_split(),
            self.sizes,
            self.digit_range,
            self.speed_range,
            self.pitch_range,
            self.generator_seed,
        )

    def synthesize(self, plan: dict[str, list[Utterance]]) -> dict[str, np.ndarray]:
        return synthesize_plan(plan, self.sample_rate)

    def utterances(self) -> dict[str, tuple[list[np.ndarray], list[list[int]]]]:
        """{split: (waveforms, the digits each says)}."""
        arrays = self.generated()
        digit_offsets, digits = arrays["digit_offsets"], arrays["digits"]
        splits = {}
        for index, split in enumerate(SPLITS):
            rows = np.flatnonzero(arrays["splits"] == index)
            said = [digits[digit_offsets[i] : digit_offsets[i + 1]].astype(int).tolist() for i in rows]
            splits[split] = (waveforms(arrays, rows), said)
            self.split_voices[split] = arrays["voices"][rows]
        return splits

    # -- serving ----------------------------------------------------------------------------

    def load(self) -> tuple[dict[str, Batch], DataSpec]:
        splits = self.utterances()
        computed, targets = {}, {}
        for split, (waves, said) in splits.items():
            clips = prepare_clips(waves, self.trim_db, UNCUT)
            self._check_duration(split, clips)
            computed[split] = clip_features(self.features, clips, "frames", self.max_samples)
            targets[split] = said
        if self.scaling == "standard":
            self.scaler = FeatureScaler.fit(*computed["train"])
        frames = max(features.shape[1] for features, _ in computed.values())
        max_digits = self.digit_range[1]
        served = {}
        for split, (features, counts) in computed.items():
            if self.scaler is not None:
                features = self.scaler(features, counts)
            labels = torch.zeros(len(targets[split]), max_digits, dtype=torch.int64)
            for row, digits in enumerate(targets[split]):
                labels[row, : len(digits)] = torch.as_tensor(digits) + 1  # 0 is the blank
            served[split] = {
                "inputs": torch.nn.functional.pad(features, (0, 0, 0, frames - features.shape[1])),
                "lengths": counts,
                "targets": labels,
                "target_lengths": torch.tensor([len(d) for d in targets[split]], dtype=torch.int64),
            }
        self.augmentation = self.spec_augment if self.spec_augment.active else None
        spec = DataSpec(
            "ctc",
            tuple(served["train"]["inputs"].shape[1:]),
            class_names=LABELS,
            target_vocab_size=len(LABELS),
            max_length=frames,
            max_target_length=max_digits,
        )
        return served, spec

    def _check_duration(self, split: str, clips: list[np.ndarray]) -> None:
        longest = max((len(c) for c in clips), default=0)
        if longest <= self.max_samples:
            return
        too_long = sum(len(c) > self.max_samples for c in clips)
        raise ConfigError(
            f"{too_long} {split} utterances are longer than data.max_duration={self.max_duration:g} s (the longest "
            f"lasts {longest / self.sample_rate:.2f} s after trimming), and cutting them would lose words their "
            f"targets name. Raise data.max_duration to at least {np.ceil(longest / self.sample_rate * 10) / 10:g}, "
            "or lower data.max_digits or raise data.speed_range."
        )
