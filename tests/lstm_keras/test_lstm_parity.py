"""Outputs, states and gradients match keras.layers.LSTM and the NumPy reference."""

import hypothesis
import hypothesis.strategies as st
import numpy as np
import pytest
import tensorflow as tf
from layer_helpers import (
    FEATURES,
    TIME,
    UNITS,
    masks,
    matched_pair,
    random_inputs,
    random_state,
)

import lstm_keras
from lstm_keras import fallback
from lstm_keras.reference import lstm_forward

OPTIONS = {
    "last_output": {},
    "sequences": {"return_sequences": True},
    "backwards": {"go_backwards": True, "return_sequences": True},
    "states": {"return_state": True},
    "no_bias": {"use_bias": False, "return_sequences": True},
    "backwards_last": {"go_backwards": True},
}


# The fallback runs the input matmul per step for narrow inputs and up front
# for wide ones (`fallback.projects_per_step`); both must match.
INPUT_WIDTHS = {"narrow": FEATURES, "wide": 2 * UNITS}


def _as_list(result):
    return [
        np.asarray(r)
        for r in (result if isinstance(result, (list, tuple)) else [result])
    ]


def _assert_close(ours, theirs):
    """One result or a list of them, ours against Keras's, to 1e-5."""
    for a, b in zip(_as_list(ours), _as_list(theirs), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("width", list(INPUT_WIDTHS))
@pytest.mark.parametrize("mask_name", list(masks()))
@pytest.mark.parametrize("option_name", list(OPTIONS))
def test_outputs_and_states_match_keras(option_name, mask_name, width):
    features = INPUT_WIDTHS[width]
    ours, theirs = matched_pair(features=features, **OPTIONS[option_name])
    x, mask = random_inputs(features=features), masks()[mask_name]
    for a, b in zip(
        _as_list(ours(x, mask=mask)), _as_list(theirs(x, mask=mask)), strict=True
    ):
        np.testing.assert_allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("mask_name", ["none", "right_padded", "holes"])
def test_initial_state_matches_keras(mask_name):
    ours, theirs = matched_pair(return_sequences=True, return_state=True)
    x, mask = random_inputs(), masks()[mask_name]
    state = [random_state(1), random_state(2)]
    _assert_close(
        ours(x, mask=mask, initial_state=state),
        theirs(x, mask=mask, initial_state=state),
    )


def _gradients(layer, x, mask, state, training):
    x = tf.convert_to_tensor(x)
    state = [tf.convert_to_tensor(s) for s in state]
    with tf.GradientTape() as tape:
        tape.watch([x, *state])
        outputs = layer(x, mask=mask, initial_state=state, training=training)
        weights = tf.random.stateless_normal(tf.shape(outputs[0]), seed=[3, 0])
        # Weighted sums reach every output, both final states included.
        loss = tf.reduce_sum(outputs[0] * weights) + tf.reduce_sum(
            outputs[1] * outputs[2]
        )
    return tape.gradient(loss, [x, *state, *layer.trainable_variables])


@pytest.mark.parametrize("width", list(INPUT_WIDTHS))
@pytest.mark.parametrize("mask_name", list(masks()))
@pytest.mark.parametrize("option_name", ["sequences", "backwards", "last_output"])
@pytest.mark.parametrize("in_function", [False, True], ids=["eager", "tf_function"])
def test_gradients_match_keras(option_name, mask_name, in_function, width):
    features = INPUT_WIDTHS[width]
    assert fallback.projects_per_step(features, UNITS) == (width == "narrow")
    ours, theirs = matched_pair(
        features=features, return_state=True, **OPTIONS[option_name]
    )
    x, mask = random_inputs(features=features), masks()[mask_name]
    state = [random_state(1), random_state(2)]
    run = tf.function(_gradients, reduce_retracing=True) if in_function else _gradients
    # training=True: the fused path with its hand-written backward.
    for a, b in zip(
        run(ours, x, mask, state, True), run(theirs, x, mask, state, True), strict=True
    ):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5)


