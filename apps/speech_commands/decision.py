"""From class probabilities to a label: argmax, or a command threshold.

A keyword spotter answers a command word only when it is sure enough: below
`command_threshold` the top command word becomes `_unknown_` (fewer false
accepts of other words, a few more rejected commands). Labels are in
`DataConfig.labels` order: `_silence_` (0), `_unknown_` (1), the words.
"""

from __future__ import annotations

import numpy as np

UNKNOWN_INDEX = 1
FIRST_WORD_INDEX = 2


def decide(probabilities: np.ndarray, command_threshold: float = 0.0) -> np.ndarray:
    """Label indices `[n]` from probabilities `[n, labels]` (NumPy)."""
    index = np.argmax(probabilities, axis=-1)
    unsure = (index >= FIRST_WORD_INDEX) & (
        np.max(probabilities, axis=-1) < command_threshold
    )
    return np.where(unsure, UNKNOWN_INDEX, index)


def decide_tf(probabilities, command_threshold: float = 0.0):
    """`decide` in TensorFlow ops (the export's `label`), int32 `[n]`."""
    import tensorflow as tf

    index = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
    unsure = tf.logical_and(
        index >= FIRST_WORD_INDEX,
        tf.reduce_max(probabilities, axis=-1) < command_threshold,
    )
    return tf.where(unsure, tf.fill(tf.shape(index), UNKNOWN_INDEX), index)
