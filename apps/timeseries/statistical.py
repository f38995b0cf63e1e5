"""The classical statistical baseline: Holt-Winters exponential smoothing.

Per series and target, statsmodels' `ExponentialSmoothing` (additive daily
season; additive damped trend or none) is fitted on the training split only,
and of the two trend choices the one with the lower in-sample MAE over the
whole forecast horizon is kept (the likelihood scores one-step errors, and a
trend fitted to them can extrapolate the daily ramps: on hourly electricity
demand the damped trend tripled the day-ahead error). Its
parameters are then held fixed and the same recursion runs over the whole
series (training, validation and test values, in order), so every forecast
origin gets the state that the data up to it give, without refitting: the
rolling-origin evaluation that statsforecast and Darts call a backtest with
`refit=False`.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np

from .data import SPLITS, TimeSeriesInfo, count_windows

NAME = "holt_winters"
# statsmodels' heuristic start needs two full seasons, and a fit of the
# smoothing weights wants a few more: below this, no season (documented).
MIN_SEASONS = 4


@dataclasses.dataclass
class FittedSmoothing:
    """Fitted parameters of one series' target, whether it has a season and a
    (damped) trend."""

    params: dict
    season: int | None
    trend: bool = True


def _model(values: np.ndarray, season: int | None, trend: bool = True, **initial):
    # Imported before any warnings filter is set: statsmodels adds its own
    # "always" filter for ConvergenceWarning when first imported.
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    return ExponentialSmoothing(
        values,
        trend="add" if trend else None,
        damped_trend=trend,
        seasonal="add" if season else None,
        seasonal_periods=season,
        **initial,
    )


def fit(
    values: np.ndarray, season: int | None, horizon: int | None = None
) -> FittedSmoothing:
    """Fits Holt-Winters on one training series `[steps]`; no season when the
    series holds fewer than `MIN_SEASONS` seasons. With `horizon`, fits with
    and without the damped trend and keeps the lower in-sample MAE over that
    horizon."""
    if season is not None and len(values) < MIN_SEASONS * season:
        season = None
    import statsmodels.tsa.holtwinters  # noqa: F401  (see _model)

    candidates = []
    for trend in (True, False) if horizon else (True,):
        with warnings.catch_warnings():
            # Convergence chatter from the optimizer; the fit is still usable.
            warnings.simplefilter("ignore")
            result = _model(
                values, season, trend, initialization_method="estimated"
            ).fit()
        candidates.append(FittedSmoothing(dict(result.params), season, trend))
    if len(candidates) == 1 or len(values) <= horizon + 1:
        return candidates[0]
    origins = np.arange(len(values) - horizon)
    truth = np.stack([values[origins + step] for step in range(1, horizon + 1)], 1)
    errors = [
        np.abs(forecast_from(c, run(c, values), origins, horizon) - truth).mean()
        for c in candidates
    ]
    return candidates[int(np.argmin(errors))]


def run(fitted: FittedSmoothing, values: np.ndarray):
    """The fixed-parameter recursion over `values`: statsmodels' results, whose
    `level`, `trend` and `season` hold the state after every step."""
    params = fitted.params
    initial = dict(initialization_method="known", initial_level=params["initial_level"])
    smoothing = dict(smoothing_level=params["smoothing_level"])
    if fitted.trend:
        initial["initial_trend"] = params["initial_trend"]
        smoothing["smoothing_trend"] = params["smoothing_trend"]
        smoothing["damping_trend"] = params["damping_trend"]
    if fitted.season:
        initial["initial_seasonal"] = params["initial_seasons"]
        smoothing["smoothing_seasonal"] = params["smoothing_seasonal"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _model(values, fitted.season, fitted.trend, **initial).fit(
            optimized=False, **smoothing
        )


def forecast_from(
    fitted: FittedSmoothing, result, origins: np.ndarray, horizon: int
) -> np.ndarray:
    """Forecasts `[len(origins), horizon]` from the state after each origin.

    Holt-Winters' forecast: level + (phi + ... + phi^h) trend + the season's
    value one period before the forecast step.
    """
    steps = np.arange(1, horizon + 1)
    forecast = np.repeat(np.asarray(result.level)[origins, None], horizon, axis=1)
    if fitted.trend:
        phi = fitted.params["damping_trend"]
        damping = np.cumsum(phi**steps)  # [horizon]
        forecast = forecast + damping[None, :] * np.asarray(result.trend)[origins, None]
    if fitted.season:
        season = fitted.season
        back = season * ((steps - 1) // season + 1)  # one period or more back
        forecast = forecast + np.asarray(result.season)[origins[:, None] + steps - back]
    return forecast


def forecasts(data: TimeSeriesInfo, split: str = "test") -> tuple[np.ndarray, dict]:
    """Normalized Holt-Winters forecasts for every window of `split`, in the
    order of `TimeSeriesInfo.window_arrays`, and a note of the seasons used.

    Returns `[windows, horizon, num_targets]` and `{series: {"season": steps
    or None, "damped_trend": bool}}` (of the last target).
    """
    # A daily season needs at least two steps a day.
    season = data.steps_per_day if (data.steps_per_day or 0) > 1 else None
    outputs, seasons = [], {}
    for position, piece in enumerate(data.splits[split]):
        count = count_windows(
            len(piece.seconds), data.input_steps, data.horizon, data.stride
        )
        if not count:
            continue
        history = [data.splits[name][position] for name in SPLITS]
        offset = sum(len(s.seconds) for s in history[: SPLITS.index(split)])
        whole = np.concatenate([s.values for s in history])  # raw, in time order
        origins = (
            offset + np.arange(count) * data.stride + data.input_steps - 1
        )  # last input step of each window
        per_target = []
        for index in range(data.num_targets):
            train = history[0].values[:, index]
            fitted = fit(train, season, data.horizon)
            result = run(fitted, whole[:, index])
            raw = forecast_from(fitted, result, origins, data.horizon)
            per_target.append((raw - data.mean[index]) / data.std[index])
            seasons[piece.name] = {
                "season": fitted.season,
                "damped_trend": fitted.trend,
            }
        outputs.append(np.stack(per_target, axis=-1))
    return np.concatenate(outputs).astype(np.float32), seasons
