"""The time-series app for the shared CLI: `lstm-keras train timeseries`."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from lstm_keras.runner import App, AppData, lazy_import

from .config import PRESETS, DataConfig, TimeSeriesConfig

# Loaded on first use: `lstm-keras apps` and `config` need no TensorFlow.
data_module = lazy_import(f"{__package__}.data")
evaluation = lazy_import(f"{__package__}.evaluation")
model = lazy_import(f"{__package__}.model")
serving = lazy_import(f"{__package__}.serving")
calibration = lazy_import(f"{__package__}.calibration")
statistical = lazy_import(f"{__package__}.statistical")

BASELINE = "last_value"


def model_name(config) -> str:
    """The metrics name of the trained LSTM (`lstm_single_shot`, ...)."""
    return f"lstm_{config.model.kind}"


class TimeSeriesApp(App):
    """Multi-step forecasting of hourly weather (or any CSV) with the LSTM."""

    name = "timeseries"
    config_class = TimeSeriesConfig
    presets = PRESETS
    baseline_model = BASELINE
    headline_metric = "mae_normalized"
    # The export runs the same float32 graph; forecasts are in original units
    # (tens of degrees), so allow float32 rounding of those.
    export_tolerance = 1e-4
    input_suffixes = (".csv",)

    def load_data(self, config, work_dir: str | None = None) -> AppData:
        info = data_module.load(config)
        batch_size = config.train.batch_size
        return AppData(
            train=info.dataset(
                "train", batch_size, shuffle=True, seed=config.train.seed
            ),
            validation=info.dataset("validation", batch_size),
            test=info.dataset("test", batch_size),
            info=info,
        )

    def describe_data(self, data: AppData) -> dict[str, Any]:
        return data_module.summary(data.info)

    def build_model(self, config, data: AppData):
        return model.build_model(config, data.info)

    def baseline_forecasts(
        self, info: data_module.TimeSeriesInfo, inputs: np.ndarray, split: str = "test"
    ) -> dict[str, np.ndarray]:
        """Normalized forecasts of every baseline for the windows of `split`
        (`inputs` are that split's windows, in order)."""
        forecasts = {
            BASELINE: model.last_value_forecast(inputs, info.num_targets, info.horizon)
        }
        steps_per_day = info.steps_per_day
        if steps_per_day and 1 < steps_per_day <= info.input_steps:
            forecasts["seasonal_naive"] = model.repeat_last_day_forecast(
                inputs, info.num_targets, info.horizon, steps_per_day
            )
        train_inputs, train_targets = info.window_arrays("train")
        linear = model.LinearForecaster().fit(train_inputs, train_targets)
        forecasts["linear"] = linear.predict(inputs)
        forecasts[statistical.NAME], self.seasons = statistical.forecasts(info, split)
        return forecasts

    def evaluate(self, config, data: AppData, model_instance, run):
        info = data.info
        inputs, truth = info.window_arrays("test")
        forecasts = self.baseline_forecasts(info, inputs)
        baselines = list(forecasts)
        name = model_name(config)
        outputs = np.asarray(model_instance.predict(inputs, batch_size=512, verbose=0))
        quantiles = config.model.quantiles
        forecasts[name] = model.point_forecast(outputs, quantiles)
        results = {
            model: evaluation.forecast_metrics(forecast, truth, info)
            for model, forecast in forecasts.items()
        }
        results[statistical.NAME]["season_steps"] = self.seasons
        results[name].update(
            evaluation.skill_metrics(results, name, baselines, info.target_names)
        )
        levels, offsets, _ = self.calibrate(config, info, model_instance, outputs)
        if levels:
            calibrated = calibration.apply_offsets(
                outputs,
                calibration.window_scale(inputs, info.num_targets, _lag(info)),
                offsets,
                levels,
                info.test_factors,
            )
            results[name].update(
                evaluation.quantile_metrics(calibrated, truth, levels, info)
            )
            results[name]["calibration_rate"] = config.model.calibration_rate
        steps_per_week = (info.steps_per_day or 24) * 7
        results[name]["backtest"] = evaluation.backtest_folds(
            forecasts, truth, info.window_origins("test"), info, steps_per_week
        )
        print(
            f"\nTest windows: {len(inputs)} forecast origins ({info.input_steps} "
            f"steps in, {info.horizon} out)\n"
            + evaluation.markdown_table(results, info.target_names, BASELINE),
            flush=True,
        )
        if levels:
            scores = results[name]
            print(
                "Calibrated quantiles on test: "
                + ", ".join(
                    f"{key}: {scores[key]:.3f}"
                    for key in scores
                    if key.startswith(("coverage_", "interval_coverage", "crps"))
                ),
                flush=True,
            )
        evaluation.write_plots(run.plots, inputs, truth, forecasts, results, info)
        evaluation.plot_skill_by_horizon(
            os.path.join(run.plots, "skill_by_horizon.png"),
            results,
            name,
            baselines,
            info.target_names,
        )
        return results

    def calibrate(self, config, info, model_instance, test_outputs=None):
        """Conformal calibration: `(levels, offsets [horizon, targets, levels],
        factors [horizon, targets, levels])`, or `((), None, None)` without
        quantiles.

        The offsets come from the validation split; the width factors are
        tracked through the test split's origins in time order
        (`model.calibration_rate`; see `calibration`): `info.test_factors`
        are those each test window used, the returned ones (for the export)
        those reached once every test truth is known. Cached on `info` so
        that evaluation and export use the same ones. `test_outputs`: the
        model's outputs on the test windows, when the caller has them already.
        """
        levels = config.model.quantiles or calibration.interval_levels(
            config.model.intervals
        )
        if not config.model.quantiles and not config.model.intervals:
            return (), None, None
        cached = getattr(info, "calibration", None)
        if cached is not None and cached[0] == levels:
            return cached
        lag = _lag(info)
        inputs, truth = info.window_arrays("validation")
        outputs = np.asarray(model_instance.predict(inputs, batch_size=512, verbose=0))
        offsets = calibration.fit_offsets(
            outputs,
            truth,
            calibration.window_scale(inputs, info.num_targets, lag),
            levels,
        )
        inputs, truth = info.window_arrays("test")
        if test_outputs is None:
            test_outputs = model_instance.predict(inputs, batch_size=512, verbose=0)
        outputs = np.asarray(test_outputs)
        static = calibration.apply_offsets(
            outputs,
            calibration.window_scale(inputs, info.num_targets, lag),
            offsets,
        )
        info.test_factors, factors = calibration.track_factors(
            static,
            truth,
            _origin_steps(info, "test"),
            levels,
            config.model.calibration_rate,
        )
        info.calibration = (levels, offsets, factors)
        return info.calibration

    def headline(self, test_metrics: Mapping[str, Mapping[str, Any]]) -> dict:
        lstm = next((name for name in test_metrics if name.startswith("lstm")), None)
        baseline = test_metrics.get(BASELINE, {})
        scores = test_metrics.get(lstm, {}) if lstm else {}
        return {
            "model": lstm,
            "baseline": BASELINE,
            "metric": self.headline_metric,
            "value": scores.get(self.headline_metric),
            "baseline_value": baseline.get(self.headline_metric),
        }

    def serving_module(self, config, data: AppData, model_instance):
        levels, offsets, factors = self.calibrate(config, data.info, model_instance)
        return serving.TimeSeriesServingModule(
            model_instance,
            data.info,
            data.info.config,
            config.model.quantiles,
            levels=levels,
            offsets=offsets,
            factors=factors,
        )

    def sample_requests(
        self, config, data: AppData
    ) -> dict[str, dict[str, np.ndarray]]:
        return {"serving_default": serving.sample_request(data.info)}

    def predict(self, export_dir: str, inputs: list[str]) -> Iterable[dict[str, Any]]:
        """Forecasts the steps after the end of each CSV (per series).

        The CSV needs the export's time column and feature columns (see its
        `metadata`); gaps, NaNs and sentinels are filled as in training. Yields
        one object per CSV and series: the forecast timestamps (ISO 8601,
        UTC) and the forecast per target in original units.
        """
        import tensorflow as tf

        loaded = tf.saved_model.load(export_dir)
        metadata = json.loads(loaded.metadata.numpy().decode("utf-8"))
        signature = loaded.signatures["serving_default"]
        for path in inputs:
            for series_name, window, stamps, filled in _last_windows(path, metadata):
                outputs = signature(
                    window=tf.constant(window[None], tf.float32),
                    timestamps=tf.constant(stamps[None], tf.int64),
                )
                forecast = outputs["forecast"].numpy()[0]
                times = outputs["forecast_timestamps"].numpy()[0]
                result = {"input": path}
                if metadata["group_column"]:
                    result["series"] = series_name
                result["last_input_time"] = _iso(stamps[-1])
                result["filled_values_in_window"] = filled
                result["times"] = [_iso(t) for t in times]
                result["forecast"] = {
                    target: [round(float(v), 4) for v in forecast[:, index]]
                    for index, target in enumerate(metadata["target_names"])
                }
                if "quantiles" in outputs:
                    levels = outputs["quantiles"].numpy()[0]
                    result["quantiles"] = {
                        target: {
                            str(level): [round(float(v), 4) for v in levels[:, i, j]]
                            for j, level in enumerate(metadata["quantiles"])
                        }
                        for i, target in enumerate(metadata["target_names"])
                    }
                yield result


def _lag(info: data_module.TimeSeriesInfo) -> int:
    return calibration.scale_lag(info.input_steps, info.steps_per_day)


def _origin_steps(info: data_module.TimeSeriesInfo, split: str) -> np.ndarray:
    """Each window's origin in steps since the epoch (one clock for every
    series), in the order of `window_arrays`."""
    seconds = []
    position = 0
    origins = info.window_origins(split)
    for series in info.splits[split]:
        count = data_module.count_windows(
            len(series.seconds), info.input_steps, info.horizon, info.stride
        )
        seconds.append(series.seconds[origins[position : position + count]])
        position += count
    return np.concatenate(seconds) // info.frequency_seconds


def _iso(seconds) -> str:
    import pandas as pd

    return pd.Timestamp(int(seconds), unit="s", tz="UTC").isoformat()


def _last_windows(path: str, metadata: dict[str, Any]):
    """Yields `(series, raw window [input_steps, features], timestamps, filled)`
    for the last `input_steps` steps of each series in a CSV."""
    targets = metadata["target_names"]
    data_config = DataConfig(
        source=f"csv:{path}",
        time_column=metadata["time_column"],
        time_format=metadata["time_format"],
        targets=tuple(targets),
        features=tuple(metadata["feature_names"][len(targets) :]),
        group_column=metadata["group_column"],
        frequency=metadata["frequency"],
        downsample=metadata["downsample"],
        drop_duplicate_timestamps=metadata["drop_duplicate_timestamps"],
        sentinels=tuple(metadata["sentinels"]),
        time_features=tuple(metadata["time_features"]),
        input_steps=metadata["input_steps"],
        horizon=metadata["horizon"],
    )
    frame = data_module.read_csv(path)
    name = os.path.basename(path)
    _, series, _ = data_module.clean(frame, data_config, name, minimum_rows=1)
    steps = metadata["input_steps"]
    for series_name, seconds, values in series:
        if len(seconds) < steps:
            where = (
                f"series {series_name!r} of {name}"
                if data_config.group_column
                else name
            )
            raise ValueError(
                f"{where} covers {len(seconds)} steps; the model needs the last "
                f"{steps} ({metadata['frequency']} apart) to forecast"
            )
        filled = int(np.isnan(values[-steps:]).sum())
        window = data_module.fill_missing(values)[-steps:]
        yield series_name, window, seconds[-steps:], filled


APP = TimeSeriesApp()
