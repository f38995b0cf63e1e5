"""The exported forecaster: raw window and timestamps in, forecast in original units.

Signature `serving_default`:
    inputs:
        window: float32 `[batch, input_steps, num_features]`, the raw
            (unnormalized) values of the feature columns, targets first, in the
            order of `metadata["feature_names"]`, oldest step first, no gaps
            and no NaN (fill them first).
        timestamps: int64 `[batch, input_steps]`, Unix seconds (UTC) of those
            steps, exactly `frequency_seconds` apart.
    outputs:
        forecast: float32 `[batch, horizon, num_targets]` in the targets'
            original units.
        forecast_timestamps: int64 `[batch, horizon]`, Unix seconds of the
            forecast steps.
        quantiles (with `model.intervals` or `model.quantiles`): float32
            `[batch, horizon, num_targets, num_quantiles]`, the calibrated
            forecast per quantile level (`metadata["quantiles"]`) in original
            units. `forecast` is the point forecast (a quantile model's
            uncalibrated median).

Normalization (training-split statistics) and the sin/cos time features are
computed inside the graph. A window of the wrong shape, timestamps that are not
evenly spaced, or non-finite values fail with an `InvalidArgumentError` whose
message says what was expected. The module also holds `metadata`, a JSON string
variable describing the columns and settings the window must follow.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import tensorflow as tf

from lstm_keras.runner import ServingModule

from . import calibration
from .data import TIME_PERIODS, TimeSeriesInfo


def time_features_graph(seconds: tf.Tensor, periods=("day", "year")) -> tf.Tensor:
    """`data.time_features` in TensorFlow: int64 `[...]` -> float32
    `[..., 2 * len(periods)]`."""
    columns = [tf.zeros(tf.concat([tf.shape(seconds), [0]], 0), tf.float64)]
    for period in periods:
        length = TIME_PERIODS[period]
        phase = tf.cast(tf.math.floormod(seconds, length), tf.float64)
        phase = 2 * math.pi * phase / length
        columns.append(tf.stack([tf.sin(phase), tf.cos(phase)], axis=-1))
    return tf.cast(tf.concat(columns, axis=-1), tf.float32)


def metadata(data: TimeSeriesInfo, data_config: Any, quantiles=()) -> dict[str, Any]:
    """What a caller needs to build a request from a CSV."""
    return {
        "feature_names": list(data.feature_names),
        "target_names": list(data.target_names),
        "input_steps": data.input_steps,
        "horizon": data.horizon,
        "frequency_seconds": data.frequency_seconds,
        "frequency": data_config.frequency,
        "time_features": list(data.time_periods),
        "quantiles": list(quantiles),
        "time_column": data_config.time_column,
        "time_format": data_config.time_format,
        "group_column": data_config.group_column,
        "sentinels": list(data_config.sentinels),
        "downsample": data_config.downsample,
        "drop_duplicate_timestamps": data_config.drop_duplicate_timestamps,
    }


class TimeSeriesServingModule(ServingModule):
    """Holds the trained Keras forecaster, the normalization and the signature.

    Args:
        model: Keras model mapping normalized windows (time features appended)
            to normalized forecasts.
        data: the prepared data (normalization statistics, shapes).
        data_config: the `DataConfig` it was prepared with.
        quantiles: the model's quantile levels, if it forecasts quantiles.
        levels: the calibrated quantile levels the export returns.
        offsets: their conformal offsets `[horizon, num_targets, len(levels)]`
            (see `calibration`).
        factors: the tracked width factors, same shape (none: all ones).
    """

    def __init__(
        self,
        model,
        data: TimeSeriesInfo,
        data_config: Any,
        quantiles=(),
        levels=(),
        offsets=None,
        factors=None,
    ):
        super().__init__(name="timeseries_forecaster")
        self.model = model
        self.input_steps = data.input_steps
        self.horizon = data.horizon
        self.num_features = len(data.feature_names)
        self.num_targets = data.num_targets
        self.step_seconds = data.frequency_seconds
        self.time_periods = data.time_periods
        self.quantiles = tuple(quantiles)
        self.levels = tuple(levels)
        self.scale_lag = calibration.scale_lag(data.input_steps, data.steps_per_day)
        self.offsets = tf.constant(offsets, tf.float32) if offsets is not None else None
        if offsets is not None and factors is None:
            factors = np.ones_like(offsets)
        self.factors = tf.constant(factors, tf.float32) if factors is not None else None
        self.mean = tf.constant(data.mean, tf.float32)
        self.std = tf.constant(data.std, tf.float32)
        self.metadata = tf.Variable(
            json.dumps(metadata(data, data_config, self.levels)),
            trainable=False,
            name="metadata",
        )
        self.forecast = self.add_signature(
            "serving_default",
            self._forecast,
            [
                tf.TensorSpec(
                    [None, self.input_steps, self.num_features], tf.float32, "window"
                ),
                tf.TensorSpec([None, self.input_steps], tf.int64, "timestamps"),
            ],
        )

    def _checks(self, window, timestamps):
        """Assertions with readable messages (SavedModel signatures do not check
        shapes themselves)."""
        # Pad the shape so a window of the wrong rank still compares.
        shape = tf.concat([tf.shape(window), [-1, -1, -1]], axis=0)
        right_shape = tf.logical_and(
            tf.equal(tf.rank(window), 3),
            tf.logical_and(
                tf.equal(shape[1], self.input_steps),
                tf.equal(shape[2], self.num_features),
            ),
        )
        times_shape = tf.concat([tf.shape(timestamps), [-1, -1]], axis=0)
        right_times = tf.logical_and(
            tf.equal(tf.rank(timestamps), 2),
            tf.logical_and(
                tf.equal(times_shape[0], shape[0]),
                tf.equal(times_shape[1], self.input_steps),
            ),
        )
        checks = [
            tf.debugging.Assert(
                right_shape,
                [
                    f"window must have shape [batch, {self.input_steps}, "
                    f"{self.num_features}] (batch, input_steps, num_features); got",
                    tf.shape(window),
                ],
            ),
            tf.debugging.Assert(
                right_times,
                [
                    f"timestamps must have shape [batch, {self.input_steps}] matching "
                    "the window; got",
                    tf.shape(timestamps),
                ],
            ),
        ]
        with tf.control_dependencies(checks):
            steps = timestamps[:, 1:] - timestamps[:, :-1]
            checks.append(
                tf.debugging.Assert(
                    tf.reduce_all(tf.equal(steps, self.step_seconds)),
                    [
                        f"timestamps must be {self.step_seconds} seconds apart, "
                        "oldest first"
                    ],
                )
            )
            checks.append(
                tf.debugging.Assert(
                    tf.reduce_all(tf.math.is_finite(window)),
                    ["window has NaN or infinite values; fill gaps before calling"],
                )
            )
        return checks

    def _forecast(self, window, timestamps):
        with tf.control_dependencies(self._checks(window, timestamps)):
            normalized = (window - self.mean) / self.std
        inputs = tf.concat(
            [normalized, time_features_graph(timestamps, self.time_periods)],
            axis=-1,
        )
        outputs = self.model(inputs, training=False)  # [batch, horizon, targets]
        outputs = tf.cast(outputs, tf.float32)
        mean, std = self.mean[: self.num_targets], self.std[: self.num_targets]
        offsets = tf.range(1, self.horizon + 1, dtype=tf.int64) * self.step_seconds
        result = {"forecast_timestamps": timestamps[:, -1:] + offsets[None, :]}
        if self.quantiles:
            point = outputs[..., self.quantiles.index(0.5)]
        else:
            point = outputs
        result["forecast"] = point * std + mean
        if self.levels:
            scale = calibration.window_scale(
                normalized, self.num_targets, self.scale_lag
            )
            base = outputs if self.quantiles else outputs[..., None]
            # [batch, horizon, targets, levels], normalized, then sorted.
            levels = base + scale[:, None, :, None] * self.offsets[None]
            levels = tf.sort(levels, axis=-1)
            median = levels[..., self.levels.index(0.5), None]
            levels = tf.sort(median + (levels - median) * self.factors[None], axis=-1)
            result["quantiles"] = levels * std[:, None] + mean[:, None]
        return result


def sample_request(data: TimeSeriesInfo, count: int = 2) -> dict[str, np.ndarray]:
    """Real raw windows from the test split (first `count` windows)."""
    series = data.splits["test"][0]
    windows, stamps = [], []
    for index in range(count):
        start = index * data.stride
        rows = slice(start, start + data.input_steps)
        windows.append(series.values[rows])
        stamps.append(series.seconds[rows])
    return {
        "window": np.asarray(windows, np.float32),
        "timestamps": np.asarray(stamps, np.int64),
    }
