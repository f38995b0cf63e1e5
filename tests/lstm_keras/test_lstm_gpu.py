"""GPU tests: the fused cuDNN kernel really runs and matches the fallback.

Marked `gpu`; skipped without a GPU (see tests/conftest.py).
"""

import numpy as np
import pytest
import tensorflow as tf
from layer_helpers import masks, matched_pair, random_inputs

from lstm_keras import cudnn

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("mask_name", ["none", "right_padded"])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_cudnn_runs_and_matches_fallback(mask_name, go_backwards):
    auto, _ = matched_pair(return_sequences=True, go_backwards=go_backwards)
    portable, _ = matched_pair(
        return_sequences=True, go_backwards=go_backwards, use_cudnn=False
    )
    x, mask = random_inputs(), masks()[mask_name]
    with tf.device("/GPU:0"):
        expected = portable(x, mask=mask)
        result = auto(x, mask=mask)
    assert auto.last_implementation == "cudnn"
    np.testing.assert_allclose(result, expected, atol=1e-5)

    @tf.function
    def run(x):
        outputs = auto(x, mask=mask)
        return outputs, auto.last_implementation_code

    with tf.device("/GPU:0"):
        outputs, code = run(x)
    assert int(code) == cudnn.CUDNN
    np.testing.assert_allclose(outputs, expected, atol=1e-5)


def test_holes_fall_back_on_gpu():
    auto, theirs = matched_pair(return_sequences=True)
    x, mask = random_inputs(), masks()["holes"]
    with tf.device("/GPU:0"):
        np.testing.assert_allclose(auto(x, mask=mask), theirs(x, mask=mask), atol=1e-5)
    assert auto.last_implementation == "fused"
