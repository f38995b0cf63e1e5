"""Baselines against hand computation; the LSTM forecasters' structure."""

import keras
import numpy as np
import pytest

from apps.timeseries import data, model


def _windows(batch=3, steps=30, features=4, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, steps, features))


def test_last_value_repeats_the_last_step():
    inputs = _windows()
    forecast = model.last_value_forecast(inputs, num_targets=2, horizon=5)
    assert forecast.shape == (3, 5, 2)
    for step in range(5):
        np.testing.assert_array_equal(forecast[:, step], inputs[:, -1, :2])


def test_repeat_last_day_by_hand():
    inputs = _windows(steps=30)
    forecast = model.repeat_last_day_forecast(
        inputs, num_targets=1, horizon=30, steps_per_day=24
    )
    # Input step 6 is 24 h before the first forecast step (30 - 24 = 6).
    for step in range(30):
        expected = inputs[:, 6 + step % 24, 0]
        np.testing.assert_array_equal(forecast[:, step, 0], expected)
    with pytest.raises(ValueError, match="needs input_steps >= one day"):
        model.repeat_last_day_forecast(inputs[:, :12], 1, 3, 24)


def test_linear_forecaster_recovers_an_exact_linear_map():
    rng = np.random.default_rng(1)
    inputs = rng.normal(size=(400, 5, 3))
    weights = rng.normal(size=(15, 4))
    targets = (inputs.reshape(400, -1) @ weights + 0.5).reshape(400, 2, 2)
    fitted = model.LinearForecaster(l2=0.0).fit(inputs, targets)
    new = rng.normal(size=(7, 5, 3))
    expected = (new.reshape(7, -1) @ weights + 0.5).reshape(7, 2, 2)
    np.testing.assert_allclose(fitted.predict(new), expected, rtol=1e-4, atol=1e-4)


def test_single_shot_starts_from_persistence():
    built = model.build_single_shot(
        input_steps=8, num_inputs=5, num_targets=2, horizon=4, units=6
    )
    inputs = _windows(batch=2, steps=8, features=5).astype("float32")
    output = built(inputs).numpy()
    assert output.shape == (2, 4, 2)
    # The residual head starts at zero: the untrained model is last value.
    np.testing.assert_allclose(
        output, model.last_value_forecast(inputs, 2, 4), rtol=1e-6, atol=1e-6
    )


def test_single_shot_uses_the_custom_lstm():
    from lstm_keras import LSTM

    built = model.build_single_shot(8, 5, 1, 4, units=6, layers=2)
    lstms = [layer for layer in built.layers if isinstance(layer, LSTM)]
    assert len(lstms) == 2
    assert not any(type(layer) is keras.layers.LSTM for layer in built.layers)


def test_autoregressive_advances_time_features_exactly():
    seconds = np.arange(0, 40 * 3600, 3600, dtype=np.int64) + 1_700_000_000
    features = data.time_features(seconds, ("day", "year"))
    forecaster = model.AutoregressiveForecaster(
        input_steps=8,
        num_inputs=6,
        num_targets=2,
        horizon=3,
        step_seconds=3600,
        time_periods=("day", "year"),
        units=4,
    )
    advanced = forecaster._advance_time(features[:-1].astype("float32")).numpy()
    np.testing.assert_allclose(advanced, features[1:], atol=1e-6)


def test_autoregressive_feeds_back_and_round_trips_config():
    forecaster = model.build_autoregressive(
        input_steps=8,
        num_inputs=5,
        num_targets=1,
        horizon=6,
        step_seconds=3600,
        time_periods=("day",),
        units=4,
    )
    inputs = _windows(batch=2, steps=8, features=5).astype("float32")
    output = forecaster(inputs).numpy()
    assert output.shape == (2, 6, 1)
    # Zero-initialized residual head: predictions stay at the last value.
    np.testing.assert_allclose(
        output, model.last_value_forecast(inputs, 1, 6), atol=1e-6
    )
    # A trained-looking head changes the output step after step (feedback).
    head = forecaster.head
    head.set_weights([np.full_like(w, 0.1) for w in head.get_weights()])
    changed = forecaster(inputs).numpy()
    assert not np.allclose(changed[:, 1:], changed[:, :1])
    clone = model.AutoregressiveForecaster.from_config(forecaster.get_config())
    clone(inputs)
    clone.set_weights(forecaster.get_weights())
    np.testing.assert_allclose(clone(inputs).numpy(), changed, atol=1e-6)


