"""How far below last value the test period's forecasts get when the test
season is no longer unseen: `python -m apps.timeseries.skill_bound [PRESET]
[FOLDS]`.

Two measures, next to last value's test MAE and the issue's target (25%
below it); neither is a forecaster anyone could run:

- the linear baseline (ridge on the whole flattened window) fitted on the
  windows of all three splits, test included: how much of the day-ahead
  error a window of this data explains at best with that model;
- blocked cross-fitting over the test period: the test origins of each
  series are cut into `FOLDS` consecutive blocks (6: five and a half days
  each on the built-in data), and each block is forecast by the preset's model
  (and the linear baseline) trained on the training split plus the test
  windows of the other blocks, leaving out those within one window's span
  (input plus horizon) of the block. Validation early-stops as in a run.
  The test period's season, which the training split never saw, is then
  mostly seen; what remains below the target is what the data leaves.
"""

from __future__ import annotations

import sys

import keras
import numpy as np

from . import data, model
from .config import PRESETS


def season_folds(series: np.ndarray, origins: np.ndarray, folds: int, span: int):
    """Blocked folds over windows: `[(held, usable)]` boolean masks.

    Args:
        series: each window's series index.
        origins: each window's origin (step) within its series' split.
        folds: blocks per series, consecutive in time.
        span: steps a window covers (input steps plus horizon); a usable
            window's origin is at least this far from every held one of its
            series, so that no step of a held window is in a usable one.
    """
    block = np.zeros(len(origins), int)
    for index in np.unique(series):
        members = np.flatnonzero(series == index)
        members = members[np.argsort(origins[members], kind="stable")]
        block[members] = np.arange(len(members)) * folds // len(members)
    masks = []
    for fold in range(folds):
        held = block == fold
        usable = ~held
        for index in np.unique(series[held]):
            own = series == index
            first, last = origins[own & held].min(), origins[own & held].max()
            usable &= ~(own & (origins > first - span) & (origins < last + span))
        masks.append((held, usable))
    return masks


def _test_series(info) -> np.ndarray:
    counts = [
        data.count_windows(len(s.seconds), info.input_steps, info.horizon, info.stride)
        for s in info.splits["test"]
    ]
    return np.repeat(np.arange(len(counts)), counts)


def cross_fitted(config, info, windows, folds: int):
    """Test forecasts of the preset's model and of the linear baseline, each
    block by models that saw the other blocks (`season_folds`).

    `windows`: `info.window_arrays(split)` for each split.
    """
    train, validation = windows["train"], windows["validation"]
    test_inputs, test_truth = windows["test"]
    masks = season_folds(
        _test_series(info),
        info.window_origins("test"),
        folds,
        info.input_steps + info.horizon,
    )
    forecasts = {
        "model": np.zeros_like(test_truth),
        "linear": np.zeros_like(test_truth),
    }
    for held, usable in masks:
        seen = tuple(
            np.concatenate([part, test_part[usable]])
            for part, test_part in zip(train, (test_inputs, test_truth), strict=True)
        )
        linear = model.LinearForecaster().fit(*seen)
        forecasts["linear"][held] = linear.predict(test_inputs[held])
        keras.utils.set_random_seed(config.train.seed)
        forecaster = model.build_model(config, info, linear_base=linear)
        patience = config.train.early_stopping_patience
        forecaster.fit(
            *seen,
            batch_size=config.train.batch_size,
            epochs=config.train.epochs,
            validation_data=validation,
            callbacks=[
                keras.callbacks.EarlyStopping(
                    patience=patience, restore_best_weights=True
                )
            ]
            if patience
            else [],
            verbose=0,
        )
        outputs = forecaster.predict(test_inputs[held], batch_size=1024, verbose=0)
        forecasts["model"][held] = model.point_forecast(outputs, config.model.quantiles)
    return forecasts


def main(preset: str = "default", folds: str = "6") -> None:
    config = PRESETS[preset]
    info = data.load(config)
    windows = {split: info.window_arrays(split) for split in info.splits}
    test_inputs, test_truth = windows["test"]
    scale = info.std[: info.num_targets]

    def mae(forecast):
        return np.abs(forecast - test_truth).mean(axis=(0, 1)) * scale

    last = mae(model.last_value_forecast(test_inputs, info.num_targets, info.horizon))
    inputs = np.concatenate([pair[0] for pair in windows.values()])
    targets = np.concatenate([pair[1] for pair in windows.values()])
    results = {
        "linear fitted on all splits": mae(
            model.LinearForecaster().fit(inputs, targets).predict(test_inputs)
        )
    }
    for name, forecast in cross_fitted(config, info, windows, int(folds)).items():
        results[f"{name}, other test blocks seen ({folds} blocks)"] = mae(forecast)
    for index, target in enumerate(info.target_names):
        print(
            f"{target}: last value {last[index]:.3f}, 25% below it "
            f"{0.75 * last[index]:.3f}"
        )
        for name, errors in results.items():
            print(
                f"  {name}: {errors[index]:.3f} "
                f"({1 - errors[index] / last[index]:.1%} below)"
            )


if __name__ == "__main__":
    main(*sys.argv[1:])
