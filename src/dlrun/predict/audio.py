"""Speech: data=spoken_digits and audio_folder runs, on WAV files read and featurized as training did.

Each file is read as the audio_folder data reads it (scipy; channels averaged; resampled to the
run's sample rate with the same polyphase filter), its quiet ends trimmed and cut to the run's clip
length, then turned into the same log-mel or MFCC features and scaled with the training split's
per-feature statistics, all from preprocessing.json. A spoken_digits run therefore also hears a
recording of your own: speak one word per file, with little silence or noise around it.
"""

from __future__ import annotations

import io
import sys

import pandas as pd
import torch

from dlrun.data.audio.features import FeatureScaler, FeatureSettings
from dlrun.data.audio.speech_module import clip_features, prepare_clips, serve
from dlrun.data.audio.wav_files import WAV_SUFFIXES, read_wav
from dlrun.errors import DlrunError
from dlrun.predict import inputs as read
from dlrun.predict.output import Predictions, with_inputs
from dlrun.predict.run import BATCH, PredictingRun, classes_or_values, network_outputs


def predict_audio(run: PredictingRun, source: str) -> Predictions:
    assert run.spec is not None and run.model is not None
    saved = run.saved
    audio = saved["audio"]
    names, files = wav_sources(source)
    clips = [read_wav(f, int(audio["sample_rate"])) for f in files]
    empty = next((n for n, c in zip(names, clips) if len(c) == 0), None)
    if empty is not None:
        raise DlrunError(f"The WAV file {read.describe(empty)} holds no samples.")
    max_samples = int(audio["max_samples"])
    settings = FeatureSettings(**saved["features"])
    features, frames = clip_features(
        settings, prepare_clips(clips, audio["trim_db"], max_samples), audio["layout"], max_samples
    )
    if saved.get("scaler") is not None:
        features = FeatureScaler.from_json(saved["scaler"])(features, frames)
    served = serve(features, frames, audio["layout"])
    outputs = torch.cat(
        [
            network_outputs(
                run.model,
                served["inputs"][start : start + BATCH],
                None if "lengths" not in served else served["lengths"][start : start + BATCH],
            )
            for start in range(0, len(files), BATCH)
        ]
    )
    if run.spec.task == "ctc":  # an output per frame: decoded into the labels it spells
        from dlrun.predict.transcripts import ctc_predictions

        return ctc_predictions(run, pd.DataFrame({"path": names}), outputs, served["lengths"])
    prediction, probabilities = classes_or_values(run.spec, outputs)
    return with_inputs(pd.DataFrame({"path": names}), prediction, probabilities, run.spec.class_names)


def wav_sources(source: str) -> tuple[list[str], list]:
    """The WAV files INPUT names (one file, every .wav under a folder with hidden files left out, the
    files a glob pattern matches, or one file's bytes on stdin, `-`), sorted: their names for the
    output and what read_wav opens."""
    if source == read.STDIN:
        return [read.STDIN], [io.BytesIO(sys.stdin.buffer.read())]
    files = read.input_files(source, WAV_SUFFIXES, "WAV files")
    return [name for name, _ in files], [path for _, path in files]
