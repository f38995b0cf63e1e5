"""A Keras 3 LSTM layer: fused cuDNN on GPU, fast portable fallback elsewhere."""

import importlib

# The layers load on first use, so the command line (`lstm_keras.runner.cli`), which
# shares this package, answers `--help` without importing TensorFlow.
_LAYERS = {
    "Bidirectional": "lstm_keras.bidirectional",
    "LSTM": "lstm_keras.lstm",
    "LSTMCell": "lstm_keras.cell",
    "LayerNormLSTM": "lstm_keras.variants",
    "LayerNormLSTMCell": "lstm_keras.variants",
    "PeepholeLSTM": "lstm_keras.variants",
    "PeepholeLSTMCell": "lstm_keras.variants",
}

# Functions, loaded on first use like the layers.
_FUNCTIONS = {"portable_graphs": "lstm_keras.portable"}

__all__ = [*_LAYERS, *_FUNCTIONS]
__version__ = "0.1.0"


def __getattr__(name):
    module = _LAYERS.get(name) or _FUNCTIONS.get(name)
    if module:
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'lstm_keras' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *__all__])
