"""From class probabilities to a label: argmax, or a command threshold.

A keyword spotter answers a command word only when it is sure enough: below
`command_threshold` the top command word becomes `_unknown_` (fewer false
accepts of other words, a few more rejected commands). `unknown_weight`
moves the operating point the other way: `_unknown_`'s probability is
multiplied by it before the argmax, so below 1 a voice the model finds
unfamiliar is answered with its most probable command word rather than
rejected (more commands recognized, more false accepts; README, "The
digits, and voice engines never heard"). Labels are in `DataConfig.labels`
order: `_silence_` (0), `_unknown_` (1), the words.
"""

from __future__ import annotations

import numpy as np

UNKNOWN_INDEX = 1
FIRST_WORD_INDEX = 2


def decide(
    probabilities: np.ndarray,
    command_threshold: float = 0.0,
    unknown_weight: float = 1.0,
) -> np.ndarray:
    """Label indices `[n]` from probabilities `[n, labels]` (NumPy)."""
    weights = np.ones(probabilities.shape[-1], probabilities.dtype)
    weights[UNKNOWN_INDEX] = unknown_weight
    index = np.argmax(probabilities * weights, axis=-1)
    chosen = np.take_along_axis(probabilities, index[..., None], axis=-1)[..., 0]
    unsure = (index >= FIRST_WORD_INDEX) & (chosen < command_threshold)
    return np.where(unsure, UNKNOWN_INDEX, index)


def decide_tf(probabilities, command_threshold: float = 0.0, unknown_weight=1.0):
    """`decide` in TensorFlow ops (the export's `label`), int32 `[n]`."""
    import tensorflow as tf

    weights = tf.tensor_scatter_nd_update(
        tf.ones(tf.shape(probabilities)[-1:], probabilities.dtype),
        [[UNKNOWN_INDEX]],
        tf.constant([unknown_weight], probabilities.dtype),
    )
    index = tf.argmax(probabilities * weights, axis=-1, output_type=tf.int32)
    chosen = tf.gather(probabilities, index, axis=-1, batch_dims=1)
    unsure = tf.logical_and(index >= FIRST_WORD_INDEX, chosen < command_threshold)
    return tf.where(unsure, tf.fill(tf.shape(index), UNKNOWN_INDEX), index)
