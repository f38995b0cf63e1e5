"""Conformal calibration of forecast quantiles on the validation split.

For each quantile level l, horizon step and target, the offset c is the
l-quantile of the validation residuals (truth - base forecast), divided by a
per-window scale; the calibrated quantile is `base + scale * c`. The base is
the point forecast (or, for a model trained with the pinball loss, its own
forecast for that level: conformalized quantile regression). Split conformal
prediction: with exchangeable windows each level holds its probability on new
data, and dividing by the scale lets the band widen on volatile days and
narrow on calm ones (locally weighted conformal prediction).

The scale is the square root of the mean absolute day-over-day change of the
target over the input window (normalized units; one-step changes when the
window is not longer than a day), computed the same way in the exported
graph. It was chosen on the validation split alone (calibrated on its first
half, checked on its second) among no scale, the mean absolute one-step or
day-over-day change, the window's standard deviation, and each with recency
weights: day-ahead errors grow with the recent day-to-day variability, but
less than in proportion.
"""

from __future__ import annotations

import numpy as np

# Keeps a window of constant values from giving a zero-width band.
MIN_SCALE = 1e-2


def interval_levels(intervals) -> tuple[float, ...]:
    """Quantile levels of central intervals (0.8 -> 0.1, 0.9), with 0.5."""
    levels = {0.5}
    for probability in intervals:
        levels.update(
            {round((1 - probability) / 2, 6), round((1 + probability) / 2, 6)}
        )
    return tuple(sorted(levels))


def scale_lag(input_steps: int, steps_per_day: int | None) -> int:
    """The lag of the changes the scale averages: a day when the window holds
    more than one, else one step."""
    if steps_per_day and input_steps > steps_per_day:
        return steps_per_day
    return 1


def window_scale(inputs, num_targets: int, lag: int):
    """`[windows, num_targets]` scale of each window (NumPy or tensors)."""
    targets = inputs[:, :, :num_targets]
    changes = targets[:, lag:] - targets[:, :-lag]
    if isinstance(inputs, np.ndarray):
        return np.sqrt(np.maximum(np.abs(changes).mean(axis=1), MIN_SCALE))
    import tensorflow as tf

    return tf.sqrt(tf.maximum(tf.reduce_mean(tf.abs(changes), axis=1), MIN_SCALE))


def fit_offsets(
    base: np.ndarray, truth: np.ndarray, scale: np.ndarray, levels
) -> np.ndarray:
    """Offsets `[horizon, num_targets, len(levels)]` from validation windows.

    `base` is `[windows, horizon, num_targets]` (one base for every level) or
    `[windows, horizon, num_targets, len(levels)]`; `truth` `[windows,
    horizon, num_targets]`; `scale` `[windows, num_targets]`.
    """
    if base.ndim == truth.ndim:
        base = np.repeat(base[..., None], len(levels), axis=-1)
    residual = (truth[..., None] - base) / scale[:, None, :, None]
    offsets = np.empty(residual.shape[1:])
    for position, level in enumerate(levels):
        # The finite-sample conformal rank: ceil((n + 1) l) / n for upper
        # levels, its mirror for lower ones.
        count = len(residual)
        if level >= 0.5:
            rank = min(np.ceil((count + 1) * level) / count, 1.0)
        else:
            rank = max(np.floor((count + 1) * level) / count, 0.0)
        offsets[..., position] = np.quantile(
            residual[..., position],
            rank,
            axis=0,
            method="higher" if level >= 0.5 else "lower",
        )
    return offsets.astype(np.float32)


def apply_offsets(base, scale, offsets):
    """Calibrated quantiles `[windows, horizon, num_targets, levels]`; sorted
    along the levels so they never cross."""
    if base.ndim == 3:
        base = base[..., None]
    quantiles = base + scale[:, None, :, None] * offsets[None]
    return np.sort(quantiles, axis=-1)
