"""A small but complete app that drives the shared CLI machinery in tests.

Task: from a window of two raw sensor readings (a temperature-like signal
around 20 and a pressure-like one around 1000, unnormalized), predict the
mean of the first signal over the window's last three steps. Baseline: the
last value. The model normalizes inside itself (a `Normalization` layer
adapted on the training split) and rescales its output, so the serving
signature takes raw values, like the real apps'.

Named on the command line as `toy_app:APP` (with this folder on PYTHONPATH).
"""

from __future__ import annotations

import dataclasses
import os

import keras
import matplotlib
import numpy as np
import tensorflow as tf

from lstm_keras import LSTM
from lstm_keras.runner import (
    App,
    AppData,
    ServingModule,
    TrainConfig,
    optimizer_options,
)

matplotlib.use("Agg")

FEATURES = 2


@dataclasses.dataclass(frozen=True)
class ToyDataConfig:
    source: str = "builtin"
    examples: int = 256
    steps: int = 8
    noise: float = 0.1
    # Off for comparisons across strategies: a distributed iterator visits a
    # seeded, reshuffled dataset in another order than a plain one.
    shuffle: bool = True


@dataclasses.dataclass(frozen=True)
class ToyModelConfig:
    units: int = 8
    dropout: float = 0.0
    # A classic serving bug, for the verification test: dropout left on.
    serve_with_dropout: bool = False


@dataclasses.dataclass(frozen=True)
class ToyConfig:
    data: ToyDataConfig = ToyDataConfig()
    model: ToyModelConfig = ToyModelConfig()
    train: TrainConfig = TrainConfig()


def _windows(config: ToyConfig, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    count, steps = config.data.examples, config.data.steps
    phase = rng.uniform(0, 2 * np.pi, size=(count, 1))
    time = np.arange(steps)[None, :]
    temperature = 20 + 8 * np.sin(phase + 0.4 * time)
    temperature += config.data.noise * rng.standard_normal((count, steps))
    pressure = 1000 + 5 * rng.standard_normal((count, steps))
    windows = np.stack([temperature, pressure], axis=-1).astype(np.float32)
    targets = windows[:, -3:, 0].mean(axis=1, keepdims=True)
    return windows, targets


def _read_csv_window(path: str, steps: int) -> np.ndarray:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such CSV file: {path}")
    try:
        values = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2, dtype=np.float32)
    except ValueError as error:
        raise ValueError(f"{path}: not a numeric CSV ({error})") from None
    if values.shape[1] != FEATURES or len(values) < steps:
        raise ValueError(
            f"{path}: need at least {steps} rows of {FEATURES} columns; "
            f"got shape {values.shape}"
        )
    return values[-steps:]


