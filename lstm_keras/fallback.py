"""Portable LSTM loops in plain TensorFlow: the path used off the GPU.

- `classic_lstm`: the classic equations with tanh/sigmoid. Per step: the
  input matmul (inside the loop for narrow inputs, one large matmul up front
  for wide ones, see `projects_per_step`), one recurrent matmul and a few
  elementwise ops. When training it keeps the gate activations and
  differentiates with a hand-written backward pass: one reverse loop of fused
  elementwise derivatives and one matmul per step on the recurrence, with the
  weight gradients either accumulated step by step beside it or formed as
  large matmuls over all steps afterwards. Autodiff through a while loop
  instead stores and replays every small op (see PERF-NOTES).
- `cell_loop`: any cell's `gate_step` with autodiff, over the input
  projection of all steps; used for variants, custom activations and
  recurrent dropout.

Both return the carried hidden state of every step, time-major, plus the
final cell state.
"""

from __future__ import annotations

import tensorflow as tf

# How many loop iterations TensorFlow may run ahead: the per-step input
# matmuls of coming steps overlap with the recurrence (Keras uses 32 too).
PARALLEL_ITERATIONS = 32


def keras_to_internal_gates(weights):
    """Reorders the last axis from Keras's (i, f, c, o) to (o, i, f, c).

    With o first, the three sigmoid gates are one contiguous block. Slices and
    a concat: `tf.roll` on these small tensors measured several times slower.
    """
    n = weights.shape[-1] // 4
    return tf.concat([weights[..., 3 * n :], weights[..., : 3 * n]], axis=-1)


def processing_order(inputs, mask, go_backwards):
    """Batch-major inputs and mask to time-major, reversed for go_backwards.

    Returns `(inputs [time, batch, features], mask [time, batch] or None)`.
    """
    time_major = tf.transpose(inputs, [1, 0, 2])
    if go_backwards:
        time_major = tf.reverse(time_major, [0])
    return time_major, processing_order_mask(mask, go_backwards)


def processing_order_mask(mask, go_backwards):
    """The mask half of `processing_order`."""
    if mask is None:
        return None
    mask = tf.transpose(mask)  # [time, batch]
    return tf.reverse(mask, [0]) if go_backwards else mask


def projects_per_step(features, units):
    """Whether the input matmul runs inside the loop, step by step.

    Narrow inputs (fewer features than units, e.g. 40 mel bands into 128
    units): the small per-step matmuls run on a second core while the
    recurrence waits, which measured faster than one large matmul up front.
    Wide inputs (stacked or bidirectional layers): the per-step matmul costs as
    much as the recurrent one, and one large projection measured faster.
    """
    return features is not None and features < units


def classic_lstm(
    inputs,
    kernel,
    recurrent_kernel,
    bias,
    h0,
    c0,
    mask,
    go_backwards,
    hand_written_gradient=True,
):
    """The classic LSTM over batch-major `inputs` with Keras-layout weights.

    Same arguments and results as `cudnn.cudnn_lstm`, so the two are
    interchangeable: `(hidden [time, batch, units], c_last)`, hidden being the
    carried state per step in processing order. `hand_written_gradient=False`
    differentiates the loop with autodiff instead: for inference, where the
    gates need not be kept, and inside `tf.cond`, whose gradient cannot
    resolve a custom gradient's captures.
    """
    time_major, mask = processing_order(inputs, mask, go_backwards)
    kernel, recurrent_kernel, bias = (
        keras_to_internal_gates(w) for w in (kernel, recurrent_kernel, bias)
    )
    features, units = time_major.shape[-1], recurrent_kernel.shape[0]
    if projects_per_step(features, units):
        if not hand_written_gradient:
            step_inputs = _per_step_projection(time_major, kernel, bias)
            hidden, c_last, _ = _forward(
                step_inputs, tf.shape(time_major)[0], recurrent_kernel, h0, c0, mask
            )
            return hidden, c_last
        return _with_gradient(_stepwise_gradient, mask)(
            time_major, kernel, bias, recurrent_kernel, h0, c0
        )
    projected = tf.nn.bias_add(
        tf.matmul(tf.reshape(time_major, [-1, features]), kernel), bias
    )
    projected = tf.reshape(
        projected, tf.concat([tf.shape(time_major)[:2], [kernel.shape[-1]]], 0)
    )  # [time, batch, 4u]
    return fused_lstm(
        projected, recurrent_kernel, h0, c0, mask, training=hand_written_gradient
    )


