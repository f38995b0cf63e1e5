"""The layer inside Keras: Bidirectional, Embedding masks, stateful, dropout,
mixed precision, and the streaming step API."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from layer_helpers import (
    FEATURES,
    TIME,
    UNITS,
    matched_pair,
    random_inputs,
    random_state,
    xla_functions,
)

import lstm_keras


def _bidirectional_pair():
    ours = keras.layers.Bidirectional(lstm_keras.LSTM(4, return_sequences=True))
    theirs = keras.layers.Bidirectional(keras.layers.LSTM(4, return_sequences=True))
    for layer in (ours, theirs):
        layer.build((None, None, 6))
    theirs.set_weights(
        [
            np.random.RandomState(i).randn(*w.shape).astype("float32") * 0.5
            for i, w in enumerate(theirs.get_weights())
        ]
    )
    ours.set_weights(theirs.get_weights())
    return ours, theirs


def test_bidirectional_with_embedding_mask_matches_keras():
    ours, theirs = _bidirectional_pair()
    embedding = keras.layers.Embedding(10, 6, mask_zero=True)
    tokens = np.array([[3, 4, 5, 0, 0], [1, 2, 0, 0, 0], [7, 8, 9, 1, 2]])
    vectors = embedding(tokens)
    mask = embedding.compute_mask(tokens)

    def run(layer):
        with tf.GradientTape() as tape:
            outputs = layer(vectors, mask=mask)
            loss = tf.reduce_sum(outputs * tf.range(1.0, 9.0))
        return outputs, tape.gradient(loss, layer.trainable_variables)

    (out_ours, grads_ours), (out_theirs, grads_theirs) = run(ours), run(theirs)
    np.testing.assert_allclose(out_ours, out_theirs, atol=1e-5)
    for a, b in zip(grads_ours, grads_theirs, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_stateful_matches_keras_across_calls():
    _, reference = matched_pair()
    models = []
    for layer in (
        lstm_keras.LSTM(5, stateful=True, return_sequences=True),
        keras.layers.LSTM(5, stateful=True, return_sequences=True),
    ):
        models.append(keras.Sequential([keras.Input(batch_shape=(4, None, 3)), layer]))
        layer.set_weights(reference.get_weights())
    ours, theirs = models
    x = random_inputs()
    first = ours(x)
    np.testing.assert_allclose(first, theirs(x), atol=1e-5)
    second = ours(x)
    np.testing.assert_allclose(second, theirs(x), atol=1e-5)
    assert not np.allclose(second, first)  # the state carried over
    for model in models:
        model.layers[0].reset_state()
    np.testing.assert_allclose(ours(x), first, atol=1e-6)
    np.testing.assert_allclose(theirs(x), first, atol=1e-5)


def test_dropout_is_seeded_and_only_in_training():
    layer_a, _ = matched_pair(dropout=0.5, weight_dropout=0.5, seed=7)
    layer_b, _ = matched_pair(dropout=0.5, weight_dropout=0.5, seed=7)
    plain, _ = matched_pair()
    x = random_inputs()
    dropped = layer_a(x, training=True)
    np.testing.assert_allclose(dropped, layer_b(x, training=True), atol=1e-6)
    assert np.abs(np.asarray(dropped) - np.asarray(plain(x))).max() > 1e-3
    np.testing.assert_allclose(layer_a(x), plain(x), atol=1e-6)


def test_recurrent_dropout_trains_on_the_cell_loop():
    layer, _ = matched_pair(recurrent_dropout=0.5, seed=1, return_sequences=True)
    x = random_inputs()
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x, training=True))
    assert layer.last_implementation == "cell_loop"
    assert all(np.isfinite(g).all() for g in tape.gradient(loss, layer.weights))
    assert not np.allclose(layer(x, training=True), layer(x))


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision(policy):
    reference, _ = matched_pair(return_sequences=True)
    keras.config.set_dtype_policy(policy)
    try:
        layer = lstm_keras.LSTM(5, return_sequences=True)
        layer.build((None, None, 3))
        layer.set_weights(reference.get_weights())
        x = random_inputs()
        with tf.GradientTape() as tape:
            outputs = layer(x, training=True)
            loss = tf.reduce_sum(tf.cast(outputs, "float32"))
        gradients = tape.gradient(loss, layer.trainable_variables)
    finally:
        keras.config.set_dtype_policy("float32")
    assert outputs.dtype == keras.mixed_precision.Policy(policy).compute_dtype
    assert all(g.dtype == "float32" for g in gradients)
    np.testing.assert_allclose(np.asarray(outputs, "float32"), reference(x), atol=3e-2)


@pytest.mark.parametrize(
    "make_layer",
    [
        lambda: lstm_keras.LSTM(5),
        lambda: lstm_keras.LayerNormLSTM(5),
        lambda: lstm_keras.LSTM(5, proj_units=3),
    ],
    ids=["lstm", "layer_norm", "projection"],
)
def test_step_chunks_equal_whole_sequence(make_layer):
    layer = make_layer()
    layer.build((None, None, 3))
    state_units = layer.cell.state_size[0]
    x = random_inputs(time=9)
    h0 = random_state(1, units=state_units)
    c0 = random_state(2)
    whole, (h_whole, c_whole) = layer.step(x, [h0, c0])
    states, chunks = [h0, c0], []
    for start, stop in ((0, 1), (1, 5), (5, 9)):
        outputs, states = layer.step(x[:, start:stop], states)
        chunks.append(outputs)
    np.testing.assert_allclose(np.concatenate(chunks, 1), whole, atol=1e-5)
    np.testing.assert_allclose(states[0], h_whole, atol=1e-5)
    np.testing.assert_allclose(states[1], c_whole, atol=1e-5)
    sequence_layer = layer.__class__.from_config(
        {**layer.get_config(), "return_sequences": True}
    )
    sequence_layer.build((None, None, 3))
    sequence_layer.set_weights(layer.get_weights())
    np.testing.assert_allclose(
        sequence_layer(x, initial_state=[h0, c0]), whole, atol=1e-5
    )


def test_wrong_input_rank_is_a_clear_error():
    with pytest.raises(ValueError, match="expected ndim=3"):
        lstm_keras.LSTM(3)(np.zeros((2, 3), "float32"))


def _built_layer(**kwargs):
    layer = lstm_keras.LSTM(4, **kwargs)
    layer.build((None, None, 3))
    return layer


_X = np.zeros((2, 5, 3), "float32")


def _state(units):
    return np.zeros((2, units), "float32")


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda: _built_layer()(np.zeros((2, 5, 7), "float32")),
            r"built for inputs with 3 features; got inputs of shape \(2, 5, 7\)",
        ),
        (
            lambda: _built_layer()(_X, initial_state=[_state(4)]),
            r"initial_state must be a list \[h, c\] of 2 tensors; got 1",
        ),
        (
            lambda: _built_layer()(_X, initial_state=[_state(5), _state(4)]),
            r"initial_state h has shape \(2, 5\); expected \(batch, 4\)",
        ),
        (
            lambda: _built_layer(proj_units=2)(
                _X, initial_state=[_state(2), _state(2)]
            ),
            r"initial_state c has shape \(2, 2\); expected \(batch, 4\)",
        ),
        (
            lambda: lstm_keras.LSTM(4)(_X, mask=np.ones((2, 4), bool)),
            r"mask has shape \(2, 4\); expected \(batch, time\) = \(2, 5\)",
        ),
        (
            lambda: _built_layer().step(_X[:, :1], [_state(3), _state(4)]),
            r"states h has shape \(2, 3\)",
        ),
        (
            lambda: _built_layer().step(
                np.zeros((2, 1, 6), "float32"), [_state(4)] * 2
            ),
            r"built for inputs with 3 features",
        ),
    ],
    ids=[
        "features",
        "one_state",
        "h_shape",
        "c_shape_with_projection",
        "mask_shape",
        "step_states",
        "step_features",
    ],
)
def test_wrong_shapes_are_one_line_errors(call, message):
    with pytest.raises(ValueError, match=message) as error:
        call()
    assert "\n" not in str(error.value)


def test_wrong_shape_is_caught_when_traced():
    layer = _built_layer()
    function = tf.function(lambda x: layer(x))
    with pytest.raises(ValueError, match="built for inputs with 3 features"):
        function.get_concrete_function(tf.TensorSpec([None, None, 7], tf.float32))
    # Unknown dimensions are left to run time.
    function.get_concrete_function(tf.TensorSpec([None, None, 3], tf.float32))


def test_integer_inputs_are_promoted_as_keras_does():
    ours, theirs = matched_pair()
    x = np.random.RandomState(0).randint(-3, 4, size=(2, 5, 3)).astype("int32")
    np.testing.assert_allclose(ours(x), theirs(x), atol=1e-5)
    assert ours(x).dtype == tf.float32


def test_trains_a_toy_task():
    """Sum-sign classification: the model must learn, not just run."""
    rng = np.random.RandomState(0)
    x = rng.randn(512, 12, 1).astype("float32")
    y = (x.sum(axis=(1, 2)) > 0).astype("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((12, 1)), lstm_keras.LSTM(16), keras.layers.Dense(1, "sigmoid")]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(0.02),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(x, y, epochs=8, batch_size=64, verbose=0)
    assert history.history["accuracy"][-1] > 0.9


def test_inference_runs_compiled_loops_except_in_portable_graphs():
    layer = lstm_keras.LSTM(UNITS, return_sequences=True)
    reference = keras.layers.LSTM(UNITS, return_sequences=True)
    x = tf.constant(random_inputs())
    layer(x)
    reference(x)
    reference.set_weights(layer.get_weights())

    def trace(spec, **kwargs):
        return tf.function(lambda x: layer(x, **kwargs)).get_concrete_function(spec)

    compiled = trace(x)
    assert any("_inference_loop" in n for n in xla_functions(compiled))
    with lstm_keras.portable_graphs():
        portable = trace(x)
    assert not xla_functions(portable)
    spec = tf.TensorSpec([None, TIME, FEATURES], tf.float32)
    assert not xla_functions(trace(spec))
    for function in (compiled, portable):
        np.testing.assert_allclose(function(x), reference(x), atol=1e-5)
