"""The fused cuDNN path: eligibility, weight conversion and the raw op call.

cuDNN runs only on a GPU, so in a graph the layer never decides in Python
whether it is used: `run_on_device` puts both implementations in the graph and
TensorFlow picks one where the call is placed. A SavedModel exported on a GPU
therefore still runs on a CPU-only server, and one exported on a CPU uses cuDNN
when served on a GPU. (`tf.__internal__.execute_fn_for_device` would do the
same, but differentiating it crashes TensorFlow 2.21 on CPU.)
"""

from __future__ import annotations

import uuid

import keras
import tensorflow as tf

_TANH = (keras.activations.tanh, tf.tanh, tf.nn.tanh, keras.ops.tanh)
_SIGMOID = (keras.activations.sigmoid, tf.sigmoid, tf.nn.sigmoid, keras.ops.sigmoid)

# Returned beside the outputs so that eager callers can see which kernel ran.
FALLBACK, CUDNN = 0, 1


def has_classic_activations(cell) -> bool:
    """tanh and sigmoid: what cuDNN and the fused fallback both compute."""
    return cell.activation in _TANH and cell.recurrent_activation in _SIGMOID


def ineligibility_reasons(layer) -> list[str]:
    """Every static reason the layer's configuration cannot run on cuDNN."""
    cell = layer.cell
    reasons = []
    if cell.activation not in _TANH:
        reasons.append(f"activation is {_name(cell.activation)}, cuDNN needs tanh")
    if cell.recurrent_activation not in _SIGMOID:
        reasons.append(
            f"recurrent_activation is {_name(cell.recurrent_activation)}, "
            "cuDNN needs sigmoid"
        )
    if cell.recurrent_dropout:
        reasons.append(
            f"recurrent_dropout={cell.recurrent_dropout} (cuDNN has no per-step "
            "dropout; weight_dropout is the cuDNN-compatible alternative)"
        )
    if layer.unroll:
        reasons.append("unroll=True")
    if cell.proj_units and cell.proj_units >= cell.units:
        # cuDNN's documentation allows equality; PyTorch refuses it, and
        # only smaller projections were run on cuDNN (test_cudnn_recorded).
        reasons.append(
            f"proj_units={cell.proj_units} is not below units={cell.units} "
            "(cuDNN's projection must be smaller)"
        )
    if not cell.uses_classic_equations:
        reasons.append(
            f"{type(cell).__name__} overrides gate_step/project_inputs "
            "(cuDNN only computes the classic equations)"
        )
    if layer.compute_dtype == "bfloat16":
        reasons.append("compute dtype bfloat16 is not supported by cuDNN's LSTM")
    return reasons


def _name(function) -> str:
    return getattr(function, "__name__", repr(function))


def canonical_params(kernel, recurrent_kernel, bias, projection_kernel=None):
    """Packs Keras-layout weights into cuDNN's flat weight space.

    cuDNN's order: the 4 input matrices W_i, W_f, W_c, W_o (each `[units,
    input_dim]`, row-major), the 4 recurrent matrices R_* (`[units, state]`),
    for LSTMP the projection matrix (`[proj_units, units]`), then 4 input
    biases and 4 recurrent biases. The Keras bias goes in the recurrent
    biases, the input biases are zero: cuDNN adds both. The layout was read
    from cuDNN itself (tests/lstm_keras/test_cudnn_recorded.py).
    """
    weights = tf.split(kernel, 4, axis=1) + tf.split(recurrent_kernel, 4, axis=1)
    if projection_kernel is not None:
        weights.append(projection_kernel)  # [units, proj_units]
    if bias is None:
        bias = tf.zeros([kernel.shape[1]], dtype=kernel.dtype)
    biases = tf.split(tf.concat([tf.zeros_like(bias), bias], axis=0), 8)
    flat = [tf.reshape(tf.transpose(w), [-1]) for w in weights]
    return tf.concat(flat + biases, axis=0)


def _is_right_padded(mask):
    """mask `[batch, time]`: every row is ones then zeros, and none is empty."""
    lengths = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)
    right_padded = tf.sequence_mask(lengths, maxlen=tf.shape(mask)[1])
    return tf.logical_and(
        tf.reduce_all(tf.equal(mask, right_padded)), tf.reduce_all(lengths > 0)
    )


