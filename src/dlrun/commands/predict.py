"""`dlrun predict RUN_DIR INPUT`: predictions of a trained run on new data (see dlrun.predict).

Checks that need nothing heavy (the output file, the input's existence) come first, so a refusal
is quick; then the run is opened and the reader of its kind of data does the rest.
"""

from __future__ import annotations

from pathlib import Path

from dlrun.errors import DlrunError

INPUT_HELP = {
    "table": "a CSV or Parquet file with the run's feature columns",
    "image": "PNG/JPEG images: a file, a folder or a glob pattern",
    "audio": "WAV files: a file, a folder or a glob pattern",
    "text": "a text file with one text per line, or a CSV with --column NAME",
    "series": "a CSV with the run's series columns",
    "seq2seq": "a file with one source per line",
}


def predict(
    run_dir: Path,
    source: str,
    output: str | None = None,
    fmt: str | None = None,
    column: str | None = None,
    force: bool = False,
    trust_config: bool = False,
) -> None:
    """Predict on `source` (a path, a glob pattern, or - for stdin) and write the rows to `output`
    (stdout when None or -), as CSV or JSON Lines."""
    from dlrun.predict import inputs
    from dlrun.predict import output as out

    fmt = out.output_format(output, fmt)
    out.check_output(output, force)
    if output not in (None, "-") and source != "-" and Path(output).resolve() == Path(source).resolve():
        raise DlrunError(f"--output '{output}' is INPUT itself; write the predictions to another file.")
    inputs.check_exists(source)

    from dlrun.predict.run import open_for_prediction

    run = open_for_prediction(Path(run_dir), trust_config)
    if column is not None and run.kind not in ("text", "seq2seq"):
        raise DlrunError(
            f"--column names the column of texts in a table, for text and sequence-to-sequence runs; '{run_dir}' "
            f"is a {run.kind} run, which reads {INPUT_HELP[run.kind]}."
        )
    if run.kind == "table":
        from dlrun.predict.tables import predict_table

        predictions = predict_table(run, source)
    elif run.kind == "image":
        from dlrun.predict.images import predict_images

        predictions = predict_images(run, source)
    elif run.kind == "audio":
        from dlrun.predict.audio import predict_audio

        predictions = predict_audio(run, source)
    elif run.kind == "text":
        from dlrun.predict.texts import predict_texts

        predictions = predict_texts(run, source, column)
    elif run.kind == "series":
        from dlrun.predict.series import predict_series

        predictions = predict_series(run, source)
    else:
        from dlrun.predict.seq2seq import predict_sequences

        predictions = predict_sequences(run, source, column)
    out.write(predictions, output, fmt, force)
