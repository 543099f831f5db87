"""Sequence to sequence: each non-blank line of INPUT decoded as `dlrun translate` decodes it (the
run's model.beam_size, its vocabularies, its tokenization of sources)."""

from __future__ import annotations

import pandas as pd

from dlrun.predict import inputs as read
from dlrun.predict.output import Predictions
from dlrun.predict.run import PredictingRun


def predict_sequences(run: PredictingRun, source: str, column: str | None = None) -> Predictions:
    from dlrun.commands.translate import translate

    if column is not None or (read.table_format(source) is not None and source != read.STDIN):
        lines = _column_of_sources(source, column or "source")
    else:
        lines = read.read_lines(source, "sources")
    outputs = list(translate(run.trained, lines))
    return Predictions(pd.DataFrame({"source": lines, "prediction": outputs}))


def _column_of_sources(source: str, column: str) -> list[str]:
    """The sources in a table's column (--column, by default 'source')."""
    from dlrun.errors import DlrunError

    table = read.read_table(source, "sources")
    if column not in table.columns:
        raise DlrunError(
            f"INPUT {read.describe(source)} is a table without a '{column}' column; name the column of sources with "
            f"--column NAME, or give the sources one per line in a text file. Its columns: {', '.join(table.columns)}."
        )
    return [str(s) for s in table[column].tolist()]
