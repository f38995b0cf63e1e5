"""`lstm_keras.Bidirectional` against `keras.layers.Bidirectional(keras.layers.LSTM)`.

Outputs, states and gradients for every merge mode and mask shape, weights
moving both ways, serialization, the fallback to two layers, and cuDNN's
bidirectional call (its weight packing and output handling checked on CPU
against a NumPy emulation of cuDNN).
"""

import json
import logging

import keras
import numpy as np
import pytest
import tensorflow as tf
from layer_helpers import (
    BATCH,
    FEATURES,
    TIME,
    UNITS,
    masks,
    random_inputs,
    xla_functions,
)

import lstm_keras
from lstm_keras import cudnn, fused_bidirectional
from lstm_keras.reference import sigmoid


def _pair(units=UNITS, features=FEATURES, merge_mode="concat", seed=0, **kwargs):
    """`(ours, keras_bidirectional)` with the same random weights."""
    ours_only = {"use_cudnn", "weight_dropout", "proj_units"}
    ours = lstm_keras.Bidirectional(
        lstm_keras.LSTM(units, **kwargs), merge_mode=merge_mode
    )
    theirs = keras.layers.Bidirectional(
        keras.layers.LSTM(
            units, **{k: v for k, v in kwargs.items() if k not in ours_only}
        ),
        merge_mode=merge_mode,
    )
    ours.build((None, None, features))
    theirs.build((None, None, features))
    rng = np.random.RandomState(seed)
    weights = [0.5 * rng.randn(*w.shape).astype("float32") for w in theirs.weights]
    theirs.set_weights(weights)
    ours.set_weights(weights)
    return ours, theirs


def _flat(results):
    results = results if isinstance(results, (list, tuple)) else [results]
    return [np.asarray(r) for r in results]


def _assert_same(ours, theirs, atol=1e-5):
    ours, theirs = _flat(ours), _flat(theirs)
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs, strict=True):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, atol=atol)


@pytest.fixture(params=["compiled", "portable"])
def layout(request):
    """Both ways the fused loop runs inference: XLA-compiled, or without XLA
    (inside `portable_graphs()`)."""
    if request.param == "portable":
        with lstm_keras.portable_graphs():
            yield request.param
    else:
        yield request.param


@pytest.mark.parametrize("mask_name", list(masks()))
@pytest.mark.parametrize("return_sequences", [True, False], ids=["sequences", "last"])
def test_outputs_and_states_match_keras(mask_name, return_sequences):
    ours, theirs = _pair(return_sequences=return_sequences, return_state=True)
    x, mask = random_inputs(), masks()[mask_name]
    _assert_same(ours(x, mask=mask), theirs(x, mask=mask))
    assert ours.last_implementation == "fused"


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "ave", "mul", None])
def test_merge_modes_match_keras(merge_mode):
    ours, theirs = _pair(merge_mode=merge_mode, return_sequences=True)
    x, mask = random_inputs(), masks()["right_padded"]
    _assert_same(ours(x, mask=mask), theirs(x, mask=mask))
    ours_state, theirs_state = _pair(merge_mode=merge_mode, return_state=True)
    _assert_same(ours_state(x), theirs_state(x))


def test_initial_state_and_masking_layer_match_keras():
    ours, theirs = _pair(return_sequences=True, return_state=True)
    x = random_inputs()
    x[1, 5:] = 0.0
    rng = np.random.RandomState(3)
    states = [rng.randn(BATCH, UNITS).astype("float32") for _ in range(4)]
    masked = keras.layers.Masking()(x)
    _assert_same(
        ours(masked, initial_state=states), theirs(masked, initial_state=states)
    )


def _gradients(layer, x, mask, training, states):
    x = tf.constant(x)
    states = [tf.constant(s) for s in states]
    upstream = tf.constant(
        np.random.RandomState(7).randn(BATCH, TIME, 2 * UNITS).astype("float32")
    )

    @tf.function
    def run(x, states):
        with tf.GradientTape() as tape:
            tape.watch([x, *states])
            outputs, *final = layer(
                x, initial_state=states, mask=mask, training=training
            )
            loss = tf.reduce_sum(outputs * upstream) + sum(
                tf.reduce_sum(s * (k + 1)) for k, s in enumerate(final)
            )
        return tape.gradient(loss, [x, *states, *layer.trainable_weights])

    return run(x, states)


