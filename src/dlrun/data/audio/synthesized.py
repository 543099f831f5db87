"""What the espeak-ng data sets share (data=spoken_digits, data=spoken_digit_strings).

Their utterances are drawn from `generator_seed`: a voice (an accent from `languages` + a variant
from `variants`, see synthesis.py), a speed from `speed_range` and a pitch from `pitch_range`. The
speakers (variants) are shared out among the splits first (synthesis.speaker_split, by `val_fraction`
and `test_fraction`), so every test utterance is spoken by a voice never heard in training.

The waveforms are synthesized once (threads, one espeak-ng process each) and kept in the cache dir
(see cache.py) as int16 samples without espeak-ng's exactly-silent ends, in one file a data set's
folder named by a hash of every generation setting and espeak-ng's version.
"""

from __future__ import annotations

import logging
import os
import time
from abc import abstractmethod
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from dlrun.checks import check_number, is_whole
from dlrun.data.audio import synthesis
from dlrun.data.audio.cache import cache_dir, cached_arrays, settings_key
from dlrun.data.audio.speech_module import SpeechDataModule
from dlrun.errors import ConfigError, did_you_mean

log = logging.getLogger(__name__)

# As WAV files store 16-bit samples: x * 32768, clipped to int16 (so reading them back is x / 32768).
INT16_SCALE = 32768.0

# One utterance to synthesize: its text, voice, speed and pitch.
Spoken = tuple[str, str, int, int]


def checked_range(name: str, value: Sequence[int], limits: tuple[int, int], unit: str) -> tuple[int, int]:
    """data.`name` as (low, high): whole numbers inside espeak-ng's `limits`, low <= high."""
    pair = list(value) if isinstance(value, Sequence) and not isinstance(value, str) else []
    low, high = limits
    if len(pair) != 2 or not all(is_whole(v) and low <= v <= high for v in pair) or pair[0] > pair[1]:
        raise ConfigError(
            f"data.{name} must be [low, high], whole numbers of {unit} from {low} to {high} with low <= high "
            f"(each utterance draws one uniformly from it); got {value!r}."
        )
    return int(pair[0]), int(pair[1])


def synthesize_all(utterances: Sequence[Spoken], sample_rate: int) -> dict[str, np.ndarray]:
    """Every utterance synthesized (in threads, one espeak-ng process each), as the cache keeps them:
    `samples` (int16, utterances end to end) and `offsets` (utterance i is samples[offsets[i]:offsets[i+1]])."""
    workers = max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)

    def one(utterance: Spoken) -> np.ndarray:  # a def, not a lambda: mypy mis-infers a lambda's parameter here
        return _int16(synthesis.synthesize(*utterance, sample_rate))

    with ThreadPoolExecutor(max_workers=workers) as pool:
        waves = list(pool.map(one, utterances))
    return {
        "samples": np.concatenate(waves) if waves else np.zeros(0, np.int16),
        "offsets": np.concatenate([[0], np.cumsum([len(w) for w in waves])]).astype(np.int64),
    }


def waveforms(arrays: dict[str, np.ndarray], rows: Sequence[int] | np.ndarray) -> list[np.ndarray]:
    """Utterances `rows` of synthesize_all's arrays, as float32 in [-1, 1)."""
    offsets, samples = arrays["offsets"], arrays["samples"]
    return [samples[offsets[i] : offsets[i + 1]].astype(np.float32) / INT16_SCALE for i in rows]


def _int16(wave: np.ndarray) -> np.ndarray:
    """A float waveform as int16 samples, without its exactly-silent ends (one sample if all silent)."""
    samples = np.clip(np.round(wave * INT16_SCALE), -32768, 32767).astype(np.int16)  # 1.0 would wrap around
    # espeak-ng's ends are exact digital silence: dropping them loses nothing and a third of the bytes.
    loud = np.flatnonzero(samples)
    return samples[loud[0] : loud[-1] + 1] if len(loud) else samples[:1]


