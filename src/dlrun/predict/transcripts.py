"""CTC runs (data=spoken_digit_strings): per-frame outputs decoded into the labels they spell.

Decoding is the run's own (`task.beam_width`: 1 is greedy, wider is prefix beam search; see
dlrun.models.ctc_decoding), over each input's real frames. `prediction` is the labels' names joined
by spaces ("three seven one"); runs whose labels are the digit words also get `digits` ("371").
"""

from __future__ import annotations

import pandas as pd
from torch import Tensor

from dlrun.data.audio.spoken_digits import DIGIT_WORDS
from dlrun.models.ctc_decoding import decode
from dlrun.predict.output import Predictions
from dlrun.predict.run import PredictingRun

BLANK = 0


def ctc_predictions(run: PredictingRun, inputs: pd.DataFrame, outputs: Tensor, lengths: Tensor) -> Predictions:
    """One row per input: its own columns, the transcript, and the digit string where there is one."""
    assert run.spec is not None
    task = run.cfg.get("task") or {}
    beam_width = int(task.get("beam_width", 1) or 1)
    names = run.spec.class_names
    labels = decode(outputs.float().log_softmax(-1), lengths, beam_width, BLANK)
    rows = inputs.reset_index(drop=True).assign(prediction=[" ".join(names[i] for i in row) for row in labels])
    if tuple(names[1:]) == DIGIT_WORDS:
        rows = rows.assign(digits=["".join(str(i - 1) for i in row) for row in labels])  # label i is digit i - 1
    return Predictions(rows)
