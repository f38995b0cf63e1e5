"""Forecasters: the baselines every result is compared with, and the LSTMs.

All work on normalized windows: inputs `[batch, input_steps, num_inputs]`
whose first `num_targets` features are the targets and whose last four are the
time features (sin, cos per cycle in `time_periods`); forecasts `[batch, horizon,
num_targets]`.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from lstm_keras import LSTM
from lstm_keras.runner import optimizer_options

from .data import TIME_PERIODS

# Baselines (NumPy) ------------------------------------------------------------------


def last_value_forecast(
    inputs: np.ndarray, num_targets: int, horizon: int
) -> np.ndarray:
    """Persistence: every future step equals the last observed value."""
    last = inputs[:, -1:, :num_targets]  # [batch, 1, num_targets]
    return np.repeat(last, horizon, axis=1)


def repeat_last_day_forecast(
    inputs: np.ndarray, num_targets: int, horizon: int, steps_per_day: int
) -> np.ndarray:
    """Seasonal persistence: step k repeats the value one day before it (or,
    past one day ahead, the same hour of the last observed day)."""
    input_steps = inputs.shape[1]
    if steps_per_day > input_steps:
        raise ValueError(
            f"repeat_last_day needs input_steps >= one day ({steps_per_day} steps); "
            f"got {input_steps}"
        )
    positions = input_steps - steps_per_day + np.arange(horizon) % steps_per_day
    return inputs[:, positions, :num_targets]


class LinearForecaster:
    """Least-squares linear map from the whole flattened window to the horizon.

    Closed-form ridge regression on the training windows: deterministic, and a
    stronger baseline than the tutorial's linear model, which sees only the
    last step.
    """

    def __init__(self, l2: float = 1e-3):
        self.l2 = l2
        self.weights = None

    def _design(self, inputs: np.ndarray) -> np.ndarray:
        flat = inputs.reshape(len(inputs), -1).astype(np.float64)
        return np.concatenate([flat, np.ones((len(flat), 1))], axis=1)

    def fit(self, inputs: np.ndarray, targets: np.ndarray) -> LinearForecaster:
        design = self._design(inputs)
        self.output_shape = targets.shape[1:]
        outputs = targets.reshape(len(targets), -1).astype(np.float64)
        gram = design.T @ design + self.l2 * len(design) * np.eye(design.shape[1])
        self.weights = np.linalg.solve(gram, design.T @ outputs)
        return self

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        if self.weights is None:
            raise ValueError("LinearForecaster.predict called before fit")
        flat = self._design(inputs) @ self.weights
        return flat.reshape((len(inputs), *self.output_shape)).astype(np.float32)


# LSTM models (Keras) ----------------------------------------------------------------


# Floor of a window's standard deviation under instance normalization
# (training-split units): a calm window is not blown up.
INSTANCE_MIN_STD = 0.1


def _last_targets(inputs, num_targets):
    return inputs[:, -1:, :num_targets]  # [batch, 1, num_targets]


@keras.saving.register_keras_serializable(package="lstm_keras_timeseries")
class PinballLoss(keras.losses.Loss):
    """Quantile (pinball) loss averaged over quantiles, steps and targets.

    `y_true` is `[batch, horizon, targets]`, `y_pred` `[batch, horizon,
    targets, quantiles]`; for level q and error e = y - prediction the loss is
    max(q e, (q - 1) e).
    """

    def __init__(self, quantiles, name="pinball", **kwargs):
        super().__init__(name=name, **kwargs)
        self.quantiles = [float(q) for q in quantiles]

    def call(self, y_true, y_pred):
        levels = ops.convert_to_tensor(self.quantiles, dtype=y_pred.dtype)
        error = ops.expand_dims(ops.cast(y_true, y_pred.dtype), -1) - y_pred
        loss = ops.maximum(levels * error, (levels - 1) * error)
        return ops.mean(loss, axis=(-3, -2, -1))  # [batch]

    def get_config(self):
        return {**super().get_config(), "quantiles": self.quantiles}


def point_forecast(outputs: np.ndarray, quantiles) -> np.ndarray:
    """The median of a quantile forecast (or the forecast itself)."""
    if not quantiles:
        return outputs
    return outputs[..., list(quantiles).index(0.5)]


def build_single_shot(
    input_steps: int,
    num_inputs: int,
    num_targets: int,
    horizon: int,
    units: int = 64,
    layers: int = 1,
    dropout: float = 0.0,
    residual: bool = True,
    quantiles=(),
    instance_norm: bool = False,
    num_time_features: int = 0,
    linear_base: LinearForecaster | None = None,
) -> keras.Model:
    """LSTM encoder over the window, one dense head emitting the whole horizon.

    With `linear_base` (a fitted `LinearForecaster`), the residual head
    predicts the change from that linear forecast instead of from the last
    value: its weights sit in the graph, frozen, and training starts from it.

    With `residual`, the head predicts the change from the last observed
    target value and starts at zero, so training starts from persistence.
    With `quantiles`, the output is `[batch, horizon, num_targets,
    len(quantiles)]`, one forecast per quantile level. With `instance_norm`,
    each window's features (all but the last `num_time_features`) are
    standardized by the window's own mean and standard deviation, and the
    forecast is scaled back with the targets' (RevIN without its affine
    weights).
    """
    outputs_per_target = max(len(quantiles), 1)
    inputs = keras.Input((input_steps, num_inputs), name="window")
    window = inputs
    if instance_norm:
        raw = num_inputs - num_time_features
        center = ops.mean(inputs[..., :raw], axis=1, keepdims=True)  # [batch, 1, raw]
        spread = ops.maximum(
            ops.std(inputs[..., :raw], axis=1, keepdims=True), INSTANCE_MIN_STD
        )
        window = ops.concatenate(
            [(inputs[..., :raw] - center) / spread, inputs[..., raw:]], axis=-1
        )
    hidden = window
    for index in range(layers):
        hidden = LSTM(
            units,
            return_sequences=index < layers - 1,
            dropout=dropout,
            name=f"lstm_{index}",
        )(hidden)
    flat = keras.layers.Dense(
        horizon * num_targets * outputs_per_target,
        kernel_initializer="zeros" if residual else "glorot_uniform",
        name="head",
    )(hidden)
    # [batch, horizon, num_targets, outputs_per_target]
    forecast = keras.layers.Reshape((horizon, num_targets, outputs_per_target))(flat)
    on_linear = residual and linear_base is not None
    if on_linear:
        base = keras.layers.Dense(
            horizon * num_targets, trainable=False, name="linear_base"
        )
        # The linear base was fitted on the windows as they come (training
        # statistics), not on the instance-normalized ones.
        base_flat = base(keras.layers.Flatten()(inputs))
        weights = linear_base.weights.astype("float32")
        base.set_weights([weights[:-1], weights[-1]])
        base_forecast = keras.layers.Reshape((horizon, num_targets, 1))(base_flat)
        if instance_norm:
            # The head's correction is in units of the window's own spread.
            forecast = forecast * ops.expand_dims(spread[..., :num_targets], -1)
        forecast = forecast + base_forecast
    elif residual:
        forecast = forecast + ops.expand_dims(_last_targets(window, num_targets), -1)
    if instance_norm and not on_linear:
        forecast = forecast * ops.expand_dims(
            spread[..., :num_targets], -1
        ) + ops.expand_dims(center[..., :num_targets], -1)
    if not quantiles:
        forecast = forecast[..., 0]  # [batch, horizon, num_targets]
    return keras.Model(inputs, forecast, name="lstm_single_shot")


@keras.saving.register_keras_serializable(package="lstm_keras_timeseries")
class AutoregressiveForecaster(keras.Model):
    """Forecasts one step at a time, feeding each prediction back in.

    An encoder LSTM reads the window; its final state warm-starts a decoder
    LSTM that, at each future step, reads the previous prediction and that
    step's time features (known in advance: the time of day and year advance
    by a fixed angle per step, applied as a rotation).

    Args:
        input_steps: steps per input window.
        num_inputs: features per input step (time features last).
        num_targets: features forecast (first in the inputs).
        horizon: steps forecast.
        step_seconds: seconds between steps (to advance the time features).
        time_periods: cycles of the time features, last in the inputs
            (`day`, `year`).
        units: LSTM units.
        layers: stacked encoder LSTM layers.
        dropout: dropout on the encoder inputs.
        residual: predict changes from the previous value.
    """

    def __init__(
        self,
        input_steps,
        num_inputs,
        num_targets,
        horizon,
        step_seconds,
        time_periods=("day", "year"),
        units=64,
        layers=1,
        dropout=0.0,
        residual=True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.input_steps = input_steps
        self.num_inputs = num_inputs
        self.num_targets = num_targets
        self.horizon = horizon
        self.step_seconds = step_seconds
        self.time_periods = tuple(time_periods)
        self.units = units
        self.layers_count = layers
        self.dropout = dropout
        self.residual = residual
        self.encoders = [
            LSTM(
                units,
                return_sequences=index < layers - 1,
                return_state=index == layers - 1,
                dropout=dropout,
                name=f"encoder_{index}",
            )
            for index in range(layers)
        ]
        self.decoder = LSTM(units, return_state=True, name="decoder")
        self.head = keras.layers.Dense(
            num_targets,
            kernel_initializer="zeros" if residual else "glorot_uniform",
            name="head",
        )
        # Per cycle, (cos, sin) of the angle one step advances it.
        angles = [2 * math.pi * step_seconds / TIME_PERIODS[p] for p in time_periods]
        self._rotation = [(math.cos(angle), math.sin(angle)) for angle in angles]

    def _advance_time(self, time_features):
        """Time features of the next step: [batch, 2 * cycles] -> same."""
        advanced = [time_features[:, :0]]
        for pair, (cos_step, sin_step) in enumerate(self._rotation):
            sin = time_features[:, 2 * pair : 2 * pair + 1]
            cos = time_features[:, 2 * pair + 1 : 2 * pair + 2]
            advanced += [
                sin * cos_step + cos * sin_step,
                cos * cos_step - sin * sin_step,
            ]
        return ops.concatenate(advanced, axis=-1)

    def call(self, inputs, training=False):
        hidden = inputs
        for encoder in self.encoders[:-1]:
            hidden = encoder(hidden, training=training)
        output, state_h, state_c = self.encoders[-1](hidden, training=training)
        previous = inputs[:, -1, : self.num_targets]  # [batch, num_targets]
        time_features = inputs[:, -1, self.num_inputs - 2 * len(self.time_periods) :]
        predictions = []
        for step in range(self.horizon):
            if step > 0:
                time_features = self._advance_time(time_features)
                step_input = ops.concatenate([previous, time_features], axis=-1)
                output, state_h, state_c = self.decoder(
                    step_input[:, None, :],  # [batch, 1, num_targets + 4]
                    initial_state=[state_h, state_c],
                    training=training,
                )
            change = self.head(output)
            current = previous + change if self.residual else change
            predictions.append(current)
            previous = current
        return ops.stack(predictions, axis=1)  # [batch, horizon, num_targets]

    def get_config(self):
        config = super().get_config()
        config.update(
            input_steps=self.input_steps,
            num_inputs=self.num_inputs,
            num_targets=self.num_targets,
            horizon=self.horizon,
            step_seconds=self.step_seconds,
            time_periods=list(self.time_periods),
            units=self.units,
            layers=self.layers_count,
            dropout=self.dropout,
            residual=self.residual,
        )
        return config


def build_autoregressive(
    input_steps: int,
    num_inputs: int,
    num_targets: int,
    horizon: int,
    step_seconds: int,
    time_periods=("day", "year"),
    units: int = 64,
    layers: int = 1,
    dropout: float = 0.0,
    residual: bool = True,
) -> keras.Model:
    """An `AutoregressiveForecaster`, built on a window shape."""
    model = AutoregressiveForecaster(
        input_steps,
        num_inputs,
        num_targets,
        horizon,
        step_seconds,
        time_periods=time_periods,
        units=units,
        layers=layers,
        dropout=dropout,
        residual=residual,
        name="lstm_autoregressive",
    )
    model(np.zeros((1, input_steps, num_inputs), np.float32))
    return model


@keras.saving.register_keras_serializable(package="lstm_keras_timeseries")
class SeedEnsemble(keras.Model):
    """Members of the same architecture from different initial weights,
    trained side by side on the same batches, each on its own loss; the
    forecast is their mean.

    Training sees `[members, batch, ...]` (so that `compute_loss` scores
    every member against the truth); inference returns the mean.
    """

    def __init__(self, members, **kwargs):
        super().__init__(**kwargs)
        self.members = list(members)

    def call(self, inputs, training=False):
        outputs = ops.stack(
            [member(inputs, training=training) for member in self.members]
        )
        return outputs if training else ops.mean(outputs, axis=0)

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        if training:
            losses = [
                super(SeedEnsemble, self).compute_loss(
                    x, y, y_pred[index], sample_weight, training
                )
                for index in range(len(self.members))
            ]
            return ops.mean(ops.stack(losses))
        return super().compute_loss(x, y, y_pred, sample_weight, training)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        if len(ops.shape(y_pred)) == len(ops.shape(y)) + 1:
            y_pred = ops.mean(y_pred, axis=0)
        return super().compute_metrics(x, y, y_pred, sample_weight)


def build_model(config, info, linear_base=None) -> keras.Model:
    """The compiled forecaster named by `config.model` for `info` (`TimeSeriesInfo`).

    `linear_base`: a fitted `LinearForecaster` for a linear residual base;
    one fitted on the training split's windows unless given.
    """
    settings = dict(
        input_steps=info.input_steps,
        num_inputs=info.num_inputs,
        num_targets=info.num_targets,
        horizon=info.horizon,
        units=config.model.units,
        layers=config.model.layers,
        dropout=config.model.dropout,
        residual=config.model.residual,
    )
    if config.model.kind == "single_shot":
        if config.model.residual_base != "linear":
            linear_base = None
        elif linear_base is None:
            linear_base = LinearForecaster().fit(*info.window_arrays("train"))
        members = [
            build_single_shot(
                linear_base=linear_base,
                quantiles=config.model.quantiles,
                instance_norm=config.model.instance_norm,
                num_time_features=2 * len(info.time_periods),
                **settings,
            )
            for _ in range(config.model.members)
        ]
        if len(members) == 1:
            model = members[0]
        else:
            model = SeedEnsemble(members, name="lstm_single_shot")
            model(np.zeros((1, info.input_steps, info.num_inputs), np.float32))
    else:
        model = build_autoregressive(
            step_seconds=info.frequency_seconds,
            time_periods=info.time_periods,
            **settings,
        )
    model.compile(
        optimizer=keras.optimizers.Adam(
            config.train.learning_rate, **optimizer_options(config.train)
        ),
        loss=PinballLoss(config.model.quantiles)
        if config.model.quantiles
        else config.model.loss,
        metrics=[] if config.model.quantiles else ["mae"],
    )
    return model
