"""The command threshold: NumPy and TensorFlow decisions, and the export's."""

import numpy as np
import pytest

from apps.speech_commands.config import ModelConfig
from apps.speech_commands.decision import decide, decide_tf

# Labels: _silence_, _unknown_, yes, no.
PROBABILITIES = np.array(
    [
        [0.05, 0.05, 0.85, 0.05],  # a sure "yes"
        [0.10, 0.20, 0.45, 0.25],  # an unsure "yes"
        [0.55, 0.15, 0.20, 0.10],  # silence: never turned into _unknown_
        [0.10, 0.50, 0.30, 0.10],  # _unknown_ already
    ],
    np.float32,
)


@pytest.mark.parametrize(
    ("threshold", "expected"),
    [(0.0, [2, 2, 0, 1]), (0.5, [2, 1, 0, 1]), (0.9, [1, 1, 0, 1])],
)
def test_commands_below_the_threshold_become_unknown(threshold, expected):
    assert decide(PROBABILITIES, threshold).tolist() == expected
    assert decide_tf(PROBABILITIES, threshold).numpy().tolist() == expected


def test_threshold_must_be_a_probability_below_one():
    for bad in (-0.1, 1.0):
        with pytest.raises(ValueError, match="command_threshold"):
            ModelConfig(command_threshold=bad)


@pytest.mark.parametrize(
    ("weight", "threshold", "expected"),
    [
        (1.0, 0.0, [2, 2, 0, 1]),
        # _unknown_ at a fifth: the fourth row's "yes" (0.30) now beats it (0.10).
        (0.2, 0.0, [2, 2, 0, 2]),
        # The threshold still applies to the chosen command's own probability.
        (0.2, 0.5, [2, 1, 0, 1]),
        # Above 1: the unsure "yes" (0.45) loses to _unknown_ (0.20 * 3).
        (3.0, 0.0, [2, 1, 0, 1]),
    ],
)
def test_unknown_weight_moves_the_decision_toward_commands(weight, threshold, expected):
    assert decide(PROBABILITIES, threshold, weight).tolist() == expected
    assert decide_tf(PROBABILITIES, threshold, weight).numpy().tolist() == expected


def test_unknown_weight_must_be_positive():
    for bad in (0.0, -1.0):
        with pytest.raises(ValueError, match="unknown_weight"):
            ModelConfig(unknown_weight=bad)
