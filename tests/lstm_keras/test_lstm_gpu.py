"""GPU tests: the fused cuDNN kernel really runs and matches the fallback.

Marked `gpu`; skipped without a GPU (see tests/conftest.py).
"""

import numpy as np
import pytest
import tensorflow as tf
from layer_helpers import masks, matched_pair, random_inputs

import lstm_keras
from lstm_keras import cudnn

pytestmark = pytest.mark.gpu


@pytest.fixture(autouse=True)
def full_float32():
    """TF32 (on by default on Ampere and newer) rounds cuDNN's matmuls: about
    1e-4 off in float32 on an H100 (recorded through PyTorch), over the 1e-5
    that these tests hold the fused kernel to."""
    tf.config.experimental.enable_tensor_float_32_execution(False)
    yield
    tf.config.experimental.enable_tensor_float_32_execution(True)


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


@pytest.mark.parametrize("mask_name", ["none", "right_padded"])
def test_cudnn_projection_runs_and_matches_fallback(mask_name):
    """LSTMP through cuDNN's num_proj: outputs, states and gradients."""

    def build(use_cudnn):
        layer = lstm_keras.LSTM(
            5,
            proj_units=2,
            return_sequences=True,
            return_state=True,
            use_cudnn=use_cudnn,
        )
        layer.build((None, None, 3))
        return layer

    auto, portable = build("auto"), build(False)
    portable.set_weights(auto.get_weights())
    x, mask = tf.constant(random_inputs()), masks()[mask_name]

    with tf.device("/GPU:0"):
        expected = _outputs_and_gradients(portable, x, mask)
        result = _outputs_and_gradients(auto, x, mask)
    assert auto.last_implementation == "cudnn"
    for a, b in zip(result, expected, strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5)


def _outputs_and_gradients(layer, x, mask):
    """A training call's outputs, then the gradients for x and every weight."""
    with tf.GradientTape() as tape:
        tape.watch(x)
        outputs = layer(x, mask=mask, training=True)
        loss = sum(tf.reduce_sum(o * (k + 1.0)) for k, o in enumerate(outputs))
    return [*outputs, *tape.gradient(loss, [x, *layer.trainable_variables])]


def _bidirectional_pair():
    """`(auto, portable)` fused Bidirectional layers with the same weights."""

    def build(use_cudnn):
        layer = lstm_keras.Bidirectional(
            lstm_keras.LSTM(
                5, return_sequences=True, return_state=True, use_cudnn=use_cudnn
            )
        )
        layer.build((None, None, 3))
        return layer

    auto, portable = build("auto"), build(False)
    portable.set_weights(auto.get_weights())
    return auto, portable


@pytest.mark.parametrize("mask_name", ["none", "right_padded"])
def test_bidirectional_cudnn_runs_and_matches_fallback(mask_name):
    """One bidirectional CudnnRNNV3 call: outputs, states and gradients."""
    auto, portable = _bidirectional_pair()
    x, mask = tf.constant(random_inputs()), masks()[mask_name]

    with tf.device("/GPU:0"):
        expected = _outputs_and_gradients(portable, x, mask)
        result = _outputs_and_gradients(auto, x, mask)
    assert auto.last_implementation == "cudnn"
    for a, b in zip(result, expected, strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5)

    @tf.function
    def traced(x):
        outputs = auto(x, mask=mask)
        return outputs, auto.last_implementation_code

    with tf.device("/GPU:0"):
        outputs, code = traced(x)
    assert int(code) == cudnn.CUDNN
    for a, b in zip(outputs, expected, strict=False):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5)


@pytest.mark.parametrize("mask_name", ["left_padded", "holes", "fully_masked_row"])
def test_bidirectional_masks_cudnn_cannot_take_fall_back_on_gpu(mask_name):
    auto, portable = _bidirectional_pair()
    x, mask = random_inputs(), masks()[mask_name]
    with tf.device("/GPU:0"):
        for a, b in zip(auto(x, mask=mask), portable(x, mask=mask), strict=True):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5)
    assert auto.last_implementation == "fused"