@pytest.mark.parametrize("width", list(INPUT_WIDTHS))
@pytest.mark.parametrize("output", [0, 1, 2], ids=["last_output", "h", "c"])
def test_gradient_of_one_output_alone(output, width):
    """A loss on one output leaves the others without gradient (None upstream)."""
    features = INPUT_WIDTHS[width]
    ours, theirs = matched_pair(features=features, return_state=True)
    x, mask = tf.constant(random_inputs(features=features)), masks()["holes"]

    @tf.function
    def gradients(layer):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(layer(x, mask=mask, training=True)[output] ** 2)
        return tape.gradient(loss, [x, *layer.trainable_variables])

    for a, b in zip(gradients(ours), gradients(theirs), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5)


@hypothesis.settings(max_examples=12, deadline=None)
@hypothesis.given(
    batch=st.integers(1, 3),
    time=st.integers(1, 10),
    features=st.integers(1, 4),
    units=st.integers(1, 6),
    go_backwards=st.booleans(),
    mask_seed=st.integers(0, 1000),
)
def test_matches_numpy_reference(batch, time, features, units, go_backwards, mask_seed):
    ours, _ = matched_pair(
        units=units, features=features, return_sequences=True, go_backwards=go_backwards
    )
    x = random_inputs(mask_seed, batch, time, features)
    mask = np.random.RandomState(mask_seed).rand(batch, time) > 0.3
    state = [random_state(1, batch, units), random_state(2, batch, units)]
    expected, h, c = lstm_forward(
        x,
        *ours.get_weights(),
        initial_state=state,
        mask=mask,
        go_backwards=go_backwards,
    )
    ours.return_state = True
    outputs, h_ours, c_ours = ours(x, mask=mask, initial_state=state)
    np.testing.assert_allclose(outputs, expected, atol=1e-5)
    np.testing.assert_allclose(h_ours, h, atol=1e-5)
    np.testing.assert_allclose(c_ours, c, atol=1e-5)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"activation": "relu"},
        {"recurrent_activation": "hard_sigmoid"},
        {"unroll": True},
        {"recurrent_dropout": 0.3},  # inactive at inference, but forces the loop
    ],
    ids=["relu", "hard_sigmoid", "unroll", "recurrent_dropout"],
)
def test_cell_loop_matches_keras(kwargs):
    ours, theirs = matched_pair(return_sequences=True, **kwargs)
    x, mask = random_inputs(), masks()["holes"]
    np.testing.assert_allclose(ours(x, mask=mask), theirs(x, mask=mask), atol=1e-5)
    assert ours.last_implementation == "cell_loop"
    state = [random_state(1), random_state(2)]
    ours.return_state = theirs.return_state = True
    for a, b in zip(
        _gradients(ours, x, mask, state, False),
        _gradients(theirs, x, mask, state, False),
        strict=True,
    ):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5)


def test_weights_move_both_ways_with_keras():
    ours, theirs = matched_pair()
    assert [w.shape for w in ours.get_weights()] == [
        w.shape for w in theirs.get_weights()
    ]
    assert [v.name for v in ours.weights] == [v.name for v in theirs.weights]
    ours.set_weights([w * 2 for w in ours.get_weights()])
    theirs.set_weights(ours.get_weights())
    x = random_inputs()
    np.testing.assert_allclose(ours(x), theirs(x), atol=1e-5)


@pytest.mark.parametrize("width", list(INPUT_WIDTHS))
@pytest.mark.parametrize("mask_name", ["none", "holes"])
@pytest.mark.parametrize("training", [True, False], ids=["training", "inference"])
def test_fallback_compiles_with_xla(width, mask_name, training):
    """`use_cudnn=False` leaves no cuDNN twin, so XLA may compile the fallback.

    Inference with narrow inputs steps one activation per gate there."""
    features = INPUT_WIDTHS[width]
    ours, theirs = matched_pair(
        features=features, return_sequences=True, use_cudnn=False
    )
    x, mask = tf.constant(random_inputs(features=features)), masks()[mask_name]

    def outputs_and_gradients(layer):
        with tf.GradientTape() as tape:
            outputs = layer(x, mask=mask, training=training)
            loss = tf.reduce_sum(outputs**2)
        return [outputs, *tape.gradient(loss, layer.trainable_variables)]

    compiled = tf.function(outputs_and_gradients, jit_compile=True)
    for a, b in zip(compiled(ours), outputs_and_gradients(theirs), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5)