def cudnn_lstm(
    inputs,
    kernel,
    recurrent_kernel,
    bias,
    h0,
    c0,
    mask,
    go_backwards,
    projection=None,
):
    """One `CudnnRNNV3` call with Keras semantics.

    Args:
        inputs: `[batch, time, input_dim]`, original time order.
        mask: `[batch, time]` bool, right-padded (checked by the caller), or
            None.
        projection: LSTMP's `[units, proj_units]` kernel, or None; h and the
            outputs then have `proj_units` features (cuDNN's `num_proj`).

    Returns:
        `(hidden [time, batch, units], c_last)`: the carried hidden state per
        step in processing order (reversed when `go_backwards`), as the
        portable loops return it.
    """
    inputs = tf.transpose(inputs, [1, 0, 2])  # [time, batch, input_dim]
    time_steps, batch = tf.shape(inputs)[0], tf.shape(inputs)[1]
    if mask is None:
        lengths = tf.fill([batch], time_steps)
    else:
        lengths = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)
    if go_backwards:
        # Reverse each sequence's valid part, so padding stays on the right.
        inputs = tf.reverse_sequence(inputs, lengths, seq_axis=0, batch_axis=1)
    outputs, h, c, _, _ = tf.raw_ops.CudnnRNNV3(
        input=inputs,
        input_h=h0[None],
        input_c=c0[None],
        params=canonical_params(kernel, recurrent_kernel, bias, projection),
        sequence_lengths=lengths,
        rnn_mode="lstm",
        num_proj=0 if projection is None else projection.shape[-1],
        is_training=True,
        time_major=True,
    )
    h, c = h[0], c[0]
    if mask is None:
        return outputs, c
    valid = tf.transpose(mask)[..., None]  # [time, batch, 1]
    if not go_backwards:
        # Steps after the end keep the last state.
        return tf.where(valid, outputs, h[None]), c
    # Processing order is the full reversal: padding comes first, keeping h0.
    outputs = tf.reverse(
        tf.reverse_sequence(outputs, lengths, seq_axis=0, batch_axis=1), [0]
    )
    return tf.where(tf.reverse(valid, [0]), outputs, h0[None]), c


def run_on_device(
    cudnn_fn, fallback_fn, gpu_fallback_fn, arguments, mask, training=True
):
    """Runs `cudnn_fn` on a GPU (when the mask allows) and `fallback_fn` elsewhere.

    All take `arguments` (a tuple of tensors; `mask` last when not None) and
    return `(hidden, c_last)`; the result gains an int32 code (`CUDNN` or
    `FALLBACK`) naming the branch that ran. `gpu_fallback_fn` serves masks
    cuDNN cannot take on a GPU; it must not use a custom gradient (it runs
    inside `tf.cond`).

    Eagerly, the choice is made here. In a graph, both branches become
    functions with the same `api_implements` name: the graph calls the
    fallback, and Grappler's implementation selector swaps in the cuDNN one
    when the call is placed on a GPU (the mechanism tf.keras used). So the
    choice happens where the graph runs, and a SavedModel carries both.
    `training` false (an inference call: Keras's evaluation and prediction,
    serving signatures) leaves out the GPU twin's gradient functions, whose
    building cost up to 0.4 s per masked layer and trace on a 2-core CPU: on
    a GPU, a gradient through that call should then run the fallback's
    forward and gradient (the selector finds no GPU twin for them).
    """

    def fallback(*args):
        return (*fallback_fn(*args), tf.constant(FALLBACK))

    def gpu(*args):
        if mask is None:
            return (*cudnn_fn(*args), tf.constant(CUDNN))
        # Left padding, holes and empty rows: cuDNN would be wrong; fall back.
        return tf.cond(
            _is_right_padded(args[-1]),
            lambda: (*cudnn_fn(*args), tf.constant(CUDNN)),
            lambda: (*gpu_fallback_fn(*args), tf.constant(FALLBACK)),
        )

    if tf.executing_eagerly():
        if tf.config.list_logical_devices("GPU") and _on_gpu(arguments[0]):
            return gpu(*arguments)
        return fallback(*arguments)

    api_name = f"lstm_keras_lstm_{uuid.uuid4().hex}"
    on_cpu, on_gpu = (
        tf.function(
            function,
            autograph=False,
            experimental_attributes={
                "api_implements": api_name,
                "api_preferred_device": device,
            },
        )
        for function, device in ((fallback, "CPU"), (gpu, "GPU"))
    )
    result = on_cpu(*arguments)
    # Register the GPU twin (and, for training, its gradient) for the selector.
    twin = on_gpu.get_concrete_function(*arguments)
    twin.add_to_graph()
    if training:
        twin.add_gradient_functions_to_graph()
    return result


def _on_gpu(tensor) -> bool:
    return "GPU" in (getattr(tensor, "device", "") or "").upper()