@pytest.mark.parametrize("mask_name", ["none", "holes"])
@pytest.mark.parametrize("training", [True, False], ids=["training", "inference"])
def test_gradients_match_keras(mask_name, training, layout):
    ours, theirs = _pair(return_sequences=True, return_state=True)
    rng = np.random.RandomState(5)
    states = [0.5 * rng.randn(BATCH, UNITS).astype("float32") for _ in range(4)]
    x, mask = random_inputs(), masks()[mask_name]
    expected = _gradients(theirs, x, mask, training, states)
    result = _gradients(ours, x, mask, training, states)
    assert len(result) == 1 + 4 + 6
    _assert_same(result, expected, atol=2e-5)


def test_wide_inputs_and_no_bias_match_keras():
    ours, theirs = _pair(units=3, features=6, use_bias=False, return_sequences=True)
    x = random_inputs(features=6)
    _assert_same(ours(x), theirs(x))


def test_weights_are_kerass_in_order_and_shape():
    ours, theirs = _pair()
    assert [w.shape for w in ours.weights] == [w.shape for w in theirs.weights]

    def names(layer):
        # forward_lstm_12/lstm_cell/kernel -> forward, lstm_cell/kernel
        return [
            (w.path.split("/")[1].split("_")[0], "/".join(w.path.split("/")[-2:]))
            for w in layer.weights
        ]

    assert names(ours) == names(theirs)
    assert [d for d, _ in names(ours)] == ["forward"] * 3 + ["backward"] * 3


def _model(bidirectional):
    inputs = keras.Input((None, FEATURES))
    masked = keras.layers.Masking()(inputs)
    return keras.Model(inputs, bidirectional(masked))


@pytest.mark.parametrize("direction", ["keras_to_ours", "ours_to_keras"])
def test_weight_files_load_both_ways(tmp_path, direction):
    def ours():
        return lstm_keras.Bidirectional(lstm_keras.LSTM(UNITS), name="encoder")

    def theirs():
        return keras.layers.Bidirectional(keras.layers.LSTM(UNITS), name="encoder")

    source, target = (theirs, ours) if direction == "keras_to_ours" else (ours, theirs)
    saved = _model(source())
    rng = np.random.RandomState(2)
    saved.set_weights([rng.randn(*w.shape).astype("float32") for w in saved.weights])
    path = str(tmp_path / "model.weights.h5")
    saved.save_weights(path)
    loaded = _model(target())
    loaded.load_weights(path)
    x = random_inputs()
    x[0, 4:] = 0.0
    _assert_same(loaded(x), saved(x))


def test_config_round_trip():
    layer = lstm_keras.Bidirectional(
        lstm_keras.LSTM(UNITS, return_sequences=True, dropout=0.1, use_cudnn=False),
        merge_mode="sum",
        name="bi",
    )
    config = json.loads(json.dumps(keras.saving.serialize_keras_object(layer)))
    restored = keras.saving.deserialize_keras_object(config)
    assert type(restored) is lstm_keras.Bidirectional
    assert restored.merge_mode == "sum"
    assert restored.forward_layer.get_config() == layer.forward_layer.get_config()
    assert restored.backward_layer.go_backwards


def test_keras_file_round_trip(tmp_path):
    model = _model(
        lstm_keras.Bidirectional(
            lstm_keras.LSTM(UNITS, return_sequences=True), merge_mode="ave"
        )
    )
    x = random_inputs()
    x[2, 3:] = 0.0
    path = str(tmp_path / "model.keras")
    model.save(path)
    restored = keras.models.load_model(path)
    assert isinstance(restored.layers[-1], lstm_keras.Bidirectional)
    _assert_same(restored(x), model(x), atol=1e-6)


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda: lstm_keras.LSTM(UNITS, recurrent_dropout=0.2), "recurrent_dropout"),
        (lambda: lstm_keras.PeepholeLSTM(UNITS), "overrides gate_step"),
        (lambda: lstm_keras.LSTM(UNITS, proj_units=2), "proj_units"),
        (lambda: lstm_keras.LSTM(UNITS, activation="relu"), "activation is relu"),
        (lambda: keras.layers.LSTM(UNITS), "not both lstm_keras.LSTM"),
    ],
    ids=["recurrent_dropout", "variant", "projection", "activation", "keras_lstm"],
)
def test_other_configurations_run_two_layers(make, reason):
    layer = lstm_keras.Bidirectional(make())
    assert reason in "; ".join(layer.fused_ineligibility_reasons())
    x = random_inputs()
    reference = keras.layers.Bidirectional(make())
    reference.build(x.shape)
    layer.build(x.shape)
    layer.set_weights(reference.get_weights())
    _assert_same(layer(x), reference(x))
    assert layer.last_implementation == "two_layers"


