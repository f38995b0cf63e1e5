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
