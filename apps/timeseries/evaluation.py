"""Forecast metrics (MAE, RMSE per target and per horizon step), table and plots."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .data import SeriesData


def forecast_metrics(
    forecast: np.ndarray, truth: np.ndarray, data: SeriesData
) -> dict[str, Any]:
    """Scores a normalized forecast against the truth, both `[windows, horizon,
    num_targets]`.

    Returns `mae_normalized` (mean over targets and steps, the tutorial's
    number), and per target `mae/T`, `rmse/T` (original units),
    `mae_normalized/T`, `mae_by_step/T` and `rmse_by_step/T` (lists, one
    value per horizon step, original units).
    """
    if forecast.shape != truth.shape:
        raise ValueError(
            f"forecast shape {forecast.shape} differs from truth {truth.shape}"
        )
    error_normalized = forecast.astype(np.float64) - truth.astype(np.float64)
    error = error_normalized * data.std[: data.num_targets]  # original units
    metrics: dict[str, Any] = {
        "mae_normalized": float(np.mean(np.abs(error_normalized)))
    }
    for index, name in enumerate(data.target_names):
        absolute = np.abs(error[..., index])
        squared = error[..., index] ** 2
        metrics[f"mae/{name}"] = float(absolute.mean())
        metrics[f"rmse/{name}"] = float(np.sqrt(squared.mean()))
        metrics[f"mae_normalized/{name}"] = float(
            np.abs(error_normalized[..., index]).mean()
        )
        metrics[f"mae_by_step/{name}"] = [float(v) for v in absolute.mean(axis=0)]
        metrics[f"rmse_by_step/{name}"] = [
            float(v) for v in np.sqrt(squared.mean(axis=0))
        ]
    return metrics


def quantile_metrics(
    outputs: np.ndarray, truth: np.ndarray, quantiles, data: SeriesData
) -> dict[str, Any]:
    """Pinball loss (normalized) and coverage of a quantile forecast.

    `outputs` is `[windows, horizon, num_targets, len(quantiles)]`. Coverage
    of level q is the fraction of true values at or below its forecast (q
    for a calibrated forecast); `interval_coverage/T` is the fraction between
    the lowest and highest level.
    """
    levels = np.asarray(quantiles, dtype=np.float64)
    error = truth.astype(np.float64)[..., None] - outputs.astype(np.float64)
    pinball = np.maximum(levels * error, (levels - 1) * error)
    metrics: dict[str, Any] = {"pinball_normalized": float(pinball.mean())}
    for index, name in enumerate(data.target_names):
        below = truth[..., index, None] <= outputs[..., index, :]
        for position, level in enumerate(quantiles):
            metrics[f"coverage_q{level:g}/{name}"] = float(below[..., position].mean())
        inside = below[..., -1] & ~(truth[..., index] < outputs[..., index, 0])
        metrics[f"interval_coverage/{name}"] = float(inside.mean())
    return metrics


def markdown_table(
    results: dict[str, dict[str, Any]], target_names, reference: str = "last_value"
) -> str:
    """One row per model: normalized MAE, change against `reference`, and
    MAE/RMSE per target in original units."""
    header = ["model", "MAE (normalized)", f"vs {reference}"]
    for name in target_names:
        header += [f"MAE {name}", f"RMSE {name}"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    base = results.get(reference, {}).get("mae_normalized")
    for model, metrics in results.items():
        value = metrics["mae_normalized"]
        change = f"{100 * (value / base - 1):+.1f}%" if base else "n/a"
        row = [model, f"{value:.4f}", change]
        for name in target_names:
            row += [f"{metrics[f'mae/{name}']:.3f}", f"{metrics[f'rmse/{name}']:.3f}"]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def plot_forecasts(
    path: str,
    inputs: np.ndarray,
    truth: np.ndarray,
    forecasts: dict[str, np.ndarray],
    data: SeriesData,
    count: int = 3,
) -> None:
    """Forecast vs truth of the first target on `count` test windows spread
    over the test split (original units)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    name = data.target_names[0]
    history = data.denormalize_targets(inputs[..., : data.num_targets])[..., 0]
    actual = data.denormalize_targets(truth)[..., 0]
    picks = np.linspace(0, len(inputs) - 1, count).astype(int)
    figure, axes = pyplot.subplots(count, 1, figsize=(9, 2.6 * count), sharex=True)
    axes = np.atleast_1d(axes)
    past = np.arange(-data.input_steps + 1, 1)
    future = np.arange(1, data.horizon + 1)
    for axis, window in zip(axes, picks, strict=True):
        axis.plot(past, history[window], color="black", label="input")
        axis.plot(future, actual[window], color="black", linestyle="--", label="truth")
        for model, forecast in forecasts.items():
            values = data.denormalize_targets(forecast)[window, :, 0]
            axis.plot(future, values, label=model)
        axis.set_ylabel(name)
        axis.set_title(f"test window {window}", fontsize=9)
    axes[0].legend(fontsize=8, ncol=3)
    axes[-1].set_xlabel("steps from the forecast origin")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)


def plot_error_by_horizon(
    path: str, results: dict[str, dict[str, Any]], target_names
) -> None:
    """MAE per horizon step for every model, one panel per target."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(
        len(target_names), 1, figsize=(8, 3.2 * len(target_names)), squeeze=False
    )
    for axis, name in zip(axes[:, 0], target_names, strict=True):
        for model, metrics in results.items():
            steps = metrics[f"mae_by_step/{name}"]
            axis.plot(np.arange(1, len(steps) + 1), steps, marker=".", label=model)
        axis.set_ylabel(f"MAE {name}")
        axis.set_xlabel("horizon step")
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)


def write_plots(
    output_dir: str,
    inputs: np.ndarray,
    truth: np.ndarray,
    forecasts: dict[str, np.ndarray],
    results: dict[str, dict[str, Any]],
    data: SeriesData,
) -> list[str]:
    """Both plots under `output_dir/plots/`; returns their paths."""
    plots = os.path.join(output_dir, "plots")
    os.makedirs(plots, exist_ok=True)
    paths = [
        os.path.join(plots, "forecast_vs_truth.png"),
        os.path.join(plots, "error_by_horizon.png"),
    ]
    plot_forecasts(paths[0], inputs, truth, forecasts, data)
    plot_error_by_horizon(paths[1], results, data.target_names)
    return paths