def test_differently_configured_directions_run_two_layers():
    layer = lstm_keras.Bidirectional(
        lstm_keras.LSTM(UNITS),
        backward_layer=lstm_keras.LSTM(UNITS, go_backwards=True, use_bias=False),
    )
    assert "configured differently" in "; ".join(layer.fused_ineligibility_reasons())
    layer(random_inputs())
    assert layer.last_implementation == "two_layers"


def test_logs_the_implementation_once(caplog):
    layer = lstm_keras.Bidirectional(lstm_keras.LSTM(UNITS))
    with caplog.at_level(logging.INFO, logger="lstm_keras"):
        layer(random_inputs())
        layer(random_inputs())
    records = [r.getMessage() for r in caplog.records if "fused" in r.getMessage()]
    assert len(records) == 1 and layer.name in records[0]


def test_dropout_in_training_runs_fused_as_the_two_layers_do():
    """Each direction drops its inputs with its own layer's seed generator, in
    the same order as the two layers: same seeds, same results."""

    def make(wrapper):
        layer = wrapper(
            lstm_keras.LSTM(
                UNITS, return_sequences=True, dropout=0.5, weight_dropout=0.3, seed=1
            )
        )
        layer.build((None, None, FEATURES))
        layer.set_weights(weights)
        return layer

    weights = _pair()[0].get_weights()
    fused = make(lstm_keras.Bidirectional)
    two_layers = make(keras.layers.Bidirectional)
    x = random_inputs()
    trained = fused(x, training=True)
    assert fused.last_implementation == "fused"
    _assert_same(trained, two_layers(x, training=True))
    assert np.abs(np.asarray(trained) - np.asarray(fused(x))).max() > 1e-3


def test_wrong_initial_state_is_one_clear_error():
    layer = lstm_keras.Bidirectional(lstm_keras.LSTM(UNITS))
    with pytest.raises(ValueError, match="initial_state must be a list"):
        layer(random_inputs(), initial_state=[np.zeros((BATCH, UNITS), "float32")] * 2)
    with pytest.raises(ValueError, match="built for inputs with|expected"):
        layer(
            random_inputs(),
            initial_state=[np.zeros((BATCH, UNITS + 1), "float32")] * 4,
        )


def test_graph_carries_a_bidirectional_cudnn_twin():
    layer = lstm_keras.Bidirectional(lstm_keras.LSTM(UNITS, return_sequences=True))
    layer.build((None, None, FEATURES))
    graph = (
        tf.function(layer)
        .get_concrete_function(tf.TensorSpec([None, None, FEATURES]))
        .graph.as_graph_def()
    )
    devices, directions = set(), set()
    for function in graph.library.function:
        if "api_implements" in function.attr:
            devices.add(function.attr["api_preferred_device"].s.decode())
        for node in function.node_def:
            if node.op == "CudnnRNNV3":
                directions.add(node.attr["direction"].s.decode())
    assert devices == {"CPU", "GPU"}
    assert directions == {"bidirectional"}

    @tf.function
    def run(x):
        layer(x)
        return layer.last_implementation_code

    assert int(run(random_inputs())) == cudnn.FALLBACK


def test_use_cudnn_false_has_no_cudnn_twin():
    layer = lstm_keras.Bidirectional(lstm_keras.LSTM(UNITS, use_cudnn=False))
    layer.build((None, None, FEATURES))
    graph = (
        tf.function(layer)
        .get_concrete_function(tf.TensorSpec([None, None, FEATURES]))
        .graph.as_graph_def()
    )
    ops = {n.op for f in graph.library.function for n in f.node_def}
    assert "CudnnRNNV3" not in ops