def fused_lstm(projected, recurrent_kernel, h0, c0, mask=None, training=True):
    """Runs the classic LSTM over a precomputed input projection.

    Args:
        projected: `[time, batch, 4u]`, x·W + b of every step, gates ordered
            (o, i, f, c) (see `keras_to_internal_gates`).
        recurrent_kernel: `[u, 4u]`, same gate order.
        h0, c0: `[batch, units]` initial states.
        mask: optional `[time, batch]` bool; a masked step keeps the state.
        training: keep what the hand-written backward pass needs. Without it
            the loop stores only h (inference); it stays differentiable
            through autodiff, only slower.

    Returns:
        `(hidden [time, batch, units], c_last [batch, units])`; `hidden` holds
        the carried state after every step.
    """
    if not training:
        hidden, c_last, _ = _forward(
            lambda t: projected[t],
            tf.shape(projected)[0],
            recurrent_kernel,
            h0,
            c0,
            mask,
        )
        return hidden, c_last
    return _with_gradient(_projected_gradient, mask)(
        projected, recurrent_kernel, h0, c0
    )


def _per_step_projection(time_major, kernel, bias):
    return lambda t: tf.nn.bias_add(tf.matmul(time_major[t], kernel), bias)


def _forward(step_inputs, time_steps, recurrent_kernel, h0, c0, mask, keep_gates=False):
    """The forward loop; `step_inputs(t)` gives x·W + b of step t.

    Returns `(hidden, c_last, saved)`: the carried h of every step
    `[time, batch, u]`, the final c and, with `keep_gates`, stacked
    `[time, batch, ...]` tensors of the backward pass's per-step factors (see
    `_backward_loop`). They depend only on the step's own values, so the loop
    computes them beside the recurrence, on another core, and the backward
    loop is left with a few multiplications and one matmul per step.
    """
    units = recurrent_kernel.shape[0]
    names = ("hidden", "dc_per_dh", "dz_factors", "forget_gates")
    arrays = tuple(
        tf.TensorArray(h0.dtype, size=time_steps)
        for _ in (names if keep_gates else names[:1])
    )

    def body(t, h, c, arrays):
        z = step_inputs(t) + tf.matmul(h, recurrent_kernel)  # [batch, 4u]
        sigmoid_part, candidate_part = tf.split(z, [3 * units, units], axis=1)
        gates = tf.sigmoid(sigmoid_part)
        candidate = tf.tanh(candidate_part)
        o, i, f = tf.split(gates, 3, axis=1)
        c_new = f * c + i * candidate
        tanh_c = tf.tanh(c_new)
        h_new = o * tanh_c
        if mask is not None:
            keep = mask[t][:, None]
            h_new = tf.where(keep, h_new, h)
            c_new = tf.where(keep, c_new, c)
        values = (h_new,)
        if keep_gates:
            # dc += dh·o·(1 - tanh²c); dz = [dh, dc, dc, dc]·factors, factors
            # being the gates' derivatives times what each gate multiplied.
            dc_per_dh = tf.raw_ops.TanhGrad(y=tanh_c, dy=o)
            dz_factors = tf.concat(
                [
                    tf.raw_ops.SigmoidGrad(
                        y=gates, dy=tf.concat([tanh_c, candidate, c], 1)
                    ),
                    tf.raw_ops.TanhGrad(y=candidate, dy=i),
                ],
                axis=1,
            )
            values += (dc_per_dh, dz_factors, f)
        arrays = tuple(a.write(t, v) for a, v in zip(arrays, values, strict=False))
        return t + 1, h_new, c_new, arrays

    _, _, c_last, arrays = tf.while_loop(
        lambda t, *_: t < time_steps,
        body,
        (tf.constant(0), h0, c0, arrays),
        maximum_iterations=time_steps,
        parallel_iterations=PARALLEL_ITERATIONS,
    )
    # Stacked, not kept as TensorArrays: the gradient function captures them,
    # and a SavedModel cannot serialize a function capturing a TensorList.
    saved = {name: array.stack() for name, array in zip(names, arrays, strict=False)}
    return saved.pop("hidden"), c_last, saved


