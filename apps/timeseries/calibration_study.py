"""How the calibration was chosen: `python -m apps.timeseries.calibration_study RUN`.

Loads a trained run (its best checkpoint) and prints the coverage of the 80%
and 50% intervals and the CRPS of each calibration variant:

- selection, on the validation split alone: offsets from its first half (by
  time), evaluated on its second half, fixed or with the width factors
  tracked at several rates;
- the test split: offsets from the whole validation split (as the runner
  does), fixed, from its last quarter only, with tracked width factors, and
  with additive offsets tracked per level instead (the plain quantile
  tracker); and an oracle, offsets fitted on the test split itself, for
  the best a fixed band of this form can do.
"""

from __future__ import annotations

import sys

import numpy as np

from lstm_keras.runner.run_directory import RunDirectory
from lstm_keras.runner.training import load_trained

from . import calibration, evaluation
from .app import APP, _lag, _origin_steps

RATES = (0.01, 0.02, 0.03, 0.06)


def _arrays(info, model, split):
    inputs, truth = info.window_arrays(split)
    outputs = np.asarray(model.predict(inputs, batch_size=512, verbose=0))
    scale = calibration.window_scale(inputs, info.num_targets, _lag(info))
    return outputs, truth, scale, _origin_steps(info, split)


def _take(arrays, rows):
    return tuple(array[rows] for array in arrays)


def _additive(calibrate, evaluate, levels, rate):
    """Per-level offsets moved by `rate * spread * (level - below)` as truths
    arrive (spread: the 10-90% range of the calibration scores)."""
    base, truth, scale, origins = evaluate
    offsets = calibration.fit_offsets(*calibrate[:3], levels).astype(np.float64)
    scores = (calibrate[1] - calibrate[0]) / calibrate[2][:, None, :]
    spread = np.quantile(scores, 0.9, axis=0) - np.quantile(scores, 0.1, axis=0)
    level = np.asarray(levels)
    error = (truth - base) / scale[:, None, :]
    used = np.empty(truth.shape + (len(levels),))
    horizon = truth.shape[1]
    arrival = (origins[:, None] + np.arange(1, horizon + 1)[None]).ravel()
    order = np.argsort(arrival, kind="stable")
    arrival = arrival[order]
    window_of, step_of = np.divmod(order, horizon)
    known = 0
    for time in np.unique(origins):
        until = np.searchsorted(arrival, time, side="right")
        pairs = zip(window_of[known:until], step_of[known:until], strict=True)
        for window, step in pairs:
            below = error[window, step, :, None] <= used[window, step]
            offsets[step] += rate * spread[step, :, None] * (level - below)
        known = until
        used[origins == time] = offsets
    return np.sort(base[..., None] + scale[:, None, :, None] * used, axis=-1)


def _row(name, quantiles, truth, levels, info):
    metrics = evaluation.quantile_metrics(quantiles, truth, levels, info)
    cells = []
    for target in info.target_names:
        cells.append(
            f"{metrics[f'interval_coverage_0.8/{target}']:.3f} / "
            f"{metrics[f'interval_coverage_0.5/{target}']:.3f}, "
            f"CRPS {metrics[f'crps/{target}']:.3f}"
        )
    print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


def main(run_dir: str) -> None:
    config, data, model = load_trained(APP, RunDirectory(run_dir))
    info = data.info
    levels = calibration.interval_levels((0.5, 0.8))
    validation = _arrays(info, model, "validation")
    test = _arrays(info, model, "test")
    middle = np.median(validation[3])
    first = _take(validation, validation[3] <= middle)
    second = _take(validation, validation[3] > middle)
    last = _take(validation, validation[3] > np.quantile(validation[3], 0.75))
    print("| variant | 80% / 50% interval, CRPS per target |\n|---|---|")
    for split, calibrate, evaluate in (
        ("validation 2nd half", first, second),
        ("test", validation, test),
    ):
        offsets = calibration.fit_offsets(*calibrate[:3], levels)
        static = calibration.apply_offsets(evaluate[0], evaluate[2], offsets)
        _row(f"{split}: fixed", static, evaluate[1], levels, info)
        for rate in RATES:
            used, _ = calibration.track_factors(
                static, evaluate[1], evaluate[3], levels, rate
            )
            tracked = calibration.apply_offsets(
                evaluate[0], evaluate[2], offsets, levels, used
            )
            _row(
                f"{split}: width tracked, rate {rate}",
                tracked,
                evaluate[1],
                levels,
                info,
            )
    offsets = calibration.fit_offsets(*last[:3], levels)
    quantiles = calibration.apply_offsets(test[0], test[2], offsets)
    _row("test: fixed, last quarter of validation", quantiles, test[1], levels, info)
    quantiles = _additive(validation, test, levels, 0.01)
    _row("test: additive offsets tracked, rate 0.01", quantiles, test[1], levels, info)
    offsets = calibration.fit_offsets(*test[:3], levels)
    quantiles = calibration.apply_offsets(test[0], test[2], offsets)
    _row("test: oracle (fixed, fitted on test)", quantiles, test[1], levels, info)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m apps.timeseries.calibration_study RUN_DIR")
    main(sys.argv[1])
