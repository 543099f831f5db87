"""Spoken digits: the words zero..nine synthesized by espeak-ng in many voices, recognized from speech.

Every utterance is drawn from `generator_seed`: a voice (an English accent + a variant, see
synthesis.py), a speed and a pitch. The speakers (variants) are first shared out among the splits
(synthesis.speaker_split), so every test utterance is spoken by a voice never heard in training or
validation: test accuracy measures generalization to new speakers, not memory of the training ones.
Each split has its own random stream (a numpy SeedSequence spawned from generator_seed, as in
data=adding), so the words, voices, speeds and pitches of one split never share draws with another.

The waveforms are synthesized once (about 15 ms an utterance on one core, in parallel over the
cores) and kept in the cache dir (see cache.py and synthesized.py) as int16 samples without espeak-ng's exactly-silent
ends, keyed by a hash of every generation setting and espeak-ng's version; features are computed
from them at every load, so changing a feature option does not synthesize again.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dlrun.checks import check_number
from dlrun.data.audio.speech_module import LabelledClips
from dlrun.data.audio.synthesized import SynthesizedSpeechModule, synthesize_all, waveforms
from dlrun.data.in_memory import SPLITS
from dlrun.errors import ConfigError

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def split_sizes(examples_per_word: int, val_fraction: float, test_fraction: float) -> dict[str, int]:
    """Utterances of each word in each split: the fractions of `examples_per_word`, train the rest."""
    val, test = round(examples_per_word * val_fraction), round(examples_per_word * test_fraction)
    return {"train": examples_per_word - val - test, "val": val, "test": test}


def generation_plan(
    voices: dict[str, list[str]],
    sizes: dict[str, int],
    num_words: int,
    speed_range: tuple[int, int],
    pitch_range: tuple[int, int],
    seed: int,
) -> dict[str, list[tuple[int, str, int, int]]]:
    """{split: [(word index, voice, speed, pitch), ...]}: `sizes[split]` utterances of every word, in
    word order, each by the next voice of a shuffled cycle over the split's voices (so voices are
    used evenly), with speed and pitch drawn uniformly from their inclusive ranges."""
    plan = {}
    for split, stream in zip(SPLITS, np.random.SeedSequence(seed).spawn(len(SPLITS))):
        rng = np.random.default_rng(stream)
        count, pool = sizes[split], voices[split]
        entries = []
        for word in range(num_words):
            cycles = -(-count // len(pool))
            order = np.concatenate([rng.permutation(len(pool)) for _ in range(cycles)])[:count]
            speeds = rng.integers(speed_range[0], speed_range[1] + 1, size=count)
            pitches = rng.integers(pitch_range[0], pitch_range[1] + 1, size=count)
            entries += [(word, pool[v], int(s), int(p)) for v, s, p in zip(order, speeds, pitches)]
        plan[split] = entries
    return plan


def synthesize_plan(
    words: Sequence[str], plan: dict[str, list[tuple[int, str, int, int]]], sample_rate: int
) -> dict[str, np.ndarray]:
    """Every planned utterance synthesized, as the cache's arrays: synthesize_all's `samples` and
    `offsets`, and `labels`, `voices`, `speeds`, `pitches` and `splits` (index into SPLITS), in split order."""
    entries = [(split_index, *entry) for split_index, split in enumerate(SPLITS) for entry in plan[split]]
    spoken = [(words[word], voice, speed, pitch) for _, word, voice, speed, pitch in entries]
    return {
        **synthesize_all(spoken, sample_rate),
        "labels": np.array([e[1] for e in entries], dtype=np.int16),
        "voices": np.array([e[2] for e in entries], dtype=str),
        "speeds": np.array([e[3] for e in entries], dtype=np.int16),
        "pitches": np.array([e[4] for e in entries], dtype=np.int16),
        "splits": np.array([e[0] for e in entries], dtype=np.int8),
    }


class SpokenDigitsDataModule(SynthesizedSpeechModule):
    """The spoken words (zero..nine by default) of espeak-ng voices, speaker-disjoint splits (see the
    module's docstring); features and layout as SpeechDataModule serves them, the voice options as
    SynthesizedSpeechModule takes them."""

    cache_folder = "spoken_digits"
    cache_format = 1
    fractions_of = "the speakers and of the utterances"

    def __init__(self, words: Sequence[str] = DIGIT_WORDS, examples_per_word: int = 200, **options) -> None:
        super().__init__(**options)
        words = [words] if isinstance(words, str) else list(words)
        if len(words) < 2 or len(set(words)) != len(words) or not all(isinstance(w, str) and w.strip() for w in words):
            raise ConfigError(
                f"data.words must list at least two different words (the classes, each spoken by every voice), "
                f"e.g. [yes, no]; got {words}."
            )
        check_number("data.examples_per_word", examples_per_word, at_least=1, whole=True, unit="utterances per word")
        sizes = split_sizes(int(examples_per_word), self.val_fraction, self.test_fraction)
        if min(sizes.values()) < 1:
            raise ConfigError(
                f"data.examples_per_word={examples_per_word} gives {sizes} utterances of each word per split; "
                f"every split needs one at least: raise data.examples_per_word (e.g. 300)."
            )
        self.words = tuple(words)
        self.examples_per_word = int(examples_per_word)
        self.sizes = sizes

    def cache_settings(self) -> dict[str, object]:
        return {"words": self.words, "sizes": self.sizes}

    def plan(self) -> dict[str, list[tuple[int, str, int, int]]]:
        return generation_plan(
            self.voices_by_split(), self.sizes, len(self.words), self.speed_range, self.pitch_range, self.generator_seed
        )

    def synthesize(self, plan: dict[str, list[tuple[int, str, int, int]]]) -> dict[str, np.ndarray]:
        return synthesize_plan(self.words, plan, self.sample_rate)

    def clips(self) -> tuple[dict[str, LabelledClips], tuple[str, ...]]:
        arrays = self.generated()
        splits = {}
        for index, split in enumerate(SPLITS):
            rows = np.flatnonzero(arrays["splits"] == index)
            splits[split] = LabelledClips(waveforms(arrays, rows), arrays["labels"][rows].astype(np.int64))
        self.split_voices = {split: arrays["voices"][arrays["splits"] == i] for i, split in enumerate(SPLITS)}
        return splits, self.words