def _backward_loop(
    recurrent_kernel, h0, mask, saved, d_hidden, d_c_last, accumulate, accumulators
):
    """The reverse loop of the hand-written gradient.

    Each step turns the forward loop's saved factors into the gate gradient
    dz `[batch, 4u]` with three multiplications, and one matmul carries the
    gradient to the previous h. What the weights
    need from dz is the caller's: `accumulate(t, dz, accumulators)` returns
    the new accumulators (TensorArrays or running sums).

    Returns `(dh0, dc0, accumulators)`.
    """
    time_steps = tf.shape(d_hidden)[0]
    dc_per_dh, dz_factors, forget_gates = (
        saved[name] for name in ("dc_per_dh", "dz_factors", "forget_gates")
    )

    def body(t, dh_next, dc_next, accumulators):
        # Slicing a step off the first axis aliases the stacked tensor: no copy.
        dh = d_hidden[t] + dh_next
        dc = dc_next + dh * dc_per_dh[t]
        dz = tf.concat([dh, dc, dc, dc], axis=1) * dz_factors[t]  # [batch, 4u]
        dc_prev = dc * forget_gates[t]
        if mask is not None:
            # A masked step passed the state through unchanged.
            keep = mask[t][:, None]
            dz = tf.where(keep, dz, tf.zeros_like(dz))
            dc_prev = tf.where(keep, dc_prev, dc_next)
        dh_prev = tf.matmul(dz, recurrent_kernel, transpose_b=True)
        if mask is not None:
            dh_prev = tf.where(keep, dh_prev, dh)
        return t - 1, dh_prev, dc_prev, accumulate(t, dz, accumulators)

    _, dh0, dc0, accumulators = tf.while_loop(
        lambda t, *_: t >= 0,
        body,
        (time_steps - 1, tf.zeros_like(h0), d_c_last, accumulators),
        maximum_iterations=time_steps,
        parallel_iterations=PARALLEL_ITERATIONS,
    )
    return dh0, dc0, accumulators


def _projected_gradient(projected, recurrent_kernel, h0, c0, mask):
    """Forward over a precomputed projection, and its backward pass.

    The backward returns the gradient of every step's projection (autodiff
    turns it into large matmuls for the inputs, kernel and bias) and forms
    the recurrent kernel's gradient as one large matmul over all steps.
    """
    time_steps = tf.shape(projected)[0]
    hidden, c_last, saved = _forward(
        lambda t: projected[t], time_steps, recurrent_kernel, h0, c0, mask, True
    )

    def backward(d_hidden, d_c_last):
        dh0, dc0, (d_projected,) = _backward_loop(
            recurrent_kernel,
            h0,
            mask,
            saved,
            d_hidden,
            d_c_last,
            lambda t, dz, arrays: (arrays[0].write(t, dz),),
            (tf.TensorArray(projected.dtype, size=time_steps),),
        )
        d_projected = d_projected.stack()  # [time, batch, 4u]
        units = recurrent_kernel.shape[0]
        d_recurrent_kernel = tf.matmul(
            tf.reshape(_previous_states(h0, hidden), [-1, units]),
            tf.reshape(d_projected, [-1, 4 * units]),
            transpose_a=True,
        )
        return d_projected, d_recurrent_kernel, dh0, dc0

    return (hidden, c_last), backward


