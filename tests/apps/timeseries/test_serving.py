"""The exported signature equals the Keras model plus denormalization."""

import dataclasses

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from apps.timeseries import data, model, serving
from apps.timeseries.config import DataConfig


def _prepared():
    """Hourly temperature and pressure, 300 steps, one series."""
    rng = np.random.default_rng(3)
    steps = 300
    times = np.arange(steps) * 3600 + 1_600_000_000
    frame = pd.DataFrame(
        {
            "time": pd.to_datetime(times, unit="s", utc=True).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            ),
            "temp": 50 + 10 * np.sin(np.arange(steps) / 4) + rng.normal(0, 1, steps),
            "pressure": 1010 + rng.normal(0, 5, steps),
        }
    )
    config = DataConfig(
        time_column="time",
        targets=("temp",),
        features=("pressure",),
        group_column=None,
        input_steps=12,
        horizon=4,
        exclude=(),
    )
    return data.prepare(frame, config), config


@pytest.fixture(scope="module", params=["single_shot", "autoregressive"])
def module_and_data(request, tmp_path_factory):
    prepared, config = _prepared()
    tf.keras.utils.set_random_seed(0)
    settings = dict(
        input_steps=12,
        num_inputs=prepared.num_inputs,
        num_targets=1,
        horizon=4,
        units=5,
        residual=False,  # random head: the output depends on every weight
    )
    if request.param == "single_shot":
        keras_model = model.build_single_shot(**settings)
    else:
        keras_model = model.build_autoregressive(
            step_seconds=3600, time_periods=prepared.time_periods, **settings
        )
    module = serving.TimeSeriesServingModule(keras_model, prepared, config)
    path = str(tmp_path_factory.mktemp("export"))
    tf.saved_model.save(module, path, signatures=module.serving_signatures())
    return tf.saved_model.load(path), keras_model, prepared


def test_signature_equals_keras_model_plus_denormalization(module_and_data):
    loaded, keras_model, prepared = module_and_data
    request = serving.sample_request(prepared, count=3)
    outputs = loaded.signatures["serving_default"](
        window=tf.constant(request["window"]),
        timestamps=tf.constant(request["timestamps"]),
    )
    # Reference: normalize and add time features in NumPy, run Keras, denormalize.
    series = prepared.splits["test"][0]
    inputs, _ = prepared.model_arrays(series)
    expected = np.stack([inputs[i : i + 12] for i in range(3)])
    expected = prepared.denormalize_targets(keras_model.predict(expected, verbose=0))
    np.testing.assert_allclose(
        outputs["forecast"].numpy(), expected, rtol=1e-5, atol=1e-4
    )
    last = request["timestamps"][:, -1:]
    np.testing.assert_array_equal(
        outputs["forecast_timestamps"].numpy(), last + 3600 * np.arange(1, 5)
    )
    metadata = loaded.metadata.numpy().decode()
    assert '"feature_names": ["temp", "pressure"]' in metadata


def test_time_features_in_graph_match_numpy():
    seconds = np.array([[1_600_000_000 + 977 * i for i in range(50)]], np.int64)
    graph = serving.time_features_graph(tf.constant(seconds)).numpy()[0]
    np.testing.assert_allclose(graph, data.time_features(seconds[0]), atol=1e-6)


def test_wrong_window_shape_is_rejected(module_and_data):
    loaded, _, prepared = module_and_data
    request = serving.sample_request(prepared, count=2)
    signature = loaded.signatures["serving_default"]
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"window must have shape"):
        signature(
            window=tf.constant(request["window"][:, 1:]),
            timestamps=tf.constant(request["timestamps"]),
        )
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"\[batch, 12, 2\]"):
        signature(
            window=tf.constant(request["window"][:, :, :1]),
            timestamps=tf.constant(request["timestamps"]),
        )


def test_uneven_timestamps_and_nan_are_rejected(module_and_data):
    loaded, _, prepared = module_and_data
    request = serving.sample_request(prepared, count=1)
    signature = loaded.signatures["serving_default"]
    stamps = request["timestamps"].copy()
    stamps[0, 5] += 60
    with pytest.raises(tf.errors.InvalidArgumentError, match="3600 seconds apart"):
        signature(window=tf.constant(request["window"]), timestamps=tf.constant(stamps))
    window = request["window"].copy()
    window[0, 3, 1] = np.nan
    with pytest.raises(tf.errors.InvalidArgumentError, match="NaN or infinite"):
        signature(
            window=tf.constant(window), timestamps=tf.constant(request["timestamps"])
        )


def test_metadata_describes_the_inputs():
    prepared, config = _prepared()
    described = serving.metadata(prepared, dataclasses.replace(config))
    assert described["input_steps"] == 12
    assert described["time_features"] == ["day", "year"]
    assert described["frequency_seconds"] == 3600


def test_quantile_metrics_by_hand():
    from apps.timeseries import evaluation

    prepared, _ = _prepared()
    truth = np.array([[[0.0]], [[1.0]], [[2.0]], [[3.0]]])  # [4, 1, 1]
    outputs = np.tile(np.array([0.5, 1.5, 2.5]), (4, 1, 1, 1))  # [4, 1, 1, 3]
    metrics = evaluation.quantile_metrics(outputs, truth, (0.1, 0.5, 0.9), prepared)
    assert metrics["coverage_q0.1/temp"] == 0.25  # only 0 <= 0.5
    assert metrics["coverage_q0.5/temp"] == 0.5
    assert metrics["coverage_q0.9/temp"] == 0.75
    assert metrics["interval_coverage/temp"] == 0.5  # 1 and 2 in [0.5, 2.5]
    levels = np.array([0.1, 0.5, 0.9])
    error = truth[..., None] - outputs
    expected = np.maximum(levels * error, (levels - 1) * error).mean()
    assert metrics["pinball_normalized"] == pytest.approx(expected)


def test_quantile_signature_returns_calibrated_levels(tmp_path):
    from apps.timeseries import calibration

    prepared, config = _prepared()
    tf.keras.utils.set_random_seed(1)
    keras_model = model.build_single_shot(
        12,
        prepared.num_inputs,
        1,
        4,
        units=5,
        residual=False,
        quantiles=(0.2, 0.5, 0.8),
    )
    offsets = np.random.default_rng(0).normal(size=(4, 1, 3)).astype("float32")
    factors = np.random.default_rng(1).uniform(0.5, 2, size=(4, 1, 3))
    module = serving.TimeSeriesServingModule(
        keras_model,
        prepared,
        config,
        (0.2, 0.5, 0.8),
        levels=(0.2, 0.5, 0.8),
        offsets=offsets,
        factors=factors.astype("float32"),
    )
    request = serving.sample_request(prepared, count=2)
    outputs = module.serving_signatures()["serving_default"](
        window=tf.constant(request["window"]),
        timestamps=tf.constant(request["timestamps"]),
    )
    inputs, _ = prepared.model_arrays(prepared.splits["test"][0])
    windows = np.stack([inputs[0:12], inputs[1:13]])
    raw = keras_model.predict(windows, verbose=0)
    # 12 steps: not longer than a day, so the scale uses one-step changes.
    scale = calibration.window_scale(windows, 1, 1)
    expected = calibration.apply_offsets(raw, scale, offsets, (0.2, 0.5, 0.8), factors)
    expected = expected * prepared.std[0] + prepared.mean[0]
    np.testing.assert_allclose(outputs["quantiles"].numpy(), expected, rtol=1e-4)
    np.testing.assert_allclose(
        outputs["forecast"].numpy(),
        raw[..., 1] * prepared.std[0] + prepared.mean[0],
        rtol=1e-5,
    )
