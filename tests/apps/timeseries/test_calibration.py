"""Conformal offsets, skill against the best baseline, MASE and the backtest."""

import numpy as np
import pytest

from apps.timeseries import calibration, evaluation


def test_interval_levels():
    assert calibration.interval_levels((0.5, 0.8)) == (0.1, 0.25, 0.5, 0.75, 0.9)
    assert calibration.interval_levels(()) == (0.5,)


def test_offsets_cover_new_draws_of_the_same_distribution():
    rng = np.random.default_rng(0)
    levels = calibration.interval_levels((0.5, 0.8))

    def draw(count):
        inputs = rng.normal(size=(count, 30, 2))
        scale = calibration.window_scale(inputs, 1, 24)  # [count, 1]
        base = rng.normal(size=(count, 4, 1))
        # Errors proportional to the window's scale: what the scale is for.
        truth = base + scale[:, None, :] * rng.standard_t(5, size=(count, 4, 1))
        return inputs, scale, base, truth

    _, scale, base, truth = draw(4000)
    offsets = calibration.fit_offsets(base, truth, scale, levels)
    assert offsets.shape == (4, 1, 5)
    _, scale, base, truth = draw(20000)
    quantiles = calibration.apply_offsets(base, scale, offsets)
    below = truth[..., None] <= quantiles
    for position, level in enumerate(levels):
        assert below[..., position].mean() == pytest.approx(level, abs=0.015)


def _tracking_case(rng, steps, series, horizon, error_scale):
    """Static quantiles from unit-normal validation errors and a test sequence
    (`series` series sharing origins) whose errors have `error_scale`."""
    levels = calibration.interval_levels((0.5, 0.8))
    base = np.zeros((2000, horizon, 1))
    offsets = calibration.fit_offsets(
        base, rng.normal(size=base.shape), np.ones((2000, 1)), levels
    )
    count = steps * series
    origins = np.tile(np.arange(steps), series)
    truth = error_scale * rng.normal(size=(count, horizon, 1))
    static = calibration.apply_offsets(
        np.zeros((count, horizon, 1)), np.ones((count, 1)), offsets
    )
    return levels, static, truth, origins


def _inside(quantiles, truth, low, high):
    return ((truth >= quantiles[..., low]) & (truth <= quantiles[..., high])).mean()


@pytest.mark.parametrize("error_scale", [1.0, 1.8, 0.6])
def test_tracking_holds_the_intervals_when_the_errors_change(error_scale):
    rng = np.random.default_rng(1)
    levels, static, truth, origins = _tracking_case(rng, 6000, 2, 3, error_scale)
    used, final = calibration.track_factors(static, truth, origins, levels, 0.02)
    median = static[..., 2:3]
    tracked = np.sort(median + (static - median) * used, axis=-1)
    # Static bands hold 80% / 50% only when the errors keep their scale.
    if error_scale == 1.0:
        assert _inside(static, truth, 0, 4) == pytest.approx(0.8, abs=0.02)
    else:
        assert abs(_inside(static, truth, 0, 4) - 0.8) > 0.1
    assert _inside(tracked, truth, 0, 4) == pytest.approx(0.8, abs=0.02)
    assert _inside(tracked, truth, 1, 3) == pytest.approx(0.5, abs=0.02)
    # The factor converges to the ratio of the error scales; the median's is 1.
    np.testing.assert_allclose(final[..., 2], 1.0)
    np.testing.assert_allclose(final[..., [0, 4]], error_scale, rtol=0.25)


def _track_by_hand(static, truth, origins, levels, rate):
    """One window and one truth at a time, in the order time runs."""
    median = static[..., 2:3]
    log_factor = np.zeros(static.shape[1:])
    used = np.zeros(static.shape)
    horizon = truth.shape[1]
    pairs = {0: (0, 4), 4: (0, 4), 1: (1, 3), 3: (1, 3)}
    for time in range(origins.min(), origins.max() + horizon + 1):
        changes = np.zeros_like(log_factor)
        for step in range(horizon):
            # The truths of this step arriving now, one per series: their
            # mean miss moves the factor once.
            windows = np.flatnonzero(origins == time - step - 1)
            for window in windows:
                factors = np.exp(used[window, step, 0])
                bands = (
                    median[window, step, 0]
                    + (static[window, step, 0] - median[window, step, 0]) * factors
                )
                value = truth[window, step, 0]
                for low, high in ((0, 4), (1, 3)):
                    miss = value < bands[low] or value > bands[high]
                    change = rate * (miss - 2 * levels[low]) / len(windows)
                    changes[step, 0, [low, high]] += change
        log_factor += changes
        for window in np.flatnonzero(origins == time):
            used[window] = log_factor
    assert set(pairs) | {2} == set(range(5))
    return np.exp(used), np.exp(log_factor)


def test_tracking_equals_a_loop_over_time():
    rng = np.random.default_rng(2)
    levels, static, truth, origins = _tracking_case(rng, 60, 2, 4, 1.5)
    used, final = calibration.track_factors(static, truth, origins, levels, 0.05)
    expected_used, expected_final = _track_by_hand(static, truth, origins, levels, 0.05)
    np.testing.assert_allclose(used, expected_used, rtol=1e-5)
    np.testing.assert_allclose(final, expected_final, rtol=1e-5)