class ToyApp(App):
    name = "toy"
    config_class = ToyConfig
    input_suffixes = (".csv",)
    presets = {
        "tiny": ToyConfig(
            train=TrainConfig(epochs=3, batch_size=16, learning_rate=0.01)
        ),
        "default": ToyConfig(
            data=ToyDataConfig(examples=1024),
            train=TrainConfig(epochs=20, batch_size=32, learning_rate=0.01),
        ),
    }
    headline_model = "lstm"
    baseline_model = "last_value"
    headline_metric = "mae"

    def load_data(self, config, work_dir=None):
        source = config.data.source
        if source != "builtin":
            raise ValueError(f"unknown data.source {source!r} (toy has: builtin)")
        windows, targets = _windows(config, seed=1234)
        train_end = config.data.examples * 3 // 4
        validation_end = train_end + config.data.examples // 8
        batch = config.train.batch_size
        train = tf.data.Dataset.from_tensor_slices(
            (windows[:train_end], targets[:train_end])
        )
        if config.data.shuffle:
            train = train.shuffle(train_end, seed=config.train.seed)
        train = train.batch(batch)
        validation = tf.data.Dataset.from_tensor_slices(
            (windows[train_end:validation_end], targets[train_end:validation_end])
        ).batch(batch)
        test = (windows[validation_end:], targets[validation_end:])
        return AppData(
            train=train,
            validation=validation,
            test=test,
            info={
                "train_windows": windows[:train_end],
                "target_mean": float(targets[:train_end].mean()),
                "target_std": float(targets[:train_end].std()),
            },
        )

    def describe_data(self, data):
        return {
            "train_windows": int(len(data.info["train_windows"])),
            "test_windows": int(len(data.test[0])),
            "target_mean": data.info["target_mean"],
        }

    def build_model(self, config, data):
        normalization = keras.layers.Normalization(axis=-1)
        normalization.adapt(data.info["train_windows"])
        inputs = keras.Input((config.data.steps, FEATURES), name="window")
        hidden = LSTM(config.model.units)(normalization(inputs))
        hidden = keras.layers.Dropout(config.model.dropout)(hidden)
        normalized = keras.layers.Dense(1, dtype="float32")(hidden)
        outputs = keras.layers.Rescaling(
            scale=data.info["target_std"], offset=data.info["target_mean"]
        )(normalized)
        model = keras.Model(inputs, outputs)
        model.compile(
            optimizer=keras.optimizers.Adam(
                config.train.learning_rate, **optimizer_options(config.train)
            ),
            loss="mse",
            metrics=["mae"],
        )
        return model

    def evaluate(self, config, data, model, run):
        import matplotlib.pyplot as plt

        windows, targets = data.test
        predictions = model.predict(windows, verbose=0)
        last_value = windows[:, -1:, 0]
        figure, axes = plt.subplots()
        axes.scatter(targets[:, 0], predictions[:, 0], s=4)
        axes.set_xlabel("truth")
        axes.set_ylabel("prediction")
        figure.savefig(os.path.join(run.plots, "predictions.png"))
        plt.close(figure)
        return {
            "lstm": {"mae": float(np.mean(np.abs(predictions - targets)))},
            "last_value": {"mae": float(np.mean(np.abs(last_value - targets)))},
        }

    def serving_module(self, config, data, model):
        training = config.model.serve_with_dropout
        spec = tf.TensorSpec([None, config.data.steps, FEATURES], tf.float32)

        class ToyServingModule(ServingModule):
            def __init__(self):
                super().__init__(name="toy")
                self.model = model
                self.predict = self.add_signature(
                    "serving_default", self._predict, [spec]
                )
                self.predict_with_baseline = self.add_signature(
                    "with_baseline", self._predict_with_baseline, [spec]
                )

            def _predict(self, window):
                # [batch, 1] -> [batch]
                return {"prediction": self.model(window, training=training)[:, 0]}

            def _predict_with_baseline(self, window):
                return {
                    "prediction": self.model(window, training=training)[:, 0],
                    "last_value": window[:, -1, 0],
                }

        module = ToyServingModule()
        if training:
            # Keras does not expose dropout's seed state to tf.Module tracking;
            # without this the buggy module could not even be saved.
            module.seed_states = [
                layer.seed_generator.state
                for layer in model.layers
                if hasattr(layer, "seed_generator")
            ]
        return module

    def sample_requests(self, config, data):
        windows = data.test[0]
        return {
            "serving_default": {"window": windows[:4]},
            "with_baseline": {"window": windows[4:6]},
        }

    def predict(self, export_dir, inputs):
        loaded = tf.saved_model.load(export_dir)
        serve = loaded.signatures["serving_default"]
        steps = serve.structured_input_signature[1]["window"].shape[1]
        for path in inputs:
            window = _read_csv_window(path, steps)
            prediction = serve(window=tf.constant(window[None]))["prediction"]
            yield {"file": path, "prediction": float(prediction[0])}


APP = ToyApp()


def subprocess_environment(**extra: str) -> dict[str, str]:
    """Environment for `python -m lstm_keras ... toy_app:APP` in a subprocess."""
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")]))
    return dict(os.environ, PYTHONPATH=path, **extra)