class SynthesizedSpeechModule(SpeechDataModule):
    """A SpeechDataModule whose utterances espeak-ng speaks (see the module's docstring).

    A subclass names its cache folder and format, adds its own settings to the cache key
    (`cache_settings`), and plans (`plan`) and synthesizes (`synthesize`) its utterances; `options`
    are SpeechDataModule's.
    """

    # The folder of the cache dir that holds this data set's files.
    cache_folder: str
    # Bumped whenever what is cached changes meaning, so older cache files are never read as new ones.
    cache_format: int
    # What val_fraction and test_fraction hold out, for their error message.
    fractions_of = "the speakers"

    def __init__(
        self,
        languages: Sequence[str] = synthesis.ENGLISH,
        variants: Sequence[str] | None = None,
        speed_range: Sequence[int] = (130, 230),
        pitch_range: Sequence[int] = (20, 80),
        val_fraction: float = 0.15,
        test_fraction: float = 0.15,
        generator_seed: int = 0,
        cache_dir: str | None = None,
        **options,
    ) -> None:
        super().__init__(**options)
        for name, fraction in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
            check_number(f"data.{name}", fraction, above=0, below=1, meaning=f"a fraction of {self.fractions_of}")
        if val_fraction + test_fraction >= 1:
            raise ConfigError(
                f"data.val_fraction + data.test_fraction must leave speakers for training (sum below 1); got "
                f"{val_fraction} + {test_fraction}."
            )
        check_number(
            "data.generator_seed", generator_seed, at_least=0, whole=True, meaning="it seeds the generated utterances"
        )
        self.languages = (languages,) if isinstance(languages, str) else tuple(languages)
        self.variants = None if variants is None else ((variants,) if isinstance(variants, str) else tuple(variants))
        self.speed_range = checked_range("speed_range", speed_range, synthesis.SPEED_RANGE, "words per minute")
        self.pitch_range = checked_range(
            "pitch_range", pitch_range, synthesis.PITCH_RANGE, "espeak-ng's pitch (50 = the voice's own)"
        )
        self.val_fraction = float(val_fraction)
        self.test_fraction = float(test_fraction)
        self.generator_seed = int(generator_seed)
        self.cache_dir = cache_dir

    @abstractmethod
    def cache_settings(self) -> dict[str, object]:
        """The subclass's own generation settings, which the cache key covers too."""

    @abstractmethod
    def plan(self) -> dict[str, list]:
        """{split: the utterances to synthesize}, drawn from generator_seed."""

    @abstractmethod
    def synthesize(self, plan: dict[str, list]) -> dict[str, np.ndarray]:
        """The cache's arrays of a plan (synthesize_all's and what each utterance says)."""

    def voices(self) -> list[str]:
        """The voices to draw from: data.languages x data.variants (checked against what espeak-ng has)."""
        voices = synthesis.available_voices(self.languages)
        if not voices:
            raise ConfigError(
                f"espeak-ng has no voice for data.languages={list(self.languages)}. Languages are prefixes such as "
                f"en (every English accent), en-us or de; espeak-ng has {', '.join(synthesis._languages()[:12])}, ... "
                f"(`espeak-ng --voices` lists them all)."
            )
        if self.variants is None:
            return voices
        known = sorted({synthesis.variant_of(v) for v in voices})
        for variant in self.variants:
            if variant not in known:
                shown = [k or "''" for k in known]
                raise ConfigError(
                    f"Unknown data.variants entry '{variant}': espeak-ng's variants are {', '.join(shown[:20])}, ... "
                    f"('' is the base voice; `espeak-ng --voices=variant` lists them).{did_you_mean(variant, known)}"
                )
        return [v for v in voices if synthesis.variant_of(v) in self.variants]

    def voices_by_split(self) -> dict[str, list[str]]:
        """The voices of each split, speaker-disjoint (synthesis.speaker_split, seeded by generator_seed)."""
        fractions = {
            "train": 1 - self.val_fraction - self.test_fraction,
            "val": self.val_fraction,
            "test": self.test_fraction,
        }
        return synthesis.speaker_split(self.voices(), self.generator_seed, fractions)

    def cache_path(self) -> Path:
        """The cache file of these generation settings (the voices are listed in full, so the data
        espeak-ng's installed voices can make decide the key, not the options that chose them)."""
        settings = {
            "format": self.cache_format,
            "espeak": synthesis.espeak_version(),
            "voices": self.voices_by_split(),
            "speed_range": self.speed_range,
            "pitch_range": self.pitch_range,
            "sample_rate": self.sample_rate,
            "generator_seed": self.generator_seed,
            **self.cache_settings(),
        }
        return cache_dir(self.cache_dir) / self.cache_folder / f"{settings_key(settings)}.npz"

    def generated(self) -> dict[str, np.ndarray]:
        """The cached arrays (see `synthesize`), synthesized first if these settings have none."""
        path = self.cache_path()

        def make() -> dict[str, np.ndarray]:
            plan = self.plan()
            count = sum(len(utterances) for utterances in plan.values())
            log.info("Synthesizing %d utterances with espeak-ng, once: they are kept in %s", count, path)
            start = time.perf_counter()
            arrays = self.synthesize(plan)
            log.info("Synthesized %d utterances in %.1f s", count, time.perf_counter() - start)
            return arrays

        return cached_arrays(path, make)