def test_tracking_rate_is_per_step_of_time_whatever_the_number_of_series():
    rng = np.random.default_rng(4)
    levels, static, truth, origins = _tracking_case(rng, 80, 1, 4, 1.5)
    one = calibration.track_factors(static, truth, origins, levels, 0.05)
    # The same series three times over: the same factors, not three times
    # the step.
    copies = [np.concatenate([array] * 3) for array in (static, truth, origins)]
    three = calibration.track_factors(*copies, levels, 0.05)
    np.testing.assert_allclose(three[0], np.concatenate([one[0]] * 3), rtol=1e-6)
    np.testing.assert_allclose(three[1], one[1], rtol=1e-6)
    assert not np.allclose(one[1], 1.0)


def test_tracking_uses_only_truths_known_at_the_origin():
    rng = np.random.default_rng(3)
    levels, static, truth, origins = _tracking_case(rng, 50, 1, 4, 1.5)
    used, _ = calibration.track_factors(static, truth, origins, levels, 0.05)
    # Change every truth after step 30: forecasts from origins up to 30 used
    # only truths up to 30 (window w's step h is at w + h + 1).
    changed = truth.copy()
    arrival = origins[:, None] + np.arange(1, 5)[None]
    changed[arrival > 30] += 10.0
    again, _ = calibration.track_factors(static, changed, origins, levels, 0.05)
    np.testing.assert_array_equal(used[:31], again[:31])
    assert not np.array_equal(used[31:], again[31:])
    # A rate of 0 keeps the validation split's bands.
    still, final = calibration.track_factors(static, truth, origins, levels, 0.0)
    assert (still == 1).all() and (final == 1).all()


def test_window_scale_is_the_root_mean_absolute_change():
    inputs = np.zeros((1, 40, 3))
    inputs[0, :, 0] = np.arange(40) * 0.5  # steady rise of 0.5 per step
    inputs[0, :, 1] = 7.0  # constant: the floor
    day = calibration.window_scale(inputs, 2, 24)
    np.testing.assert_allclose(day, np.sqrt([[12.0, calibration.MIN_SCALE]]))
    step = calibration.window_scale(inputs, 2, 1)
    np.testing.assert_allclose(step[0, 0], np.sqrt(0.5))
    assert calibration.scale_lag(72, 24) == 24
    assert calibration.scale_lag(24, 24) == 1 and calibration.scale_lag(72, None) == 1


class _Data:
    target_names = ("y",)
    num_targets = 1
    std = np.array([2.0])


def test_skill_against_the_best_baseline_per_target_and_step():
    results = {
        "last_value": {"mae/y": 4.0, "mae_by_step/y": [1.0, 7.0]},
        "linear": {"mae/y": 3.0, "mae_by_step/y": [2.0, 4.0]},
        "lstm": {"mae/y": 2.4, "mae_by_step/y": [1.5, 3.3]},
    }
    skill = evaluation.skill_metrics(results, "lstm", ["last_value", "linear"], ["y"])
    assert skill["best_baseline/y"] == "linear"
    assert skill["skill_vs_best/y"] == pytest.approx(0.2)
    # Step 1: last value (1.0) is the best; step 2: linear (4.0).
    assert skill["skill_vs_best_by_step/y"] == pytest.approx([-0.5, 0.175])
    assert skill["skill_vs/last_value/y"] == pytest.approx(0.4)


def test_backtest_folds_by_hand():
    truth = np.zeros((4, 2, 1))
    forecasts = {
        "a": np.ones((4, 2, 1)),
        "b": np.arange(4.0)[:, None, None] * np.ones((4, 2, 1)),
    }
    origins = np.array([0, 1, 2, 3])
    summary = evaluation.backtest_folds(forecasts, truth, origins, _Data(), 2)
    assert summary["folds"] == 2 and summary["origins"] == 4
    assert summary["mae_by_fold/y"]["a"] == [2.0, 2.0]  # std 2
    assert summary["mae_by_fold/y"]["b"] == [1.0, 5.0]


def test_crps_and_interval_coverage():
    truth = np.array([[[0.0]], [[1.0]], [[2.0]], [[3.0]]])
    outputs = np.tile(np.array([0.5, 1.0, 1.5, 2.0, 2.5]), (4, 1, 1, 1))
    metrics = evaluation.quantile_metrics(
        outputs, truth, (0.1, 0.25, 0.5, 0.75, 0.9), _Data()
    )
    assert metrics["interval_coverage_0.8/y"] == 0.5  # 1, 2 in [0.5, 2.5]
    assert metrics["interval_coverage_0.5/y"] == 0.5  # 1, 2 in [1.0, 2.0]
    levels = np.array([0.1, 0.25, 0.5, 0.75, 0.9])
    error = truth[..., None] - outputs
    pinball = np.maximum(levels * error, (levels - 1) * error).mean()
    assert metrics["crps/y"] == pytest.approx(2 * pinball * 2.0)


def test_calibration_rate_out_of_range_is_a_clear_error():
    from apps.timeseries.config import ModelConfig

    with pytest.raises(
        ValueError, match=r"'model.calibration_rate' expects a number >= 0 and <= 1"
    ):
        ModelConfig(calibration_rate=-0.01)