def test_pinball_loss_matches_numpy():
    rng = np.random.default_rng(4)
    truth = rng.normal(size=(5, 3, 2)).astype("float32")
    predicted = rng.normal(size=(5, 3, 2, 3)).astype("float32")
    levels = np.array([0.1, 0.5, 0.9])
    error = truth[..., None] - predicted
    expected = np.maximum(levels * error, (levels - 1) * error).mean()
    loss = model.PinballLoss([0.1, 0.5, 0.9])(truth, predicted)
    assert float(loss) == pytest.approx(expected, rel=1e-5)
    # At the median level the pinball loss is half the absolute error.
    median = model.PinballLoss([0.5])(truth, predicted[..., 1:2])
    assert float(median) == pytest.approx(np.abs(error[..., 1]).mean() / 2, rel=1e-5)


def test_quantile_head_shape_and_median_point_forecast():
    built = model.build_single_shot(8, 5, 2, 4, units=6, quantiles=(0.1, 0.5, 0.9))
    inputs = _windows(batch=2, steps=8, features=5).astype("float32")
    output = built(inputs).numpy()
    assert output.shape == (2, 4, 2, 3)
    point = model.point_forecast(output, (0.1, 0.5, 0.9))
    np.testing.assert_array_equal(point, output[..., 1])
    np.testing.assert_allclose(
        point, model.last_value_forecast(inputs, 2, 4), atol=1e-6
    )


def test_quantile_config_is_checked():
    from apps.timeseries.config import ModelConfig

    with pytest.raises(ValueError, match="including 0.5"):
        ModelConfig(quantiles=(0.1, 0.9))
    with pytest.raises(ValueError, match="needs model.kind=single_shot"):
        ModelConfig(kind="autoregressive", quantiles=(0.1, 0.5, 0.9))
    assert ModelConfig(quantiles=[0.25, 0.5, 0.75]).quantiles == (0.25, 0.5, 0.75)


def test_instance_norm_and_linear_base_start_from_their_baselines():
    inputs = _windows(batch=2, steps=8, features=5).astype("float32")
    normalized = model.build_single_shot(
        8, 5, 2, 4, units=6, instance_norm=True, num_time_features=2
    )
    expected = model.last_value_forecast(inputs, 2, 4)
    np.testing.assert_allclose(
        normalized.predict(inputs, verbose=0), expected, atol=1e-5
    )
    rng = np.random.default_rng(2)
    linear = model.LinearForecaster().fit(
        rng.normal(size=(300, 8, 5)), rng.normal(size=(300, 4, 2))
    )
    based = model.build_single_shot(8, 5, 2, 4, units=6, linear_base=linear)
    np.testing.assert_allclose(
        based.predict(inputs, verbose=0), linear.predict(inputs), atol=1e-5
    )
    # Both: the LSTM sees the window in its own units and the head's change
    # to the linear forecast is in units of the window's spread.
    both = model.build_single_shot(
        8,
        5,
        2,
        4,
        units=6,
        linear_base=linear,
        instance_norm=True,
        num_time_features=2,
    )
    np.testing.assert_allclose(
        both.predict(inputs, verbose=0), linear.predict(inputs), atol=1e-5
    )
    head = both.get_layer("head")
    head.set_weights([head.get_weights()[0], np.ones_like(head.get_weights()[1])])
    spread = np.maximum(inputs[..., :2].std(axis=1), model.INSTANCE_MIN_STD)
    np.testing.assert_allclose(
        both.predict(inputs, verbose=0) - linear.predict(inputs),
        np.repeat(spread[:, None, :], 4, axis=1),
        atol=1e-4,
    )
    # The linear base is frozen: only the LSTM and the head train.
    frozen = {id(w) for w in based.get_layer("linear_base").weights}
    assert len(frozen) == 2
    assert frozen.isdisjoint(id(w) for w in based.trainable_weights)


def test_seed_ensemble_trains_each_member_and_forecasts_their_mean():
    from apps.timeseries.config import ModelConfig, TimeSeriesConfig

    class Shapes:
        input_steps, num_inputs, num_targets, horizon = 10, 3, 1, 4
        time_periods, frequency_seconds = ("day",), 3600

    keras.utils.set_random_seed(0)
    config = TimeSeriesConfig(model=ModelConfig(units=4, members=3, residual=False))
    ensemble = model.build_model(config, Shapes())
    x = np.random.default_rng(0).random((32, 10, 3)).astype("float32")
    y = np.random.default_rng(1).random((32, 4, 1)).astype("float32")
    first = [m.predict(x, verbose=0) for m in ensemble.members]
    assert not np.allclose(first[0], first[1])  # different initial weights
    ensemble.fit(x, y, epochs=1, batch_size=32, verbose=0)
    members = [m.predict(x, verbose=0) for m in ensemble.members]
    np.testing.assert_allclose(
        ensemble.predict(x, verbose=0), np.mean(members, axis=0), atol=1e-6
    )
    # Each member's own loss trained it (every member moved).
    assert all(not np.allclose(a, b) for a, b in zip(first, members, strict=True))
