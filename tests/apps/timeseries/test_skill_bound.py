"""`skill_bound`: blocked folds over the test period, and the cross-fitting."""

import dataclasses

import numpy as np

from apps.timeseries import data, model, skill_bound
from apps.timeseries.config import PRESETS


def test_season_folds_hold_each_window_once_with_a_gap():
    # Two series of 30 and 20 windows, the second listed out of time order.
    series = np.repeat([0, 1], [30, 20])
    origins = np.concatenate([np.arange(30) + 5, np.arange(20)[::-1] + 5])
    span = 4
    masks = skill_bound.season_folds(series, origins, folds=3, span=span)
    held = np.stack([h for h, _ in masks])
    np.testing.assert_array_equal(held.sum(axis=0), np.ones(50))
    for h, usable in masks:
        assert not (h & usable).any()
        for index in (0, 1):
            own = series == index
            block = np.sort(origins[own & h])
            # Consecutive in time, a third of the series.
            np.testing.assert_array_equal(block, np.arange(block[0], block[-1] + 1))
            assert len(block) in (own.sum() // 3, own.sum() // 3 + 1)
            gaps = np.abs(origins[own & usable][:, None] - block[None, :])
            assert gaps.size == 0 or gaps.min() >= span
            # Every window of the series outside the gap is usable.
            near = (origins > block[0] - span) & (origins < block[-1] + span)
            np.testing.assert_array_equal(usable[own], ~near[own])


def test_cross_fitted_linear_is_refitted_per_block():
    config = PRESETS["tiny"]
    config = dataclasses.replace(
        config, train=dataclasses.replace(config.train, epochs=1)
    )
    info = data.load(config)
    windows = {split: info.window_arrays(split) for split in info.splits}
    forecasts = skill_bound.cross_fitted(config, info, windows, folds=2)
    train = windows["train"]
    test_inputs, test_truth = windows["test"]
    assert forecasts["model"].shape == test_truth.shape
    assert np.isfinite(forecasts["model"]).all()
    masks = skill_bound.season_folds(
        skill_bound._test_series(info),
        info.window_origins("test"),
        2,
        info.input_steps + info.horizon,
    )
    for held, usable in masks:
        linear = model.LinearForecaster().fit(
            np.concatenate([train[0], test_inputs[usable]]),
            np.concatenate([train[1], test_truth[usable]]),
        )
        np.testing.assert_allclose(
            forecasts["linear"][held], linear.predict(test_inputs[held]), atol=1e-5
        )
