"""Reading, cleaning, splitting, normalizing and windowing time series.

Pipeline (`load`): read the source -> check columns and types -> per series:
check timestamps, put rows on a regular grid (missing timestamps become rows
of NaN), turn sentinels into NaN -> split chronologically (70/20/10) ->
interpolate missing values inside each split (so no split sees another's
values) -> normalization statistics from the training split only -> add
sin/cos time-of-day and time-of-year features -> `tf.data` windows.

Model inputs per step are `[targets..., other features..., day_sin, day_cos,
year_sin, year_cos]`: the raw columns normalized, then the time features of
the cycles named in `data.time_features`.
"""

from __future__ import annotations

import dataclasses
import gzip
import os
import warnings
from typing import Any

import numpy as np
import pandas as pd
import tensorflow as tf

SPLITS = ("train", "validation", "test")
SECONDS_PER_DAY = 86_400
# The mean Gregorian year, 365.2425 days, is a whole number of seconds.
SECONDS_PER_YEAR = 31_556_952
# The cycles `data.time_features` may name, in seconds.
TIME_PERIODS = {"day": SECONDS_PER_DAY, "year": SECONDS_PER_YEAR}


@dataclasses.dataclass
class Series:
    """One series' split: timestamps and raw values with gaps filled.

    Attributes:
        name: the series' group value (`EWR`) or `series` for a single one.
        seconds: Unix timestamps in seconds, `[steps]` int64, regular.
        values: raw (unnormalized) feature values, `[steps, n_features]`.
    """

    name: str
    seconds: np.ndarray
    values: np.ndarray