@pytest.mark.parametrize("width", list(INPUT_WIDTHS))
@pytest.mark.parametrize("training", [False, True])
def test_states_of_unknown_static_shape(width, training):
    """States traced as `[None, None]` (e.g. a while loop's relaxed shapes)."""
    features = INPUT_WIDTHS[width]
    ours, theirs = matched_pair(
        features=features, return_sequences=True, return_state=True
    )
    x = random_inputs(features=features)
    state = [random_state(1), random_state(2)]
    unknown = tf.TensorSpec([None, None], tf.float32)

    @tf.function(
        input_signature=[tf.TensorSpec([None, None, features]), unknown, unknown]
    )
    def run(x, h, c):
        with tf.GradientTape() as tape:
            tape.watch([h, c])
            outputs = ours(x, initial_state=[h, c], training=training)
        return outputs, tape.gradient(tf.reduce_sum(outputs[0]), [h, c])

    outputs, _ = run(x, *state)
    for a, b in zip(outputs, theirs(x, initial_state=state), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5)


@pytest.fixture
def three_batch_parts(monkeypatch):
    """Inference and training cut every batch into 3 parts (uneven for
    BATCH=4)."""
    monkeypatch.setattr(fallback, "MIN_CHAIN_ELEMENTS", 1)
    monkeypatch.setattr(fallback, "batch_chains", lambda batch_size, units: 3)
    monkeypatch.setattr(fallback, "training_chains", lambda batch_size: 3)


@pytest.mark.parametrize("width", list(INPUT_WIDTHS))
@pytest.mark.parametrize("mask_name", list(masks()))
@pytest.mark.parametrize("option_name", ["sequences", "backwards_last"])
@pytest.mark.parametrize("training", [False, True], ids=["inference", "training"])
def test_batch_parts_match_keras(
    three_batch_parts, training, option_name, mask_name, width
):
    """Parts of the batch side by side: outputs and gradients. Inference:
    autodiff through the parts' loop; training: each part's hand-written
    backward."""
    features = INPUT_WIDTHS[width]
    ours, theirs = matched_pair(
        features=features, return_state=True, **OPTIONS[option_name]
    )
    x, mask = random_inputs(features=features), masks()[mask_name]
    state = [random_state(1), random_state(2)]
    _assert_close(
        ours(x, mask=mask, initial_state=state, training=training),
        theirs(x, mask=mask, initial_state=state),
    )
    _assert_close(
        _gradients(ours, x, mask, state, training),
        _gradients(theirs, x, mask, state, training),
    )


@pytest.mark.parametrize("width", list(INPUT_WIDTHS))
@pytest.mark.parametrize("batch", [4, 2], ids=["parts", "too_small_for_parts"])
def test_batch_parts_of_unknown_batch_size(three_batch_parts, batch, width):
    """An unknown batch size is cut at run time, when it is large enough."""
    features = INPUT_WIDTHS[width]
    ours, theirs = matched_pair(features=features, return_sequences=True)
    run = tf.function(
        lambda x, mask: ours(x, mask=mask),
        input_signature=[
            tf.TensorSpec([None, None, features]),
            tf.TensorSpec([None, None], tf.bool),
        ],
    )
    x, mask = random_inputs(batch=batch, features=features), masks()["holes"][:batch]
    np.testing.assert_allclose(run(x, mask), theirs(x, mask=mask), atol=1e-5)


