"""The `tiny` preset end to end: through the App methods and through the CLI."""

import dataclasses
import json
import os

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from app_test_kit import run_app_end_to_end

from apps.timeseries import calibration, model
from apps.timeseries.app import APP
from lstm_keras.runner import cli
from lstm_keras.runner.run_directory import RunDirectory


@pytest.fixture(scope="module")
def tiny_config():
    config = APP.presets["tiny"]
    return dataclasses.replace(
        config, train=dataclasses.replace(config.train, epochs=1)
    )


def test_app_methods_end_to_end(tiny_config, tmp_path, capsys):
    tf.keras.utils.set_random_seed(0)
    data = APP.load_data(tiny_config)
    summary = APP.describe_data(data)
    assert summary["series"] == ["EWR", "JFK", "LGA"]
    json.dumps(summary)  # JSON-able
    keras_model = APP.build_model(tiny_config, data)
    keras_model.fit(data.train, validation_data=data.validation, epochs=1, verbose=0)
    run = RunDirectory(str(tmp_path))
    run.make()
    results = APP.evaluate(tiny_config, data, keras_model, run)
    assert list(results) == [
        "last_value",
        "seasonal_naive",
        "linear",
        "holt_winters",
        "lstm_single_shot",
    ]
    # The baselines' numbers are the NumPy baselines on the same test windows.
    inputs, truth = data.info.window_arrays("test")
    expected = np.abs(model.last_value_forecast(inputs, 1, 24) - truth).mean()
    assert results["last_value"]["mae_normalized"] == pytest.approx(expected)
    scale = data.info.std[0]
    lstm = results["lstm_single_shot"]
    best = min(
        ("last_value", "seasonal_naive", "linear", "holt_winters"),
        key=lambda name: results[name]["mae/temp"],
    )
    assert lstm["best_baseline/temp"] == best
    assert lstm["skill_vs_best/temp"] == pytest.approx(
        1 - lstm["mae/temp"] / results[best]["mae/temp"]
    )
    assert len(lstm["skill_vs_best_by_step/temp"]) == 24
    assert lstm["backtest"]["origins"] == len(inputs)
    # Calibrated 50% and 80% intervals (the default model.intervals).
    assert 0 <= lstm["interval_coverage_0.8/temp"] <= 1
    assert lstm["interval_coverage_0.5/temp"] <= lstm["interval_coverage_0.8/temp"]
    for metrics in results.values():
        assert metrics["mae/temp"] == pytest.approx(
            metrics["mae_normalized/temp"] * scale
        )
        assert metrics["rmse/temp"] >= metrics["mae/temp"]
        assert len(metrics["mae_by_step/temp"]) == 24
        assert np.mean(metrics["mae_by_step/temp"]) == pytest.approx(
            metrics["mae/temp"]
        )
    table = capsys.readouterr().out
    assert "| lstm_single_shot |" in table and "| linear |" in table
    for name in (
        "forecast_vs_truth.png",
        "error_by_horizon.png",
        "skill_by_horizon.png",
    ):
        assert os.path.getsize(tmp_path / "plots" / name) > 1000
    headline = APP.headline(results)
    assert headline["model"] == "lstm_single_shot"
    assert headline["baseline"] == "last_value"
    # Serving: the module's forecast equals the model on the sample request.
    module = APP.serving_module(tiny_config, data, keras_model)
    request = APP.sample_requests(tiny_config, data)["serving_default"]
    served = module.serving_signatures()["serving_default"](
        window=tf.constant(request["window"]),
        timestamps=tf.constant(request["timestamps"]),
    )
    expected = data.info.denormalize_targets(keras_model.predict(inputs[:2], verbose=0))
    np.testing.assert_allclose(
        served["forecast"].numpy(), expected, rtol=1e-5, atol=1e-3
    )
    # The calibrated quantiles, in original units, equal the NumPy calibration.
    levels, offsets, factors = APP.calibrate(tiny_config, data.info, keras_model)
    scale = calibration.window_scale(inputs[:2], 1, calibration.scale_lag(24, 24))
    normalized = calibration.apply_offsets(
        keras_model.predict(inputs[:2], verbose=0), scale, offsets, levels, factors
    )
    np.testing.assert_allclose(
        served["quantiles"].numpy(),
        normalized * data.info.std[0] + data.info.mean[0],
        rtol=1e-5,
        atol=1e-3,
    )


@pytest.mark.slow
def test_tiny_end_to_end_through_the_cli(tmp_path, capsys):
    # Forecast the day after the end of a CSV with two series, one with a gap.
    frame = pd.read_csv(
        os.path.join(os.path.dirname(__file__), "..", "..", "..", "datasets")
        + "/nycflights13_weather.csv.gz"
    )
    recent = frame[frame.origin != "JFK"].groupby("origin").tail(40)
    # Drop one EWR hour inside the 24 h window (rows 16..39 of its 40).
    recent = recent.drop(index=recent.index[30])
    path = tmp_path / "recent.csv"
    recent.to_csv(path, index=False)
    run = run_app_end_to_end(
        "timeseries", tmp_path / "run", [str(path)], capsys, ["train.epochs=1"]
    )
    assert set(run.metrics["test"]) >= {"last_value", "linear", "lstm_single_shot"}
    export = run.export
    lines = run.predictions
    assert [line["series"] for line in lines] == ["EWR", "LGA"]
    for line in lines:
        assert line["last_input_time"] == "2013-12-30T23:00:00+00:00"
        assert line["times"][0] == "2013-12-31T00:00:00+00:00"
        assert len(line["forecast"]["temp"]) == 24
        assert all(0 < value < 80 for value in line["forecast"]["temp"])
        # The calibrated quantiles come with it, ordered by level.
        levels = line["quantiles"]["temp"]
        assert list(levels) == ["0.1", "0.25", "0.5", "0.75", "0.9"]
        assert all(
            low <= high for low, high in zip(levels["0.1"], levels["0.9"], strict=True)
        )
    # EWR: the dropped hour (8 features) plus 2 values missing in the data;
    # LGA: 5 values missing in the data.
    assert [line["filled_values_in_window"] for line in lines] == [2 + 8, 5]
    # Too short a CSV is a one-line error, not a traceback.
    recent.head(10).to_csv(path, index=False)
    assert cli.main(["predict", "timeseries", "--model", export, str(path)]) == 1
    error = capsys.readouterr().err.strip().splitlines()
    assert "covers" in error[-1] and "needs the last 24" in error[-1]
