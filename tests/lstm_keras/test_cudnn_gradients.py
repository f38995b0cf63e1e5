"""cuDNN's own gradients, recorded on a GPU, held against every CPU path.

`data/cudnn_extended.npz` (keys and the conversion to Keras in
`data/cudnn_extended.json`; provenance in `data/README.md`) holds, for 7
small cases, what `torch.nn.LSTM` computed on cuDNN 9.19 (NVIDIA H200,
float32, TF32 off; autograd ran `CudnnRnnBackward0` in every case): outputs,
final states and the gradients of a fixed loss with respect to the inputs,
the initial states and every weight. The cases cover right-padded variable
lengths (packed sequences), no mask, `go_backwards`, LSTMP (`proj_units`)
and inputs wider than the units (the fallback's whole-sequence backward).

Every implementation the layer can run on a CPU is held to them: the fused
fallback's training path (hand-written gradients) and inference path
(autodiff), eager and inside `tf.function`; the cell loop (a cell subclass
that changes nothing but is not recognized as classic); and
`keras.layers.LSTM` itself where it applies (no projection).
"""

import json
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

import lstm_keras
from lstm_keras import cudnn

DATA = Path(__file__).parent / "data"
META = json.loads((DATA / "cudnn_extended.json").read_text())["meta"]
CASES = sorted(META["cases"])


class SameCell(lstm_keras.LSTMCell):
    """The classic cell, but overriding `gate_step`: forces the cell loop."""

    def gate_step(self, projected_inputs, h_prev, c_prev, recurrent_kernel):
        return super().gate_step(projected_inputs, h_prev, c_prev, recurrent_kernel)


class CellLoopLSTM(lstm_keras.LSTM):
    cell_class = SameCell


def _case(name):
    arrays = np.load(DATA / "cudnn_extended.npz")
    prefix = name + "/"
    case = {k[len(prefix) :]: arrays[k] for k in arrays.files if k.startswith(prefix)}
    return case, META["cases"][name]


def _keras_weights(case):
    """PyTorch's weights (gates i, f, g, o) in Keras's order and layout."""
    weights = [
        case["weight/weight_ih_l0"].T,
        case["weight/weight_hh_l0"].T,
        case["weight/bias_ih_l0"] + case["weight/bias_hh_l0"],
    ]
    if "weight/weight_hr_l0" in case:
        weights.append(case["weight/weight_hr_l0"].T)
    return weights


def _expected_weight_gradients(case):
    """cuDNN's weight gradients in Keras's layout (the bias's once: cuDNN's
    input and recurrent biases get the same gradient)."""
    np.testing.assert_allclose(
        case["grad/bias_ih_l0"], case["grad/bias_hh_l0"], atol=1e-6
    )
    gradients = [
        case["grad/weight_ih_l0"].T,
        case["grad/weight_hh_l0"].T,
        case["grad/bias_ih_l0"],
    ]
    if "grad/weight_hr_l0" in case:
        gradients.append(case["grad/weight_hr_l0"].T)
    return gradients


def _tolerance(meta, key):
    """cuDNN's float32 results strayed from float64 by `dev`; ours may stray as
    far the other way. A floor covers arrays cuDNN happened to hit closely."""
    dev = meta["max_abs_dev_from_float64"][key]
    scale = meta["max_abs_value"][key]
    return 4 * dev + 2e-6 * max(1.0, scale)


def _build(layer_class, case, meta, **kwargs):
    layer = layer_class(
        meta["units"],
        return_sequences=True,
        return_state=True,
        go_backwards=meta["go_backwards"],
        **kwargs,
    )
    layer.build((None, None, meta["features"]))
    layer.set_weights(_keras_weights(case))
    return layer


def _results_and_gradients(layer, case, meta, training, in_function):
    """The layer's outputs, states and the recorded loss's gradients."""
    x, h0, c0 = (tf.constant(case[k]) for k in ("x", "h0", "c0"))
    mask = tf.constant(case["mask"]) if meta["masked"] else None
    upstream = [tf.constant(case["grad_in/" + k]) for k in ("outputs", "h", "c")]

    def run(x, h0, c0):
        with tf.GradientTape() as tape:
            tape.watch([x, h0, c0])
            results = layer(x, initial_state=[h0, c0], mask=mask, training=training)
            # The loss the recording differentiated.
            loss = sum(
                tf.reduce_sum(r * g) for r, g in zip(results, upstream, strict=True)
            )
        sources = [x, h0, c0, *layer.trainable_weights]
        return results, tape.gradient(loss, sources)

    if in_function:
        run = tf.function(run)
    results, gradients = run(x, h0, c0)
    return [r.numpy() for r in results], [g.numpy() for g in gradients]


