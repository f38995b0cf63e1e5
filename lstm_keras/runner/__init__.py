"""The application runner: one CLI, config, training, resume, export.

Apps build on three names from here: `App` (the contract an app implements),
`AppData` (its prepared data) and `TrainConfig` (the `train.*` keys), plus
`ConfigSection` and the bound types for their own config sections,
`ServingModule` for their serving signatures, and `optimizer_options` (what
the `train.*` keys ask of every optimizer). The layer never imports the
runner; the runner imports only the layer's `portable_graphs` (exports are
traced without XLA).

    cli.py            `lstm-keras` (also `python -m lstm_keras`)
    commands.py       train / evaluate / export / predict, as functions
    config.py         `TrainConfig` and config resolution (preset, YAML, --set)
    config_types.py   `ConfigSection`: fields checked by their types
    training.py       `fit` with seeds, strategy, callbacks; resume.py, multi_worker.py
    export.py         atomic TF Serving export, checked in a fresh process
    serving.py        `ServingModule`: the base of every app's serving module
    run_directory.py  the files of one run (`--output DIR`)
    registry.py       apps found through entry points; app.py: the contract
"""

import importlib

# Loaded on first use: `lstm-keras --help` imports none of them.
_NAMES = {
    "App": "lstm_keras.runner.app",
    "AppData": "lstm_keras.runner.app",
    "TrainConfig": "lstm_keras.runner.config",
    "ConfigSection": "lstm_keras.runner.config_types",
    "ServingModule": "lstm_keras.runner.serving",
    "optimizer_options": "lstm_keras.runner.training",
    "lazy_import": "lstm_keras.runner.lazy_import",
}

__all__ = list(_NAMES)


def __getattr__(name):
    if name in _NAMES:
        value = getattr(importlib.import_module(_NAMES[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'lstm_keras.runner' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_NAMES])