def _stepwise_gradient(time_major, kernel, bias, recurrent_kernel, h0, c0, mask):
    """Forward with the input matmul inside the loop, and its backward pass.

    The backward forms every gradient step by step, as Keras's autodiff does:
    those matmuls depend only on the step's dz, so they run on another core
    while the reverse recurrence goes on.
    """
    time_steps = tf.shape(time_major)[0]
    hidden, c_last, saved = _forward(
        _per_step_projection(time_major, kernel, bias),
        time_steps,
        recurrent_kernel,
        h0,
        c0,
        mask,
        True,
    )

    def backward(d_hidden, d_c_last):
        h_prevs = _previous_states(h0, hidden)

        def accumulate(t, dz, sums):
            d_kernel, d_recurrent_kernel, d_bias, d_inputs = sums
            return (
                d_kernel + tf.matmul(time_major[t], dz, transpose_a=True),
                d_recurrent_kernel + tf.matmul(h_prevs[t], dz, transpose_a=True),
                d_bias + dz,  # summed over the batch once, after the loop
                d_inputs.write(t, tf.matmul(dz, kernel, transpose_b=True)),
            )

        dh0, dc0, (d_kernel, d_recurrent_kernel, d_bias, d_inputs) = _backward_loop(
            recurrent_kernel,
            h0,
            mask,
            saved,
            d_hidden,
            d_c_last,
            accumulate,
            (
                tf.zeros_like(kernel),
                tf.zeros_like(recurrent_kernel),
                tf.zeros_like(d_hidden[0, :, :1]) + tf.zeros_like(bias),  # [batch, 4u]
                tf.TensorArray(time_major.dtype, size=time_steps),
            ),
        )
        return (
            d_inputs.stack(),
            d_kernel,
            tf.reduce_sum(d_bias, 0),
            d_recurrent_kernel,
            dh0,
            dc0,
        )

    return (hidden, c_last), backward


def _previous_states(h0, hidden):
    """The h each step started from: `[h0, hidden[:-1]]`."""
    return tf.concat([h0[None], hidden[:-1]], axis=0)


def _with_gradient(forward_and_backward, mask):
    """Wraps `forward_and_backward(*tensors, mask)` in a custom gradient."""

    # The mask is closed over: it is not differentiable.
    @tf.custom_gradient
    def run(*tensors):
        (hidden, c_last), backward = forward_and_backward(*tensors, mask)

        def grad(d_hidden, d_c_last):
            if d_hidden is None:
                d_hidden = tf.zeros_like(hidden)
            if d_c_last is None:
                d_c_last = tf.zeros_like(c_last)
            return backward(d_hidden, d_c_last)

        return (hidden, c_last), grad

    return run


def cell_loop(
    cell,
    projected,
    recurrent_kernel,
    h0,
    c0,
    mask=None,
    recurrent_dropout_mask=None,
    unroll=False,
):
    """Runs `cell.gate_step` over time with autodiff (any cell variant).

    Args:
        cell: an `LSTMCell` (or subclass).
        projected: `[time, batch, 4 * units]` from `cell.project_inputs`, in
            the cell's own gate order.
        recurrent_kernel: the recurrent kernel for this call.
        h0, c0: initial states.
        mask: optional `[time, batch]` bool.
        recurrent_dropout_mask: optional `[batch, state_units]`, applied to h
            before the recurrent matmul (Keras's recurrent_dropout).
        unroll: unroll the loop in Python (static time dimension only).

    Returns:
        `(hidden [time, batch, state_units], c_last [batch, units])`.
    """

    def step(t, h, c):
        h_in = h if recurrent_dropout_mask is None else h * recurrent_dropout_mask
        h_new, c_new = cell.gate_step(projected[t], h_in, c, recurrent_kernel)
        if mask is not None:
            keep = mask[t][:, None]
            h_new = tf.where(keep, h_new, h)
            c_new = tf.where(keep, c_new, c)
        return h_new, c_new

    if unroll:
        if projected.shape[0] is None:
            raise ValueError("unroll=True needs a static number of timesteps.")
        h, c, hidden = h0, c0, []
        for t in range(projected.shape[0]):
            h, c = step(t, h, c)
            hidden.append(h)
        return tf.stack(hidden), c

    time_steps = tf.shape(projected)[0]
    hidden_ta = tf.TensorArray(h0.dtype, size=time_steps)

    def body(t, h, c, hidden_ta):
        h, c = step(t, h, c)
        return t + 1, h, c, hidden_ta.write(t, h)

    _, _, c_last, hidden_ta = tf.while_loop(
        lambda t, *_: t < time_steps,
        body,
        (tf.constant(0), h0, c0, hidden_ta),
        maximum_iterations=time_steps,
    )
    return hidden_ta.stack(), c_last
