"""What an application gives the shared CLI: config, data, models and serving.

Each app (`apps/<app>/`) subclasses `App` once and registers the instance under
the `lstm_keras.apps` entry-point group in `pyproject.toml`; the CLI finds apps
through entry points, so `lstm_keras` never imports an app.

The shared machinery (`lstm-keras train|evaluate|export|predict|data`) does the
rest: config resolution, seeds, distribution strategy, `fit` with callbacks,
checkpoints, resume, `metrics.json`, atomic export, warmup file and
fresh-process verification.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from lstm_keras.runner.run_directory import RunDirectory


@dataclasses.dataclass
class AppData:
    """An app's prepared data.

    `train` and `validation` are batched `tf.data.Dataset`s of
    `(inputs, targets)` that `Model.fit` takes as they are; `test` is whatever
    the app's `evaluate` needs (usually a dataset of the same form); `info`
    holds app-specific state the model and serving need (normalization
    statistics, tokenizers, label names...).
    """

    train: Any
    validation: Any
    test: Any
    info: Any = None


class App(abc.ABC):
    """One application: subclass, fill the class attributes, implement methods.

    Class attributes:
        name: the CLI name (`speech`, `translation`, `timeseries`).
        config_class: a frozen `ConfigSection` dataclass whose fields are
            `data`, `model` and `train` (a `TrainConfig`), each a frozen
            `ConfigSection` whose field types say what is valid.
            `data` has a `source: str` field (`builtin`, `tfds:NAME`,
            `csv:PATH`, `tsv:PATH`, `folder:PATH`).
        presets: preset name -> config instance; at least `tiny` (seconds, for
            tests) and `default` (what `make demo` runs).
    """

    name: str
    config_class: type
    presets: Mapping[str, Any]

    @abc.abstractmethod
    def load_data(self, config: Any, work_dir: str | None = None) -> AppData:
        """Builds or reads the data named by `config.data.source`.

        `work_dir` is the run directory (files such as tokenizer models may be
        written there); it is None for `lstm-keras data`. Raise `ValueError`
        with a one-line message naming the problem for bad input.
        """

    @abc.abstractmethod
    def describe_data(self, data: AppData) -> dict[str, Any]:
        """A JSON-able summary printed by `lstm-keras data APP`."""

    @abc.abstractmethod
    def build_model(self, config: Any, data: AppData) -> Any:
        """Returns the compiled `keras.Model` to train.

        Called inside the distribution strategy's scope and after the mixed
        precision policy is set. The optimizer uses
        `config.train.learning_rate`.
        """

    @abc.abstractmethod
    def evaluate(
        self, config: Any, data: AppData, model: Any, run: RunDirectory
    ) -> dict[str, dict[str, Any]]:
        """Scores `model` (and the app's baselines) on the test split.

        Returns `{model_name: {metric: value}}`, written as the `test` entry of
        `metrics.json`. Plots go in `run.plots` (which exists), other reports
        (e.g. a TSV of test outputs) in `run.root`.
        """

    @abc.abstractmethod
    def serving_module(self, config: Any, data: AppData, model: Any) -> Any:
        """The export: a `lstm_keras.runner.ServingModule` holding the model.

        Its signatures (`add_signature`, `serving_default` among them) take
        raw inputs (waveforms or WAV bytes, strings, unnormalized values): all
        preprocessing is inside.
        """

    @abc.abstractmethod
    def sample_requests(
        self, config: Any, data: AppData
    ) -> dict[str, dict[str, np.ndarray]]:
        """Real sample inputs per signature name: `{signature: {input: array}}`.

        Used for the TF Serving warmup file and to verify the export in a
        fresh process against the in-memory module.
        """

    @abc.abstractmethod
    def predict(self, export_dir: str, inputs: list[str]) -> Iterable[dict[str, Any]]:
        """Runs the exported SavedModel on raw inputs (files or text).

        Yields one JSON-able dict per input. Must load the export with plain
        `tf.saved_model.load`, never the Python model.
        """

    # Extra TensorFlow op libraries the export needs in a fresh process
    # (translation: ["tensorflow_text"]).
    serving_imports: tuple[str, ...] = ()
    # File name suffixes `predict` reads (".wav"): an input ending in one of
    # them must exist; anything else may be the input itself (a sentence).
    input_suffixes: tuple[str, ...] = ()

    # Optional: which `test` metrics the `lstm-keras demo` table shows. Unset,
    # the first model and its first numeric metric are shown, against the
    # next model as the baseline.
    headline_model: str | None = None
    baseline_model: str | None = None
    headline_metric: str | None = None
    # Optional: tolerance when the export is compared with the in-memory
    # module in a fresh process (absolute and relative, numeric outputs).
    export_tolerance: float = 1e-5

    def headline(self, test_metrics: Mapping[str, Mapping[str, Any]]) -> dict:
        """The demo table's row: `{model, baseline, metric, value, baseline_value}`.

        Override for a custom choice; the default uses the class attributes
        `headline_model`, `baseline_model` and `headline_metric`.
        """
        models = list(test_metrics)
        model = self.headline_model or (models[0] if models else None)
        others = [name for name in models if name != model]
        baseline = self.baseline_model or (others[0] if others else None)
        scores = test_metrics.get(model, {}) if model else {}
        metric = self.headline_metric or next(
            (
                name
                for name, value in scores.items()
                if isinstance(value, int | float) and not isinstance(value, bool)
            ),
            None,
        )
        baseline_scores = test_metrics.get(baseline, {}) if baseline else {}
        return {
            "model": model,
            "baseline": baseline,
            "metric": metric,
            "value": scores.get(metric) if metric else None,
            "baseline_value": baseline_scores.get(metric) if metric else None,
        }
