"""Text: data=text_csv and rotten_tomatoes runs, encoded with the run's own vocab.json.

Each text is tokenized as in training (the tokenizer and lowercasing the vocabulary remembers), cut
to data.max_length tokens (or the longest training text when that is null), mapped to ids (UNK for
tokens the training split lacked) and right-padded to the longest text of its batch, with lengths.
"""

from __future__ import annotations

import pandas as pd
import torch

from dlrun.errors import DlrunError, did_you_mean
from dlrun.predict import inputs as read
from dlrun.predict.output import Predictions, with_inputs
from dlrun.predict.run import BATCH, PredictingRun, classes_or_values, network_outputs


def predict_texts(run: PredictingRun, source: str, column: str | None) -> Predictions:
    from dlrun.data.text_vocabulary import PAD_ID, Vocabulary

    vocabulary = Vocabulary.from_json(run.saved)
    if column is not None or (read.table_format(source) is not None and source != read.STDIN):
        table = read.read_table(source, "texts")
        column = _text_column(run, table, source, column)
        texts = []
        for position, text in enumerate(table[column].tolist()):
            if text is None or (isinstance(text, float) and text != text) or not str(text).strip():
                raise DlrunError(
                    f"Column '{column}' of {read.describe(source)} has no text in {read.row_name(position, source)}; "
                    "every row needs one."
                )
            texts.append(str(text))
        shown = table
    else:
        texts = read.read_lines(source, "texts")
        shown = pd.DataFrame({"text": texts})
    limit = run.cfg.data.get("max_length")
    limit = int(run.saved["max_length"]) if limit is None else int(limit)
    encoded = [vocabulary.encode(vocabulary.tokenize(text)[:limit]) or [vocabulary.unk_id] for text in texts]
    assert run.spec is not None and run.model is not None
    outputs = []
    for start in range(0, len(encoded), BATCH):
        chunk = encoded[start : start + BATCH]
        lengths = torch.tensor([len(ids) for ids in chunk], dtype=torch.int64)
        inputs = torch.full((len(chunk), int(lengths.max())), PAD_ID, dtype=torch.int64)
        for row, ids in enumerate(chunk):
            inputs[row, : len(ids)] = torch.tensor(ids, dtype=torch.int64)
        outputs.append(network_outputs(run.model, inputs, lengths))
    prediction, probabilities = classes_or_values(run.spec, torch.cat(outputs))
    return with_inputs(shown, prediction, probabilities, run.spec.class_names)


def _text_column(run: PredictingRun, table: pd.DataFrame, source: str, column: str | None) -> str:
    """--column, else the run's own data.text_column when the table has it."""
    columns = list(table.columns)
    if column is None:
        trained = run.cfg.data.get("text_column")
        if trained is not None and str(trained) in columns:
            return str(trained)
        raise DlrunError(
            f"INPUT {read.describe(source)} is a table: name the column of texts with --column NAME. Its columns: "
            f"{', '.join(columns)}."
        )
    if column not in columns:
        raise DlrunError(
            f"--column '{column}' is not a column of {read.describe(source)}. Its columns: {', '.join(columns)}."
            f"{did_you_mean(column, columns)}"
        )
    return column
