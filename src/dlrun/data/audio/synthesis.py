"""Speech synthesized offline with espeak-ng: words spoken by many voices, speeds and pitches.

espeak-ng (Debian's 1.51) is a formant synthesizer: the same text, voice, speed and pitch always give
the same samples, so generated data sets are reproducible from their settings alone. A voice is a
language (its accent: `en-us`, `en-gb-scotland`, ...) joined with a variant (its timbre: `m7`, `f3`,
`Alex`, ...) as `en-us+m7`; the language alone (`en-us`) is its default male variant. MBROLA voices
(`mb-*`) need separate diphone databases that Debian does not install by default, so they are skipped.

espeak-ng writes 16-bit mono WAV at 22,050 Hz to stdout; `synthesize` returns float32 samples in
[-1, 1] resampled with a polyphase FIR filter (scipy's resample_poly), which is deterministic.
"""

from __future__ import annotations

import functools
import io
import math
import shutil
import subprocess
import wave
from collections.abc import Mapping, Sequence

import numpy as np

from dlrun.errors import ConfigError

ESPEAK = "espeak-ng"
INSTALL_COMMAND = "apt-get install espeak-ng"
# espeak-ng's own limits: words per minute and pitch (0 = lowest, 99 = highest, 50 = the voice's own).
SPEED_RANGE = (80, 450)
PITCH_RANGE = (0, 99)
# The accents the words zero..nine are spoken in by default: every English voice espeak-ng has.
ENGLISH = ("en",)
# The base voice of a language, without a variant, is its own speaker (espeak-ng's default timbre).
BASE_VARIANT = ""


def espeak_command() -> str:
    """The path of espeak-ng, or a ConfigError that says how to install it."""
    path = shutil.which(ESPEAK)
    if path is None:
        raise ConfigError(
            f"espeak-ng is not installed, and the spoken data sets (data=spoken_digits) are synthesized with it. "
            f"Install it with `sudo {INSTALL_COMMAND}` (Debian/Ubuntu; `brew install espeak-ng` on macOS), "
            f"or train on recordings of your own with data=audio_folder data.path=FOLDER."
        )
    return path


@functools.lru_cache(maxsize=1)
def espeak_version() -> str:
    """espeak-ng's version line; it names the release whose voices made the samples (part of cache keys)."""
    result = subprocess.run([espeak_command(), "--version"], capture_output=True, text=True, check=True)
    return " ".join(result.stdout.split())


@functools.lru_cache(maxsize=1)
def _languages() -> tuple[str, ...]:
    """Every non-MBROLA language voice espeak-ng lists, sorted."""
    return tuple(sorted({row[1] for row in _voice_table("--voices") if not row[4].startswith("mb/")}))


@functools.lru_cache(maxsize=1)
def _variants() -> tuple[str, ...]:
    """Every variant espeak-ng lists (file `!v/m7` -> `m7`), sorted."""
    return tuple(sorted(row[4].split("/", 1)[1] for row in _voice_table("--voices=variant") if "/" in row[4]))


def _voice_table(flag: str) -> list[list[str]]:
    """The rows of `espeak-ng --voices...` split into columns (Pty, Language, Age/Gender, Name, File, ...)."""
    result = subprocess.run([espeak_command(), flag], capture_output=True, text=True, check=True)
    rows = [line.split() for line in result.stdout.splitlines()[1:]]
    return [row for row in rows if len(row) >= 5]


def available_voices(languages: Sequence[str] = ENGLISH) -> list[str]:
    """The voices espeak-ng can speak in the given languages (prefixes: `en` is every English accent),
    each language alone and with every variant: ['en-029', 'en-029+Alex', ..., 'en-us+m7', ...],
    sorted. MBROLA voices are left out. Pass languages=() for every language."""
    chosen = [
        lang
        for lang in _languages()
        if not languages or any(lang == prefix or lang.startswith(prefix + "-") for prefix in languages)
    ]
    return [voice for lang in chosen for voice in [lang] + [f"{lang}+{variant}" for variant in _variants()]]


def variant_of(voice: str) -> str:
    """The variant (timbre) part of a voice: 'en-us+m7' -> 'm7', 'en-us' -> '' (the base voice)."""
    return voice.partition("+")[2]


def check_voice(voice: str) -> None:
    """A ConfigError unless espeak-ng has this voice; espeak-ng itself falls back silently to the base
    voice for an unknown variant, which would make two 'speakers' the same."""
    language, _, variant = voice.partition("+")
    if language not in _languages() or (variant and variant not in _variants()):
        from dlrun.errors import did_you_mean

        # Suggest among the variants of a known language, else among the languages.
        close = [f"{language}+{v}" for v in _variants()] if language in _languages() else list(_languages())
        raise ConfigError(
            f"espeak-ng has no voice '{voice}'. A voice is a language, optionally + a variant, e.g. en-us or "
            f"en-us+m7 (`espeak-ng --voices` lists the languages, `espeak-ng --voices=variant` the variants)."
            f"{did_you_mean(voice, close)}"
        )