def _emulate_cudnn_bidirectional(inputs, h0, c0, params, lengths):
    """NumPy bidirectional LSTM reading cuDNN's flat weight space.

    Per pseudo-layer (forward direction, then backward): W_i, W_f, W_c, W_o
    (`[units, features]`), R_i..R_o (`[units, units]`), then 4 input and 4
    recurrent biases; the layout recorded from cuDNN for one direction
    (test_cudnn_recorded.py) and documented per direction by JAX's
    `experimental.rnn`. Variable lengths as cuDNN runs them: the backward
    direction starts at each row's last valid step, outputs past a row's
    end are zero, final states are those after the last valid step.
    """
    time, batch, features = inputs.shape
    units = h0.shape[-1]
    offset, directions = 0, []
    for _ in range(2):
        matrices = []
        for columns in [features] * 4 + [units] * 4:
            size = units * columns
            matrices.append(params[offset : offset + size].reshape(units, columns))
            offset += size
        biases = params[offset : offset + 8 * units].reshape(8, units)
        offset += 8 * units
        directions.append((matrices, biases))
    assert offset == params.size
    outputs = np.zeros((time, batch, 2 * units), np.float32)
    h_n, c_n = h0.copy(), c0.copy()
    for direction, (matrices, biases) in enumerate(directions):
        h, c = h0[direction].astype(np.float64), c0[direction].astype(np.float64)
        steps = range(time) if direction == 0 else range(time - 1, -1, -1)
        for t in steps:
            gates = [
                inputs[t] @ matrices[g].T
                + h @ matrices[4 + g].T
                + biases[g]
                + biases[4 + g]
                for g in range(4)
            ]
            c_new = sigmoid(gates[1]) * c + sigmoid(gates[0]) * np.tanh(gates[2])
            h_new = sigmoid(gates[3]) * np.tanh(c_new)
            valid = (t < lengths)[:, None]
            h, c = np.where(valid, h_new, h), np.where(valid, c_new, c)
            columns = slice(direction * units, (direction + 1) * units)
            outputs[t, :, columns] = np.where(valid, h, 0.0)
        h_n[direction], c_n[direction] = h, c
    return outputs, h_n.astype(np.float32), c_n.astype(np.float32)


def _emulated_op(**kwargs):
    assert kwargs["direction"] == "bidirectional"
    assert kwargs["rnn_mode"] == "lstm" and kwargs["time_major"]
    outputs, h, c = tf.numpy_function(
        _emulate_cudnn_bidirectional,
        [kwargs[k] for k in ("input", "input_h", "input_c", "params")]
        + [kwargs["sequence_lengths"]],
        [tf.float32] * 3,
    )
    return outputs, h, c, None, None


@pytest.mark.parametrize("mask_name", ["none", "right_padded"])
def test_cudnn_call_matches_the_fused_loop_on_an_emulated_cudnn(mask_name):
    ours, _ = _pair()
    weights = [tf.constant(w) for w in ours.get_weights()]
    x = tf.constant(random_inputs())
    rng = np.random.RandomState(4)
    h0, c0 = (tf.constant(rng.randn(2, BATCH, UNITS).astype("float32")) for _ in "hc")
    mask = masks()[mask_name]
    mask = None if mask is None else tf.constant(mask)
    expected = fused_bidirectional.bidirectional_lstm(x, x, weights, h0, c0, mask)
    result = fused_bidirectional.cudnn_bidirectional_lstm(
        x, weights, h0, c0, mask, rnn=_emulated_op
    )
    for a, b in zip(result, expected, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_bidirectional_params_hold_each_direction_in_turn():
    ours, _ = _pair()
    weights = [tf.constant(w) for w in ours.get_weights()]
    params = fused_bidirectional.bidirectional_params(weights).numpy()
    forward = cudnn.canonical_params(*weights[:3]).numpy()
    backward = cudnn.canonical_params(*weights[3:]).numpy()
    np.testing.assert_array_equal(params, np.concatenate([forward, backward]))


def test_inference_runs_compiled_loops_except_in_portable_graphs():
    ours, _ = _pair(return_sequences=True)
    x = tf.constant(random_inputs())

    def trace(spec, **kwargs):
        return tf.function(lambda x: ours(x, **kwargs)).get_concrete_function(spec)

    # Training unspecified is inference, as in Keras: each direction's loop
    # compiled, nothing kept for a backward pass.
    compiled = xla_functions(trace(x))
    assert any("_inference_loop" in name for name in compiled), compiled
    assert not any("keeping_factors" in name for name in compiled)
    with lstm_keras.portable_graphs():
        portable = trace(x, training=False)
    assert not xla_functions(portable)
    # A serving signature's unknown batch size: no XLA either.
    spec = tf.TensorSpec([None, TIME, FEATURES], tf.float32)
    assert not xla_functions(trace(spec, training=False))
    np.testing.assert_allclose(portable(x), ours(x), atol=1e-5)
