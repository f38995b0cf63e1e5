"""Holt-Winters from every origin without refitting, against statsmodels."""

import numpy as np
import pandas as pd
import pytest

from apps.timeseries import data, statistical
from apps.timeseries.config import DataConfig


def _series(steps=600, seed=0):
    rng = np.random.default_rng(seed)
    hours = np.arange(steps)
    return (
        10 + 5 * np.sin(2 * np.pi * hours / 24) + np.cumsum(rng.normal(0, 0.3, steps))
    )


def test_forecast_from_each_origin_equals_statsmodels_forecast():
    values = _series()
    fitted = statistical.fit(values[:400], 24)
    assert fitted.season == 24
    result = statistical.run(fitted, values)
    origins = np.array([399, 450, 571])
    mine = statistical.forecast_from(fitted, result, origins, 30)
    for row, origin in zip(mine, origins, strict=True):
        # Oracle: statsmodels' own forecast after the data up to the origin,
        # with the same fixed parameters.
        expected = statistical.run(fitted, values[: origin + 1]).forecast(30)
        np.testing.assert_allclose(row, expected, atol=1e-7)


def test_trend_choice_by_in_sample_horizon_error():
    values = _series()
    chosen = statistical.fit(values[:400], 24, horizon=24)
    origins = np.arange(400 - 24)
    truth = np.stack([values[origins + step] for step in range(1, 25)], 1)
    errors = {}
    for trend in (True, False):
        candidate = statistical.fit(values[:400], 24)
        if not trend:
            candidate = statistical.FittedSmoothing(
                _no_trend_params(values[:400]), 24, trend=False
            )
        result = statistical.run(candidate, values[:400])
        forecast = statistical.forecast_from(candidate, result, origins, 24)
        errors[trend] = np.abs(
            forecast - truth[:, :, 0] if truth.ndim == 3 else forecast - truth
        ).mean()
    assert chosen.trend == (errors[True] <= errors[False])
    # Without a trend the forecast is flat plus the season, as in statsmodels.
    flat = statistical.FittedSmoothing(_no_trend_params(values[:400]), 24, trend=False)
    expected = statistical.run(flat, values[:450]).forecast(30)
    result = statistical.run(flat, values)
    np.testing.assert_allclose(
        statistical.forecast_from(flat, result, np.array([449]), 30)[0],
        expected,
        atol=1e-7,
    )


def _no_trend_params(values):
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    fitted = ExponentialSmoothing(
        values, seasonal="add", seasonal_periods=24, initialization_method="estimated"
    ).fit()
    return dict(fitted.params)


def test_short_training_series_drops_the_season():
    values = _series(steps=80)
    fitted = statistical.fit(values, 24)  # 80 < 4 seasons of 24
    assert fitted.season is None
    result = statistical.run(fitted, values)
    forecast = statistical.forecast_from(fitted, result, np.array([79]), 5)
    np.testing.assert_allclose(
        forecast[0], statistical.run(fitted, values).forecast(5), atol=1e-7
    )


def test_forecasts_follow_window_order_and_only_use_the_past():
    steps = 400
    times = pd.date_range("2021-01-01", periods=steps, freq="h", tz="UTC")
    frame = pd.DataFrame(
        {"time": times.strftime("%Y-%m-%dT%H:%M:%SZ"), "y": _series(steps, seed=2)}
    )
    config = DataConfig(
        time_column="time", targets=("y",), input_steps=30, horizon=6, exclude=()
    )
    prepared = data.prepare(frame, config)
    forecast, seasons = statistical.forecasts(prepared, "test")
    inputs, truth = prepared.window_arrays("test")
    assert forecast.shape == truth.shape
    assert seasons["series"]["season"] == 24
    # Window 3's forecast is the recursion over the series up to its origin.
    raw = np.concatenate(
        [s.values[:, 0] for s in (p[0] for p in prepared.splits.values())]
    )
    fitted = statistical.fit(prepared.splits["train"][0].values[:, 0], 24, 6)
    origin = (
        len(prepared.splits["train"][0].values)
        + len(prepared.splits["validation"][0].values)
        + 3
        + 29
    )
    expected = statistical.run(fitted, raw[: origin + 1]).forecast(6)
    expected = (expected - prepared.mean[0]) / prepared.std[0]
    np.testing.assert_allclose(forecast[3, :, 0], expected, atol=1e-5)
    # Its input window ends at that origin.
    np.testing.assert_allclose(
        inputs[3, -1, 0], (raw[origin] - prepared.mean[0]) / prepared.std[0], atol=1e-5
    )
    assert np.isfinite(forecast).all()
    pytest.importorskip("statsmodels")
