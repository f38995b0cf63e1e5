"""Shared helpers for the layer tests: weight-matched layer pairs and masks."""

import keras
import numpy as np

import lstm_keras

BATCH, TIME, FEATURES, UNITS = 4, 7, 3, 5


def random_inputs(seed=0, batch=BATCH, time=TIME, features=FEATURES):
    return np.random.RandomState(seed).randn(batch, time, features).astype("float32")


def random_state(seed, batch=BATCH, units=UNITS):
    return np.random.RandomState(seed).randn(batch, units).astype("float32")


def masks(batch=BATCH, time=TIME):
    """Every mask shape the layer must handle, by name."""
    right = np.ones((batch, time), bool)
    right[0, 4:] = False
    right[2, 1:] = False
    left = right[:, ::-1].copy()
    holes = np.ones((batch, time), bool)
    holes[0, [1, 3]] = False
    holes[3, 0] = False
    empty_row = right.copy()
    empty_row[1] = False
    return {
        "none": None,
        "right_padded": right,
        "left_padded": left,
        "holes": holes,
        "fully_masked_row": empty_row,
    }


def matched_pair(units=UNITS, features=FEATURES, weight_seed=0, **kwargs):
    """`(ours, keras_lstm)` built with the same random (non-trivial) weights."""
    ours_only = {"use_cudnn", "weight_dropout", "proj_units"}
    ours = lstm_keras.LSTM(units, **kwargs)
    theirs = keras.layers.LSTM(
        units, **{k: v for k, v in kwargs.items() if k not in ours_only}
    )
    ours.build((None, None, features))
    theirs.build((None, None, features))
    rng = np.random.RandomState(weight_seed)
    weights = [
        0.5 * rng.randn(*w.shape).astype("float32") for w in theirs.get_weights()
    ]
    theirs.set_weights(weights)
    ours.set_weights(weights)
    return ours, theirs


def xla_functions(concrete):
    """Names of the XLA-compiled functions a traced call runs."""
    library = concrete.graph.as_graph_def().library.function
    return [
        f.signature.name
        for f in library
        if "_XlaMustCompile" in f.attr and f.attr["_XlaMustCompile"].b
    ]