@pytest.mark.parametrize("batch", [4, 1], ids=["parts", "an_empty_part"])
def test_training_batch_parts_of_unknown_batch_size(monkeypatch, batch):
    """An unknown batch size is cut at run time; a part may have no rows."""
    monkeypatch.setattr(fallback, "training_chains", lambda batch_size: 2)
    ours, theirs = matched_pair(return_sequences=True)

    @tf.function(input_signature=[tf.TensorSpec([None, TIME, FEATURES])])
    def run(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            outputs = ours(x, training=True)
            loss = tf.reduce_sum(tf.sin(outputs))
        return outputs, tape.gradient(loss, [x, *ours.trainable_variables])

    x = tf.constant(random_inputs(batch=batch))
    with tf.GradientTape() as tape:
        tape.watch(x)
        expected = theirs(x)
        loss = tf.reduce_sum(tf.sin(expected))
    expected_gradients = tape.gradient(loss, [x, *theirs.trainable_variables])
    outputs, gradients = run(x)
    _assert_close([outputs, *gradients], [expected, *expected_gradients])


def test_training_chains_follow_cores_and_batch_size(monkeypatch):
    monkeypatch.setattr(fallback.os, "sched_getaffinity", lambda pid: {0, 1})
    rows = fallback.MIN_TRAINING_CHAIN_ROWS
    assert fallback.training_chains(2 * rows) == 2
    assert fallback.training_chains(2 * rows - 1) == 1
    assert fallback.training_chains(None) == 2
    monkeypatch.setattr(fallback.os, "sched_getaffinity", lambda pid: {0})
    assert fallback.training_chains(1024) == 1


def test_batch_chains_follow_cores_threads_and_batch_size(monkeypatch):
    monkeypatch.setattr(fallback.os, "sched_getaffinity", lambda pid: set(range(8)))
    units = 128  # parts of at least 4096 / 128 = 32 rows
    assert fallback.batch_chains(64, units) == 2
    assert fallback.batch_chains(16, units) == 1
    assert fallback.batch_chains(1024, units) == fallback.MAX_CHAINS
    assert fallback.batch_chains(None, units) == fallback.MAX_CHAINS
    monkeypatch.setattr(
        tf.config.threading, "get_inter_op_parallelism_threads", lambda: 3
    )
    assert fallback.batch_chains(1024, units) == 3
    monkeypatch.setattr(fallback.os, "sched_getaffinity", lambda pid: {0})
    assert fallback.batch_chains(1024, units) == 1


def test_split_batch_parts_cover_the_batch():
    x = tf.reshape(tf.range(7 * 2), [7, 2])
    parts = fallback.split_batch(x, 3)
    assert [int(p.shape[0]) for p in parts] == [3, 2, 2]
    np.testing.assert_array_equal(tf.concat(parts, 0), x)
    assert fallback.split_batch(None, 2) == [None, None]


@pytest.mark.parametrize("width", list(INPUT_WIDTHS))
@pytest.mark.parametrize("jit_compile", [False, True], ids=["graph", "xla"])
def test_batch_parts_under_xla(three_batch_parts, monkeypatch, width, jit_compile):
    """XLA runs parts one after the other: narrow inputs keep one recurrence."""
    parts_used = []
    parts_loop = fallback._parts_loop

    def spy(*arguments, **options):
        parts_used.append((arguments[8], options.get("per_gate", False)))
        return parts_loop(*arguments, **options)

    monkeypatch.setattr(fallback, "_parts_loop", spy)
    features = INPUT_WIDTHS[width]
    ours, theirs = matched_pair(
        features=features, return_sequences=True, use_cudnn=False
    )
    x, mask = tf.constant(random_inputs(features=features)), masks()["holes"]
    run = tf.function(lambda x: ours(x, mask=mask), jit_compile=jit_compile)
    # Without XLA around it, inference compiles its own parts' loops unless
    # in portable graphs, which run the plain parts loop measured here.
    with lstm_keras.portable_graphs():
        result = run(x)
    np.testing.assert_allclose(result, theirs(x, mask=mask), atol=1e-5)
    narrow_under_xla = jit_compile and width == "narrow"
    assert parts_used == [(1, True) if narrow_under_xla else (3, False)]
