"""Forecast metrics (MAE, RMSE per target and per horizon step), table and plots."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .data import TimeSeriesInfo


def seasonal_naive_scale(data: TimeSeriesInfo) -> np.ndarray:
    """MASE's denominator per target: the in-sample MAE (original units) of
    the seasonal naive forecast (one day back; one step back when a day is
    not a whole number of steps) over the training split."""
    lag = data.steps_per_day or 1
    errors = [
        np.abs(
            series.values[lag:, : data.num_targets]
            - series.values[:-lag, : data.num_targets]
        )
        for series in data.splits["train"]
        if len(series.values) > lag
    ]
    scale = np.concatenate(errors).mean(axis=0)
    return np.where(scale > 0, scale, 1.0)


def forecast_metrics(
    forecast: np.ndarray, truth: np.ndarray, data: TimeSeriesInfo
) -> dict[str, Any]:
    """Scores a normalized forecast against the truth, both `[windows, horizon,
    num_targets]`.

    Returns `mae_normalized` (mean over targets and steps, the tutorial's
    number), and per target `mae/T`, `rmse/T` (original units), `mase/T`
    (MAE over the training split's seasonal naive MAE), `mae_normalized/T`,
    `mae_by_step/T` and `rmse_by_step/T` (lists, one value per horizon step,
    original units).
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
    scale = seasonal_naive_scale(data)
    for index, name in enumerate(data.target_names):
        absolute = np.abs(error[..., index])
        squared = error[..., index] ** 2
        metrics[f"mae/{name}"] = float(absolute.mean())
        metrics[f"rmse/{name}"] = float(np.sqrt(squared.mean()))
        metrics[f"mase/{name}"] = float(absolute.mean() / scale[index])
        metrics[f"mae_normalized/{name}"] = float(
            np.abs(error_normalized[..., index]).mean()
        )
        metrics[f"mae_by_step/{name}"] = [float(v) for v in absolute.mean(axis=0)]
        metrics[f"rmse_by_step/{name}"] = [
            float(v) for v in np.sqrt(squared.mean(axis=0))
        ]
    return metrics


def skill_metrics(
    results: dict[str, dict[str, Any]], model: str, baselines, target_names
) -> dict[str, Any]:
    """The model's skill (1 - its MAE / the baseline's MAE) against the best
    baseline, per target and per horizon step (the best at each step).

    Returns `best_baseline/T`, `skill_vs_best/T`, `skill_vs_best_by_step/T`
    and `skill_vs/B/T` for every baseline B.
    """
    metrics: dict[str, Any] = {}
    for name in target_names:
        mae = results[model][f"mae/{name}"]
        best = min(baselines, key=lambda b: results[b][f"mae/{name}"])
        metrics[f"best_baseline/{name}"] = best
        metrics[f"skill_vs_best/{name}"] = 1 - mae / results[best][f"mae/{name}"]
        by_step = np.asarray(results[model][f"mae_by_step/{name}"])
        best_by_step = np.min(
            [results[b][f"mae_by_step/{name}"] for b in baselines], axis=0
        )
        metrics[f"skill_vs_best_by_step/{name}"] = [
            float(v) for v in 1 - by_step / best_by_step
        ]
        for baseline in baselines:
            metrics[f"skill_vs/{baseline}/{name}"] = (
                1 - mae / (results[baseline][f"mae/{name}"])
            )
    return metrics


def backtest_folds(
    forecasts: dict[str, np.ndarray],
    truth: np.ndarray,
    origins: np.ndarray,
    data: TimeSeriesInfo,
    fold_steps: int,
) -> dict[str, Any]:
    """Rolling-origin backtest summary: the test origins grouped into
    consecutive folds of `fold_steps` steps (a week of hourly data), MAE per
    fold and model (original units, first target... every target).

    `origins` is each window's origin step within its series' test split.
    Returns `{"fold_steps", "origins", "folds", "mae_by_fold/T": {model: [...]}}`.
    """
    fold = origins // fold_steps
    folds = np.unique(fold)
    summary: dict[str, Any] = {
        "fold_steps": int(fold_steps),
        "origins": int(len(origins)),
        "folds": int(len(folds)),
    }
    for index, name in enumerate(data.target_names):
        scale = data.std[index]
        summary[f"mae_by_fold/{name}"] = {
            model: [
                float(
                    np.abs(
                        forecast[fold == f, :, index] - truth[fold == f, :, index]
                    ).mean()
                    * scale
                )
                for f in folds
            ]
            for model, forecast in forecasts.items()
        }
    return summary


def quantile_metrics(
    outputs: np.ndarray, truth: np.ndarray, quantiles, data: TimeSeriesInfo
) -> dict[str, Any]:
    """Pinball loss, CRPS and coverage of a quantile forecast.

    `outputs` is `[windows, horizon, num_targets, len(quantiles)]`
    (normalized). Coverage of level q (`coverage_qLEVEL/T`) is the fraction of
    true values at or below its forecast (q when calibrated);
    `interval_coverage_P/T` the fraction inside the central interval of
    probability P (between levels (1 - P) / 2 and (1 + P) / 2);
    `interval_coverage/T` inside the outermost levels. `crps/T` (original
    units) is CRPS estimated from the quantiles: twice the mean pinball loss
    over the levels.
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
        for low, level in enumerate(quantiles):
            high = _position(quantiles, 1 - level)
            if level < 0.5 and high is not None:
                inside = below[..., high] & ~(
                    truth[..., index] < outputs[..., index, low]
                )
                probability = round(1 - 2 * level, 6)
                metrics[f"interval_coverage_{probability:g}/{name}"] = float(
                    inside.mean()
                )
        metrics[f"crps/{name}"] = float(
            2 * pinball[..., index, :].mean() * data.std[index]
        )
    return metrics


def _position(levels, level: float) -> int | None:
    matches = [i for i, value in enumerate(levels) if abs(value - level) < 1e-9]
    return matches[0] if matches else None


def plot_skill_by_horizon(
    path: str, results: dict[str, dict[str, Any]], model: str, baselines, targets
) -> None:
    """The model's skill (1 - MAE ratio) per horizon step against each
    baseline and against the best one at each step, one panel per target."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(
        len(targets), 1, figsize=(8, 3.2 * len(targets)), squeeze=False
    )
    for axis, name in zip(axes[:, 0], targets, strict=True):
        ours = np.asarray(results[model][f"mae_by_step/{name}"])
        steps = np.arange(1, len(ours) + 1)
        for baseline in baselines:
            theirs = np.asarray(results[baseline][f"mae_by_step/{name}"])
            axis.plot(steps, 100 * (1 - ours / theirs), marker=".", label=baseline)
        best = results[model][f"skill_vs_best_by_step/{name}"]
        axis.plot(steps, 100 * np.asarray(best), color="black", lw=2, label="best")
        axis.axhline(0, color="gray", lw=0.8)
        axis.set_ylabel(f"skill of {model} (%)")
        axis.set_xlabel("horizon step")
        axis.set_title(f"{name}: MAE reduction against each baseline", fontsize=9)
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)


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
    data: TimeSeriesInfo,
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
    plots: str,
    inputs: np.ndarray,
    truth: np.ndarray,
    forecasts: dict[str, np.ndarray],
    results: dict[str, dict[str, Any]],
    data: TimeSeriesInfo,
) -> list[str]:
    """Both plots in the folder `plots`; returns their paths."""
    paths = [
        os.path.join(plots, "forecast_vs_truth.png"),
        os.path.join(plots, "error_by_horizon.png"),
    ]
    plot_forecasts(paths[0], inputs, truth, forecasts, data)
    plot_error_by_horizon(paths[1], results, data.target_names)
    return paths