@dataclasses.dataclass
class TimeSeriesInfo:
    """Everything after cleaning: `AppData.info` of the time-series app.

    Attributes:
        feature_names: raw input columns, targets first.
        target_names: the columns forecast (the first `len(target_names)`
            features).
        mean: training-split mean per feature, `[n_features]`.
        std: training-split standard deviation per feature (1 where constant).
        frequency_seconds: seconds between steps.
        input_steps: window length the model sees.
        horizon: steps forecast.
        stride: steps between window starts.
        splits: split name -> list of `Series`.
        report: counts of what cleaning found and filled.
        source: where the data came from (for summaries).
        time_periods: the cycles whose sin/cos are inputs (`day`, `year`).
        config: the `DataConfig` with every column resolved (the source's
            defaults and the detected time column filled in).
    """

    feature_names: tuple[str, ...]
    target_names: tuple[str, ...]
    mean: np.ndarray
    std: np.ndarray
    frequency_seconds: int
    input_steps: int
    horizon: int
    stride: int
    splits: dict[str, list[Series]]
    report: dict[str, Any]
    source: str
    time_periods: tuple[str, ...] = ("day", "year")
    config: Any = None

    @property
    def steps_per_day(self) -> int | None:
        """Steps in one day, or None when a day is not a whole number of steps."""
        if SECONDS_PER_DAY % self.frequency_seconds:
            return None
        return SECONDS_PER_DAY // self.frequency_seconds

    @property
    def time_feature_names(self) -> tuple[str, ...]:
        return tuple(f"{p}_{f}" for p in self.time_periods for f in ("sin", "cos"))

    @property
    def num_targets(self) -> int:
        return len(self.target_names)

    @property
    def num_inputs(self) -> int:
        """Features per model input step, time features included."""
        return len(self.feature_names) + 2 * len(self.time_periods)

    def model_arrays(self, series: Series) -> tuple[np.ndarray, np.ndarray]:
        """Model inputs `[steps, num_inputs]` and targets `[steps, num_targets]`.

        Both float32 and normalized with the training statistics.
        """
        normalized = (series.values - self.mean) / self.std
        inputs = np.concatenate(
            [normalized, time_features(series.seconds, self.time_periods)], axis=1
        )
        targets = normalized[:, : self.num_targets]
        return inputs.astype(np.float32), targets.astype(np.float32)

    def num_windows(self, split: str) -> int:
        return sum(
            count_windows(
                len(series.seconds), self.input_steps, self.horizon, self.stride
            )
            for series in self.splits[split]
        )

    def dataset(
        self,
        split: str,
        batch_size: int,
        shuffle: bool = False,
        seed: int = 0,
    ) -> tf.data.Dataset:
        """Batched `(inputs, targets)` windows of one split, cached and prefetched.

        Windows never cross series or split boundaries. Unshuffled, the order
        is series by series, window start by window start.
        """
        per_series = [
            windows_dataset(
                *self.model_arrays(series), self.input_steps, self.horizon, self.stride
            )
            for series in self.splits[split]
            if count_windows(
                len(series.seconds), self.input_steps, self.horizon, self.stride
            )
        ]
        dataset = per_series[0]
        for other in per_series[1:]:
            dataset = dataset.concatenate(other)
        dataset = dataset.cache()
        if shuffle:
            dataset = dataset.shuffle(
                self.num_windows(split), seed=seed, reshuffle_each_iteration=True
            )
        return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)

    def window_arrays(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """All windows of a split as NumPy: inputs `[windows, input_steps,
        num_inputs]`, targets `[windows, horizon, num_targets]`, in dataset order."""
        inputs, targets = [], []
        for batch_inputs, batch_targets in self.dataset(split, batch_size=4096):
            inputs.append(batch_inputs.numpy())
            targets.append(batch_targets.numpy())
        return np.concatenate(inputs), np.concatenate(targets)

    def window_origins(self, split: str) -> np.ndarray:
        """Each window's origin (its last input step) within its series' split,
        in the order of `window_arrays`."""
        origins = [
            np.arange(
                count_windows(
                    len(series.seconds), self.input_steps, self.horizon, self.stride
                )
            )
            * self.stride
            + self.input_steps
            - 1
            for series in self.splits[split]
        ]
        return np.concatenate(origins)

    def denormalize_targets(self, values: np.ndarray) -> np.ndarray:
        """Normalized targets `[..., num_targets]` -> original units."""
        count = self.num_targets
        return values * self.std[:count] + self.mean[:count]


def count_windows(steps: int, input_steps: int, horizon: int, stride: int) -> int:
    """How many windows of `input_steps + horizon` fit in `steps` rows."""
    if steps < input_steps + horizon:
        return 0
    return (steps - input_steps - horizon) // stride + 1


def windows_dataset(
    inputs: np.ndarray,
    targets: np.ndarray,
    input_steps: int,
    horizon: int,
    stride: int,
) -> tf.data.Dataset:
    """Unbatched windows of one series.

    Window `i` has inputs `inputs[i * stride : i * stride + input_steps]` and
    targets the `horizon` rows of `targets` right after them.
    """
    count = count_windows(len(inputs), input_steps, horizon, stride)
    inputs = tf.constant(inputs)
    targets = tf.constant(targets)

    def window(index):
        start = index * stride
        return (
            inputs[start : start + input_steps],  # [input_steps, num_inputs]
            targets[start + input_steps : start + input_steps + horizon],
        )

    return tf.data.Dataset.range(count).map(
        window, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )


def time_features(seconds: np.ndarray, periods=("day", "year")) -> np.ndarray:
    """sin, cos of the phase in each cycle (time of day, of year): `[steps,
    2 * len(periods)]`.

    Phases come from the exact integer remainder, so float32 versions agree.
    """
    seconds = np.asarray(seconds, dtype=np.int64)
    columns = [np.zeros((0, len(seconds)))]
    for period in periods:
        length = TIME_PERIODS[period]
        phase = 2 * np.pi * (seconds % length) / length
        columns.append(np.stack([np.sin(phase), np.cos(phase)]))
    return np.concatenate(columns).T  # [steps, 2 * len(periods)]


# Reading -------------------------------------------------------------------------


def read_source(source: str) -> tuple[pd.DataFrame, str]:
    """Reads `builtin`, `csv:PATH` or `jena` into a DataFrame; returns it and a
    name for messages."""
    if source == "builtin":
        from lstm_keras_datasets import nycflights13_weather

        path = nycflights13_weather.path()
    elif source == "jena":
        from lstm_keras_datasets import jena_climate

        try:
            path = jena_climate.fetch()
        except ConnectionError as error:
            raise ValueError(str(error)) from None
    elif source.startswith("csv:"):
        path = source[len("csv:") :]
        if not path:
            raise ValueError("data.source=csv:PATH needs a path, e.g. csv:weather.csv")
    else:
        raise ValueError(
            f"unknown data.source {source!r}; use builtin, jena or csv:PATH"
        )
    return read_csv(path), os.path.basename(path)


def read_csv(path: str) -> pd.DataFrame:
    """Reads a (possibly gzip-compressed) CSV; every cell read as text first is
    avoided: pandas infers numbers, and columns with stray text stay objects."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such CSV file: {path}")
    try:
        if path.endswith(".gz"):
            with gzip.open(path, "rt", encoding="utf-8") as file:
                return pd.read_csv(file, low_memory=False)
        return pd.read_csv(path, low_memory=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e)
        raise ValueError(f"{path} is not a readable CSV file: {first_line}") from None


# Cleaning -------------------------------------------------------------------------


def _line(index) -> int:
    """The CSV line of the row labelled `index` by `read_csv` (line 1: header)."""
    return int(index) + 2


def _check_columns(frame: pd.DataFrame, config, name: str) -> tuple[str, ...]:
    """Checks the named columns exist; returns the input columns, targets first."""
    wanted = [config.time_column, *config.targets, *(config.features or ())]
    if config.group_column is not None:
        wanted.append(config.group_column)
    available = list(frame.columns)
    for column in wanted:
        if column not in frame.columns:
            raise ValueError(
                f"{name} has no column {column!r}; its columns are {available}"
            )
    if config.features is not None:
        features = [c for c in config.features if c not in config.targets]
    else:
        skip = {config.time_column, config.group_column, *config.exclude}
        features = [
            column
            for column in frame.columns
            if column not in skip
            and column not in config.targets
            and pd.api.types.is_numeric_dtype(frame[column])
            and not pd.api.types.is_bool_dtype(frame[column])
        ]
    return (*config.targets, *features)


def _to_numeric(frame: pd.DataFrame, columns, name: str) -> pd.DataFrame:
    """Numeric copies of `columns`; text that is not a number is an error."""
    numeric = {}
    for column in columns:
        values = frame[column]
        if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(
            values
        ):
            converted = pd.to_numeric(values, errors="coerce")
            bad = converted.isna() & values.notna()
            if bad.any():
                index = bad[bad].index[0]
                raise ValueError(
                    f"column {column!r} of {name} has text that is not a number: "
                    f"{values[index]!r} (line {_line(index)})"
                )
            values = converted
        numeric[column] = values.astype(np.float64)
    return pd.DataFrame(numeric, index=frame.index)


def _parse_times(frame: pd.DataFrame, config, name: str) -> pd.Series:
    """Timestamps as UTC `datetime64`; unparseable ones are an error."""
    raw = frame[config.time_column]
    if raw.isna().any():
        index = raw[raw.isna()].index[0]
        raise ValueError(
            f"time column {config.time_column!r} of {name} is empty on line "
            f"{_line(index)}"
        )
    try:
        times = pd.to_datetime(
            raw.astype(str), format=config.time_format, utc=True, errors="coerce"
        )
    except (ValueError, TypeError) as error:
        raise ValueError(
            f"time column {config.time_column!r} of {name} cannot be parsed: {error}"
        ) from None
    if times.isna().any():
        index = times[times.isna()].index[0]
        raise ValueError(
            f"time column {config.time_column!r} of {name} has a value that is not a "
            f"timestamp: {raw[index]!r} (line {_line(index)})"
        )
    return times


def _frequency_seconds(frequency: str) -> int:
    try:
        seconds = pd.Timedelta(
            pd.tseries.frequencies.to_offset(frequency)
        ).total_seconds()
    except (ValueError, TypeError):
        raise ValueError(
            f"data.frequency {frequency!r} is not a fixed time step such as 1h or 10min"
        ) from None
    if seconds <= 0 or seconds != int(seconds):
        raise ValueError(
            f"data.frequency must be a whole number of seconds. Received: {frequency}"
        )
    return int(seconds)


def _regularize(
    frame: pd.DataFrame,
    seconds: np.ndarray,
    step: int,
    config,
    series_name: str,
    report: dict[str, Any],
) -> tuple[np.ndarray, np.ndarray]:
    """Checks one series' timestamps and puts its rows on a regular grid.

    Returns the grid's timestamps `[steps]` and values `[steps, features]` with
    NaN where a timestamp was missing.
    """
    where = f"series {series_name!r}" if config.group_column else "the series"
    values = frame.to_numpy(dtype=np.float64)
    duplicated = np.concatenate([[False], seconds[1:] == seconds[:-1]])
    order_broken = np.concatenate([[False], seconds[1:] < seconds[:-1]])
    if order_broken.any():
        position = int(np.argmax(order_broken))
        raise ValueError(
            f"timestamps of {where} are not in increasing order: "
            f"{pd.Timestamp(seconds[position], unit='s')} comes after "
            f"{pd.Timestamp(seconds[position - 1], unit='s')} "
            f"(line {_line(frame.index[position])}); sort the file by time"
        )
    if duplicated.any():
        if not config.drop_duplicate_timestamps:
            position = int(np.argmax(duplicated))
            raise ValueError(
                f"duplicate timestamp {pd.Timestamp(seconds[position], unit='s')} in "
                f"{where} (line {_line(frame.index[position])}); remove it or "
                "set data.drop_duplicate_timestamps=true"
            )
        report["duplicate_timestamps"][series_name] = int(duplicated.sum())
        seconds, values = seconds[~duplicated], values[~duplicated]
    anchor = 0 if config.downsample else seconds[0]
    off_grid = (seconds - anchor) % step != 0
    if off_grid.any():
        if not config.downsample:
            position = int(np.argmax(off_grid))
            raise ValueError(
                f"timestamp {pd.Timestamp(seconds[position], unit='s')} of {where} is "
                f"not on the {config.frequency} grid starting at "
                f"{pd.Timestamp(seconds[0], unit='s')}; set data.frequency, or "
                "data.downsample=true to keep only rows on the grid"
            )
        report["downsampled_rows"][series_name] = int(off_grid.sum())
        seconds, values = seconds[~off_grid], values[~off_grid]
    if len(seconds) == 0:
        raise ValueError(f"{where} has no rows on the {config.frequency} grid")
    grid = np.arange(seconds[0], seconds[-1] + 1, step, dtype=np.int64)
    regular = np.full((len(grid), values.shape[1]), np.nan)
    regular[(seconds - seconds[0]) // step] = values
    report["missing_timestamps"][series_name] = int(len(grid) - len(seconds))
    return grid, regular


def _check_frequency(series, seconds, step, config, name, report) -> None:
    """Rejects a file whose rows are mostly further apart than `data.frequency`
    (a daily CSV read as hourly would otherwise be 96% interpolation)."""
    total = sum(len(grid) for _, grid, _ in series)
    missing = sum(report["missing_timestamps"].values())
    if total < 3 or missing <= total / 2:
        return
    gaps = np.diff(np.unique(seconds))
    common = int(pd.Series(gaps[gaps > 0]).mode().iloc[0]) if len(gaps) else step
    suggestion = pd.tseries.frequencies.to_offset(pd.Timedelta(seconds=common))
    raise ValueError(
        f"{name}: {missing} of {total} steps on the {config.frequency} grid are "
        f"missing; its rows are mostly {pd.Timedelta(seconds=common)} apart: set "
        f"data.frequency={suggestion.freqstr} (and data.input_steps, data.horizon "
        "in those steps)"
    )


def _fill(values: np.ndarray, fallback: np.ndarray | None) -> np.ndarray:
    """Linear interpolation over missing steps, nearest value at the ends;
    columns with no value at all take `fallback` (the training mean)."""
    filled = pd.DataFrame(values).interpolate(
        method="linear", limit_direction="both", axis=0
    )
    result = filled.to_numpy(dtype=np.float64, copy=True)
    if fallback is not None:
        empty = np.isnan(result).all(axis=0)
        result[:, empty] = fallback[empty]
    return result


def _split_sizes(steps: int, fractions: tuple[float, ...]) -> tuple[int, int, int]:
    train = int(steps * fractions[0])
    validation = int(steps * fractions[1])
    if abs(sum(fractions) - 1) < 1e-9:
        test = steps - train - validation
    else:
        test = int(steps * fractions[2])
    return train, validation, test


def load(config) -> TimeSeriesInfo:
    """Reads, checks, cleans, splits and normalizes the data of `config.data`.

    Raises:
        ValueError: bad input, with a one-line message naming the problem.
        FileNotFoundError: a missing CSV file.
    """
    from .config import with_source_defaults

    data_config = config.data if hasattr(config, "data") else config
    frame, name = read_source(data_config.source)
    return prepare(frame, with_source_defaults(data_config), name)


def _looks_like_times(values: pd.Series, time_format: str | None) -> bool:
    sample = values.dropna().astype(str).head(50)
    if sample.empty or pd.api.types.is_numeric_dtype(values):
        return False
    with warnings.catch_warnings():
        # pandas warns when it cannot infer one format: such a column is
        # parsed element by element, which is what is wanted here.
        warnings.simplefilter("ignore", UserWarning)
        parsed = pd.to_datetime(sample, format=time_format, utc=True, errors="coerce")
    return bool(parsed.notna().all())


def resolve_columns(frame: pd.DataFrame, config, name: str = "the data"):
    """Fills in an unset time column (the one column of timestamps) and unset
    targets (the only numeric column); a one-line error when that is ambiguous."""
    import dataclasses

    columns = list(frame.columns)
    updates = {}
    if config.time_column is None:
        found = [c for c in columns if _looks_like_times(frame[c], config.time_format)]
        if len(found) != 1:
            problem = (
                f"several columns look like timestamps ({found})"
                if found
                else "no column looks like timestamps"
            )
            raise ValueError(
                f"{name}: {problem}; set data.time_column (its columns are {columns})"
            )
        updates["time_column"] = found[0]
    if config.targets is None:
        skip = {updates.get("time_column", config.time_column), config.group_column}
        numeric = [
            c
            for c in columns
            if c not in skip
            and c not in config.exclude
            and pd.api.types.is_numeric_dtype(frame[c])
            and not pd.api.types.is_bool_dtype(frame[c])
        ]
        if len(numeric) != 1:
            raise ValueError(
                f"{name}: set data.targets to the column(s) to forecast, e.g. "
                f"--set 'data.targets=[{numeric[0] if numeric else 'value'}]'; its "
                f"numeric columns are {numeric}"
            )
        updates["targets"] = (numeric[0],)
    return dataclasses.replace(config, **updates) if updates else config


def clean(
    frame: pd.DataFrame, config, name: str = "the data", minimum_rows: int = 2
) -> tuple[tuple[str, ...], list[tuple[str, np.ndarray, np.ndarray]], dict]:
    """Checks a DataFrame and puts each series on a regular grid.

    Returns the input columns (targets first), per series `(name, timestamps
    [steps] int64 seconds, values [steps, columns] with NaN where missing)`,
    and the cleaning report (counts).
    """
    step = _frequency_seconds(config.frequency)
    if len(frame) < minimum_rows:
        raise ValueError(
            f"{name} has {len(frame)} row(s); a series needs at least "
            f"{minimum_rows} rows here (input_steps + horizon = "
            f"{config.input_steps + config.horizon} in each of train, validation "
            "and test when training)"
        )
    columns = _check_columns(frame, config, name)
    numeric = _to_numeric(frame, columns, name)
    times = _parse_times(frame, config, name)
    # Resolution-independent (pandas may hold seconds, micro- or nanoseconds).
    epoch = pd.Timestamp(0, tz="UTC")
    seconds_all = ((times - epoch) // pd.Timedelta(seconds=1)).to_numpy(np.int64)
    report: dict[str, Any] = {
        "missing_timestamps": {},
        "duplicate_timestamps": {},
        "downsampled_rows": {},
        "sentinel_values": {},
        "nan_values": {},
        "filled_values": {},
        "dropped_features": {},
    }
    sentinels = numeric.isin(config.sentinels)
    report["sentinel_values"] = {c: int(n) for c, n in sentinels.sum().items() if n}
    report["nan_values"] = {c: int(n) for c, n in numeric.isna().sum().items() if n}
    numeric = numeric.mask(sentinels)
    for column in columns:
        listed = column in config.targets or column in (config.features or ())
        if listed and numeric[column].isna().all():
            kind = "target" if column in config.targets else "feature"
            raise ValueError(f"{kind} column {column!r} of {name} has no values")
    if config.features is None:
        fractions = numeric.isna().mean()
        dropped = [
            column
            for column in columns[len(config.targets) :]
            if fractions[column] > config.max_missing_fraction
        ]
        report["dropped_features"] = {c: round(float(fractions[c]), 4) for c in dropped}
        columns = tuple(c for c in columns if c not in dropped)
        numeric = numeric[list(columns)]
    if config.group_column is None:
        groups = [("series", frame.index)]
    else:
        grouped = frame.groupby(config.group_column, sort=True).groups
        groups = [(str(group), index) for group, index in grouped.items()]
    series = []
    for series_name, index in groups:
        grid, values = _regularize(
            numeric.loc[index],
            seconds_all[frame.index.get_indexer(index)],
            step,
            config,
            series_name,
            report,
        )
        where = f"series {series_name!r}" if config.group_column else "the series"
        for position, column in enumerate(columns):
            if np.isnan(values[:, position]).all():
                kind = "target" if column in config.targets else "feature"
                raise ValueError(f"{kind} column {column!r} has no values in {where}")
        series.append((series_name, grid, values))
    _check_frequency(series, seconds_all, step, config, name, report)
    report["filled_values"] = {
        column: int(sum(np.isnan(values[:, i]).sum() for _, _, values in series))
        for i, column in enumerate(columns)
    }
    report["filled_values"] = {c: n for c, n in report["filled_values"].items() if n}
    return tuple(columns), series, report


def fill_missing(values: np.ndarray, fallback: np.ndarray | None = None) -> np.ndarray:
    """Linear interpolation over missing steps, nearest value at the ends;
    columns with no value at all take `fallback` (the training mean)."""
    return _fill(values, fallback)


def prepare(frame: pd.DataFrame, config, name: str = "the data") -> TimeSeriesInfo:
    """Cleans an already-read DataFrame; see `load`."""
    config = resolve_columns(frame, config, name)
    columns, cleaned, report = clean(frame, config, name)
    needed = config.input_steps + config.horizon
    pieces: dict[str, list[tuple[str, np.ndarray, np.ndarray]]] = {
        s: [] for s in SPLITS
    }
    for series_name, grid, values in cleaned:
        where = f"series {series_name!r}" if config.group_column else "the series"
        start = 0
        for split, size in zip(
            SPLITS, _split_sizes(len(grid), config.split), strict=True
        ):
            if size < needed:
                raise ValueError(
                    f"{where} has {len(grid)} steps, so its {split} split has {size}, "
                    f"fewer than one window (input_steps + horizon = {needed}); use a "
                    "longer series or smaller data.input_steps / data.horizon"
                )
            rows = slice(start, start + size)
            for position, column in enumerate(columns[: len(config.targets)]):
                if np.isnan(values[rows, position]).all():
                    raise ValueError(
                        f"target column {column!r} has no values in the {split} "
                        f"split of {where}"
                    )
            pieces[split].append((series_name, grid[rows], values[rows]))
            start += size
    # Interpolate inside each split: no split's values leak into another.
    train_filled = np.concatenate([_fill(v, None) for _, _, v in pieces["train"]])
    mean = np.nanmean(train_filled, axis=0)
    if np.isnan(mean).any():
        column = columns[int(np.argmax(np.isnan(mean)))]
        raise ValueError(f"column {column!r} has no values in any training split")
    std = np.nanstd(train_filled, axis=0)
    std = np.where(std > 0, std, 1.0)  # a constant column stays constant (zero)
    splits = {
        split: [
            Series(series_name, seconds, _fill(values, mean))
            for series_name, seconds, values in pieces[split]
        ]
        for split in SPLITS
    }
    return TimeSeriesInfo(
        feature_names=columns,
        target_names=tuple(config.targets),
        mean=mean,
        std=std,
        frequency_seconds=_frequency_seconds(config.frequency),
        input_steps=config.input_steps,
        horizon=config.horizon,
        stride=config.stride,
        splits=splits,
        report=report,
        source=name,
        time_periods=tuple(config.time_features),
        config=config,
    )


def summary(data: TimeSeriesInfo) -> dict[str, Any]:
    """A JSON-able description of the prepared data."""
    return {
        "source": data.source,
        "series": [series.name for series in data.splits["train"]],
        "targets": list(data.target_names),
        "features": list(data.feature_names),
        "time_features": list(data.time_feature_names),
        "frequency_seconds": data.frequency_seconds,
        "input_steps": data.input_steps,
        "horizon": data.horizon,
        "steps": {
            split: sum(len(s.seconds) for s in data.splits[split]) for split in SPLITS
        },
        "windows": {split: data.num_windows(split) for split in SPLITS},
        "train_mean": dict(zip(data.feature_names, map(float, data.mean), strict=True)),
        "train_std": dict(zip(data.feature_names, map(float, data.std), strict=True)),
        "cleaning": data.report,
    }