def synthesize(text: str, voice: str, speed: int, pitch: int, sample_rate: int = 16000) -> np.ndarray:
    """`text` spoken by espeak-ng: mono float32 samples in [-1, 1] at `sample_rate` Hz.

    `voice` is e.g. 'en-us+m7' (see available_voices), `speed` in words per minute (80..450; espeak-ng's
    default is 175), `pitch` 0..99 (50 = the voice's own). The same arguments always give the same
    samples. The result keeps espeak-ng's short leading silence and its pause after the text (about
    0.3 s); see trim_silence.
    """
    check_voice(voice)
    for name, value, (low, high) in (("speed", speed, SPEED_RANGE), ("pitch", pitch, PITCH_RANGE)):
        if not isinstance(value, int | np.integer) or isinstance(value, bool) or not low <= value <= high:
            raise ConfigError(f"The espeak-ng {name} must be a whole number from {low} to {high}; got {value!r}.")
    if not isinstance(sample_rate, int | np.integer) or sample_rate < 1000:
        raise ConfigError(f"The sample rate must be a whole number of Hz, at least 1000; got {sample_rate!r}.")
    command = [espeak_command(), "--stdout", "-v", voice, "-s", str(int(speed)), "-p", str(int(pitch))]
    # The text goes through stdin, so text that starts with '-' is never read as a flag.
    result = subprocess.run(command, input=text.encode("utf-8"), capture_output=True, check=False)
    if result.returncode != 0 or not result.stdout:
        message = " ".join(result.stderr.decode("utf-8", "replace").split())
        raise ConfigError(f"espeak-ng could not speak {text!r} with voice '{voice}': {message or 'no output'}.")
    samples, rate = read_wav_stream(result.stdout)
    return resample(samples, rate, sample_rate)


def read_wav_stream(data: bytes) -> tuple[np.ndarray, int]:
    """Float32 mono samples in [-1, 1] and the sample rate of a 16-bit PCM WAV held in memory.

    espeak-ng writes to a pipe, so its header cannot hold the real length (it says 'huge'): the
    samples are whatever follows the header."""
    with wave.open(io.BytesIO(data)) as stream:
        if stream.getsampwidth() != 2:
            raise ValueError(f"expected 16-bit samples from espeak-ng, got {8 * stream.getsampwidth()}-bit")
        rate, channels = stream.getframerate(), stream.getnchannels()
        frames = stream.readframes(stream.getnframes())
    samples = np.frombuffer(frames[: len(frames) // (2 * channels) * 2 * channels], dtype="<i2")
    samples = samples.reshape(-1, channels).mean(axis=1) if channels > 1 else samples
    return (samples / 32768.0).astype(np.float32), rate


def resample(samples: np.ndarray, rate: int, target_rate: int) -> np.ndarray:
    """`samples` from `rate` to `target_rate` Hz (scipy's polyphase resample_poly with its default
    Kaiser-windowed low-pass), float32 clipped to [-1, 1]."""
    samples = np.asarray(samples, dtype=np.float32)
    if rate != target_rate:
        from scipy.signal import resample_poly

        common = math.gcd(int(rate), int(target_rate))
        samples = resample_poly(samples, int(target_rate) // common, int(rate) // common).astype(np.float32)
    return np.clip(samples, -1.0, 1.0)


def trim_silence(samples: np.ndarray, threshold_db: float = -40.0, margin: int = 0) -> np.ndarray:
    """`samples` without the leading and trailing stretch quieter than `threshold_db` below the peak
    (sample by sample), keeping `margin` samples either side. Silence only is returned as it is."""
    peak = float(np.max(np.abs(samples))) if len(samples) else 0.0
    if peak == 0.0:
        return samples
    loud = np.flatnonzero(np.abs(samples) >= peak * 10.0 ** (threshold_db / 20.0))
    return samples[max(loud[0] - margin, 0) : loud[-1] + 1 + margin]


def speaker_split(voices: Sequence[str], seed: int, fractions: Mapping[str, float]) -> dict[str, list[str]]:
    """Share the voices out among splits so that no speaker of one split is heard in another.

    A speaker is a variant: en-us+m7 and en-gb+m7 share m7's timbre and only differ in accent, so
    they always go to the same split (the base voices, without a variant, are one speaker). The
    speakers are shuffled with `seed` and cut by `fractions` (e.g. {"train": 0.7, "val": 0.15,
    "test": 0.15}, summing to 1); every split gets at least one speaker. Returns {split: sorted voices}.
    """
    total = sum(fractions.values())
    if not fractions or any(f <= 0 for f in fractions.values()) or not math.isclose(total, 1.0, abs_tol=1e-9):
        raise ConfigError(f"The speaker fractions must be positive and sum to 1; got {dict(fractions)}.")
    speakers = sorted({variant_of(v) for v in voices})
    if len(speakers) < len(fractions):
        raise ConfigError(
            f"{len(speakers)} speaker(s) (voice variants) cannot be shared out speaker-disjoint among "
            f"{len(fractions)} splits ({', '.join(fractions)}); give at least {len(fractions)} variants."
        )
    order = [speakers[i] for i in np.random.default_rng(seed).permutation(len(speakers))]
    # Cumulative rounding, then at least one speaker each (taken from the largest split).
    bounds = [round(len(order) * f) for f in np.cumsum(list(fractions.values()))]
    counts = np.diff([0] + bounds)
    while (counts < 1).any():
        counts[np.argmin(counts)] += 1
        counts[np.argmax(counts)] -= 1
    split_of, start = {}, 0
    for split, count in zip(fractions, counts):
        split_of.update({speaker: split for speaker in order[start : start + count]})
        start += count
    return {split: sorted(v for v in voices if split_of[variant_of(v)] == split) for split in fractions}