def _check(layer, case, meta, training, in_function):
    (outputs, h, c), gradients = _results_and_gradients(
        layer, case, meta, training, in_function
    )
    valid = case["valid"]
    # Keras repeats the last output at masked steps where PyTorch leaves
    # zeros: only the valid steps hold cuDNN's results.
    np.testing.assert_allclose(
        outputs[valid], case["outputs"][valid], atol=_tolerance(meta, "outputs")
    )
    np.testing.assert_allclose(h, case["h"], atol=_tolerance(meta, "h"))
    np.testing.assert_allclose(c, case["c"], atol=_tolerance(meta, "c"))
    names = ["x", "h0", "c0", "weight_ih_l0", "weight_hh_l0", "bias_ih_l0"]
    expected = [case["grad/x"], case["grad/h0"], case["grad/c0"]]
    expected += _expected_weight_gradients(case)
    if meta["proj"]:
        names.append("weight_hr_l0")
    assert len(gradients) == len(expected) == len(names)
    for name, ours, theirs in zip(names, gradients, expected, strict=True):
        np.testing.assert_allclose(
            ours,
            theirs,
            atol=_tolerance(meta, "grad/" + name),
            err_msg=f"gradient of {name}",
        )


def test_recording_covers_what_it_claims():
    assert len(CASES) == 7
    assert all(meta["cudnn_ran"] for meta in META["cases"].values())
    assert all(
        meta["autograd_rnn_nodes"] == ["CudnnRnnBackward0"]
        for meta in META["cases"].values()
    )
    kinds = {
        (m["masked"], m["go_backwards"], bool(m["proj"]), m["features"] > m["units"])
        for m in META["cases"].values()
    }
    assert (True, True, False, False) in kinds  # masked go_backwards
    assert (False, False, True, False) in kinds  # unmasked LSTMP
    assert (True, False, False, True) in kinds  # wide inputs
    assert not META["tf32"]["cudnn.allow_tf32"]


@pytest.mark.parametrize("name", CASES)
def test_canonical_params_match_cudnns_weight_space(name):
    case, meta = _case(name)
    kernel, recurrent_kernel, bias, *projection = (
        tf.constant(w) for w in _keras_weights(case)
    )
    params = cudnn.canonical_params(
        kernel, recurrent_kernel, bias, projection[0] if projection else None
    ).numpy()
    buffer = case["buffer"]
    assert params.shape == buffer.shape == (meta["buffer_floats"],)
    biases_at = meta["offsets"]["bias_ih_l0"]
    np.testing.assert_array_equal(params[:biases_at], buffer[:biases_at])


@pytest.mark.parametrize("in_function", [False, True], ids=["eager", "function"])
@pytest.mark.parametrize("training", [True, False], ids=["training", "inference"])
@pytest.mark.parametrize("name", CASES)
def test_fused_fallback_matches_cudnn(name, training, in_function):
    case, meta = _case(name)
    layer = _build(
        lstm_keras.LSTM, case, meta, proj_units=meta["proj"] or None, use_cudnn=False
    )
    _check(layer, case, meta, training, in_function)
    if not in_function:
        assert layer.last_implementation == "fused"


@pytest.mark.parametrize("name", CASES)
def test_auto_layer_matches_cudnn_in_a_function(name):
    # use_cudnn="auto" on a CPU: the graph carries the cuDNN twin, the
    # fallback runs, and its gradient is the one taken.
    case, meta = _case(name)
    layer = _build(lstm_keras.LSTM, case, meta, proj_units=meta["proj"] or None)
    _check(layer, case, meta, training=True, in_function=True)


@pytest.mark.parametrize("in_function", [False, True], ids=["eager", "function"])
@pytest.mark.parametrize("name", CASES)
def test_cell_loop_matches_cudnn(name, in_function):
    case, meta = _case(name)
    layer = _build(CellLoopLSTM, case, meta, proj_units=meta["proj"] or None)
    _check(layer, case, meta, training=True, in_function=in_function)
    if not in_function:
        assert layer.last_implementation == "cell_loop"


@pytest.mark.parametrize("name", [n for n in CASES if not META["cases"][n]["proj"]])
def test_keras_lstm_matches_cudnn(name):
    # Keras's own LSTM (no projection there), so that a drift in Keras
    # would show beside ours.
    case, meta = _case(name)
    layer = _build(keras.layers.LSTM, case, meta)
    _check(layer, case, meta, training=True, in_function=False)
