"""The sequence reference results, shortened, with loose bounds: they catch a family that stops learning."""

from __future__ import annotations

import json

import pytest
from conftest import build_from_overrides

pytestmark = pytest.mark.slow

FULL_EPOCHS = ("trainer.limit_train_batches=1.0", "trainer.limit_val_batches=1.0", "trainer.limit_test_batches=1.0")


def fit_and_test(tmp_path, *overrides):
    run = build_from_overrides(tmp_path, *FULL_EPOCHS, *overrides)
    run.trainer.fit(run.task, datamodule=run.datamodule)
    [metrics] = run.trainer.test(run.task, datamodule=run.datamodule, verbose=False)
    return run, metrics


def test_lstm_reads_the_digits_row_by_row(tmp_path):
    _, metrics = fit_and_test(
        tmp_path, "model=lstm", "optimizer=adam", "trainer.max_epochs=8", "data.steps_per_execution=32"
    )
    assert metrics["test/acc"] > 0.85  # the full run reaches about 0.97


def test_bilstm_learns_rotten_tomatoes_sentiment(tmp_path):
    _, metrics = fit_and_test(tmp_path, "experiment=rotten_tomatoes_bilstm", "trainer.max_epochs=3")
    assert metrics["test/acc"] > 0.68  # the full preset reaches about 0.75


def test_lstm_forecasts_co2_near_the_naive_forecasts(tmp_path):
    run, metrics = fit_and_test(tmp_path, "experiment=co2_lstm", "trainer.max_epochs=5")
    baselines = run.datamodule.baselines()
    assert metrics["test/mae"] < 1.5 * baselines["seasonal_naive"]["test/mae"]
    assert set(baselines) == {"naive", "seasonal_naive"}


def test_runs_leave_their_preprocessing_and_baselines_in_the_run_dir(dlrun, tmp_path):
    done = dlrun("train", "debug=fast", "data=sunspots", "model=gru", "hydra.run.dir=series_run")
    assert done.returncode == 0, done.stderr
    result = json.loads((tmp_path / "series_run" / "results.json").read_text())
    assert set(result["baselines"]) == {"naive", "seasonal_naive"} and "test/mase" in result["baselines"]["naive"]
    assert "naive" in done.stdout  # the summary shows them next to the model's metrics
    assert (tmp_path / "series_run" / "series.json").is_file()

    rows = "".join(f"{'a fine film' if i % 2 else 'a dull film'},{i % 2}\n" for i in range(40))
    (tmp_path / "texts.csv").write_text("text,label\n" + rows)
    done = dlrun("train", "debug=fast", "data=text_csv", "data.path=texts.csv", "model=gru", "hydra.run.dir=text_run")
    assert done.returncode == 0, done.stderr
    vocabulary = json.loads((tmp_path / "text_run" / "vocab.json").read_text())
    assert {"a", "film", "fine", "dull"} <= set(vocabulary["tokens"]) and vocabulary["class_names"] == ["0", "1"]
