"""Which implementation runs, why, and cuDNN's weight layout (checked on CPU)."""

import logging

import numpy as np
import pytest
import tensorflow as tf
from layer_helpers import matched_pair, random_inputs

import lstm_keras
from lstm_keras import cudnn
from lstm_keras.reference import lstm_forward, sigmoid


def test_use_cudnn_true_lists_every_reason():
    with pytest.raises(ValueError) as error:
        lstm_keras.LSTM(
            4, activation="relu", recurrent_dropout=0.2, unroll=True, use_cudnn=True
        )
    message = str(error.value)
    for reason in ("activation is relu", "recurrent_dropout=0.2", "unroll=True"):
        assert reason in message


def test_use_cudnn_rejects_unknown_value():
    with pytest.raises(ValueError, match="use_cudnn"):
        lstm_keras.LSTM(4, use_cudnn="yes")


def test_weight_dropout_and_dropout_keep_cudnn_eligible():
    layer = lstm_keras.LSTM(4, dropout=0.3, weight_dropout=0.5, use_cudnn=True)
    assert cudnn.ineligibility_reasons(layer) == []


def test_variants_are_not_cudnn_eligible():
    assert cudnn.ineligibility_reasons(lstm_keras.PeepholeLSTM(3))
    assert cudnn.ineligibility_reasons(lstm_keras.LayerNormLSTM(3))


def test_projection_is_cudnn_eligible():
    """LSTMP is cuDNN's `num_proj`: the fused kernels compute it."""
    layer = lstm_keras.LSTM(3, proj_units=2)
    assert cudnn.ineligibility_reasons(layer) == []
    layer(random_inputs())
    assert layer.last_implementation == "fused"
    for proj_units in (3, 4):
        assert f"proj_units={proj_units} is not below units=3" in "; ".join(
            cudnn.ineligibility_reasons(lstm_keras.LSTM(3, proj_units=proj_units))
        )


def test_auto_logs_the_implementation_once(caplog):
    layer = lstm_keras.LSTM(3, recurrent_dropout=0.1)
    with caplog.at_level(logging.INFO, logger="lstm_keras"):
        layer(random_inputs())
        layer(random_inputs())
    records = [r.getMessage() for r in caplog.records if r.name == "lstm_keras"]
    assert len(records) == 1
    assert "cell_loop" in records[0] and "recurrent_dropout" in records[0]


def test_cpu_runs_the_fused_fallback_eagerly_and_in_graphs():
    layer = lstm_keras.LSTM(3)
    layer(random_inputs())
    assert layer.last_implementation == "fused"

    @tf.function
    def run(x):
        layer(x)
        return layer.last_implementation_code

    assert int(run(random_inputs())) == cudnn.FALLBACK


@pytest.mark.parametrize("proj_units", [None, 2], ids=["lstm", "lstmp"])
def test_graph_carries_cudnn_twin_with_same_api_name(proj_units):
    layer = lstm_keras.LSTM(3, proj_units=proj_units)
    layer.build((None, None, 3))
    graph = (
        tf.function(layer)
        .get_concrete_function(tf.TensorSpec([None, None, 3]))
        .graph.as_graph_def()
    )
    # Twin functions (and their gradient functions) share one api_implements
    # name and differ by preferred device.
    ops_by_device = {}
    apis = set()
    for function in graph.library.function:
        if "api_implements" in function.attr:
            apis.add(function.attr["api_implements"].s)
            device = function.attr["api_preferred_device"].s.decode()
            ops = {node.op for node in function.node_def}
            ops_by_device.setdefault(device, set()).update(ops)
    assert len(apis) == 1
    assert set(ops_by_device) == {"CPU", "GPU"}
    assert "CudnnRNNV3" in ops_by_device["GPU"]
    assert "CudnnRNNV3" not in ops_by_device["CPU"]
    num_proj = {
        node.attr["num_proj"].i
        for function in graph.library.function
        for node in function.node_def
        if node.op == "CudnnRNNV3"
    }
    assert num_proj == {proj_units or 0}


@pytest.mark.parametrize("bidirectional", [False, True], ids=["lstm", "bidirectional"])
def test_only_training_calls_carry_the_twins_gradient_functions(bidirectional):
    """Building the GPU twin's gradient was most of an inference trace; an
    inference call carries the twin alone, a training call its gradient too."""
    layer = lstm_keras.LSTM(3, return_sequences=True)
    if bidirectional:
        layer = lstm_keras.Bidirectional(layer)
    layer.build((None, None, 3))
    mask = tf.TensorSpec([None, None], tf.bool)

    def gpu_functions(training):
        graph = (
            tf.function(lambda x, m: layer(x, mask=m, training=training))
            .get_concrete_function(tf.TensorSpec([None, None, 3]), mask)
            .graph.as_graph_def()
        )
        # A forward variant names its backward function and vice versa.
        return sorted(
            "forward"
            if "backward_function_name" in function.attr
            else "backward"
            if "forward_function_name" in function.attr
            else "inference"
            for function in graph.library.function
            if function.attr["api_preferred_device"].s == b"GPU"
        )

    assert gpu_functions(None) == gpu_functions(False) == ["inference"]
    assert gpu_functions(True) == ["backward", "forward", "inference"]


def _emulate_cudnn(params, x, h0, c0, input_dim, units):
    """NumPy LSTM reading its weights from cuDNN's canonical flat buffer."""
    offset, matrices, biases = 0, [], []
    for columns in [input_dim] * 4 + [units] * 4:
        matrices.append(
            params[offset : offset + units * columns].reshape(units, columns)
        )
        offset += units * columns
    for _ in range(8):
        biases.append(params[offset : offset + units])
        offset += units
    assert offset == params.size
    h, c, outputs = h0, c0, []
    for t in range(x.shape[1]):
        gates = [
            x[:, t] @ matrices[g].T + h @ matrices[4 + g].T + biases[g] + biases[4 + g]
            for g in range(4)
        ]
        i, f, o = sigmoid(gates[0]), sigmoid(gates[1]), sigmoid(gates[3])
        c = f * c + i * np.tanh(gates[2])
        h = o * np.tanh(c)
        outputs.append(h)
    return np.stack(outputs, 1), h, c


def test_canonical_params_follow_cudnn_layout():
    layer, _ = matched_pair(units=5, features=3)
    kernel, recurrent_kernel, bias = layer.get_weights()
    params = cudnn.canonical_params(kernel, recurrent_kernel, bias).numpy()
    x = random_inputs()
    h0 = np.zeros((x.shape[0], 5), "float32")
    outputs, h, c = _emulate_cudnn(params, x, h0, h0, 3, 5)
    expected, h_ref, c_ref = lstm_forward(x, kernel, recurrent_kernel, bias)
    np.testing.assert_allclose(outputs, expected, atol=1e-5)
    np.testing.assert_allclose(c, c_ref, atol=1e-5)


def test_right_padded_check():
    right = tf.constant([[True, True, False], [True, False, False]])
    assert bool(cudnn._is_right_padded(right))
    assert not bool(cudnn._is_right_padded(tf.constant([[False, True, True]])))
    assert not bool(cudnn._is_right_padded(tf.constant([[True, False, True]])))
    assert not bool(cudnn._is_right_padded(tf.constant([[False, False, False]])))
