"""Portable LSTM loops in plain TensorFlow: the path used off the GPU.

Two loops share one contract: they take the input projection of every
timestep, time-major (`[time, batch, 4 * units]`, computed by one matmul
outside), and return the carried hidden state of every step plus the final
cell state.

- `fused_lstm`: the classic equations with tanh/sigmoid and a hand-written
  backward pass over the whole sequence. Per step it runs one recurrent matmul
  and a few elementwise ops and keeps the gate activations; the backward turns
  them into gate factors for all steps at once, runs one reverse loop of
  elementwise work and one matmul per step, and forms the recurrent-kernel
  gradient as a single large matmul, as cuDNN does. Autodiff through a
  while loop instead stores and replays every small op (see PERF-NOTES). At
  inference the loop keeps only the states.
- `cell_loop`: any cell's `gate_step` with autodiff; used for variants, custom
  activations and recurrent dropout.
"""

from __future__ import annotations

import tensorflow as tf


def keras_to_internal_gates(weights):
    """Reorders the last axis from Keras's (i, f, c, o) to (o, i, f, c).

    With o first, the three sigmoid gates are one contiguous block in the
    forward pass, and the three gates scaled by dc are one block in the
    backward pass.
    """
    units = weights.shape[-1] // 4
    return tf.concat([weights[..., 3 * units :], weights[..., : 3 * units]], axis=-1)


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
    time_major = tf.transpose(inputs, [1, 0, 2])  # [time, batch, features]
    if mask is not None:
        mask = tf.transpose(mask)  # [time, batch]
    if go_backwards:
        time_major = tf.reverse(time_major, [0])
        mask = None if mask is None else tf.reverse(mask, [0])
    # The input projection of every step in one matmul.
    projected = tf.einsum(
        "tbd,dg->tbg", time_major, keras_to_internal_gates(kernel)
    ) + keras_to_internal_gates(bias)
    recurrent_kernel = keras_to_internal_gates(recurrent_kernel)
    return fused_lstm(
        projected, recurrent_kernel, h0, c0, mask, training=hand_written_gradient
    )


def fused_lstm(projected, recurrent_kernel, h0, c0, mask=None, training=True):
    """Runs the classic LSTM; with `training`, under a hand-written gradient.

    Args:
        projected: `[time, batch, 4 * units]`, x·W + b with gates ordered
            (o, i, f, c) (see `keras_to_internal_gates`).
        recurrent_kernel: `[units, 4 * units]` in the same gate order.
        h0, c0: `[batch, units]` initial states.
        mask: optional `[time, batch]` bool; a masked step keeps the state.
        training: keep the gates for the hand-written backward pass. Without
            it the loop stores only the states (inference); it stays
            differentiable through autodiff, only slower.

    Returns:
        `(hidden [time, batch, units], c_last [batch, units])`; `hidden` holds
        the carried state after every step.
    """
    units = recurrent_kernel.shape[0]
    if not training:
        states = _forward(projected, recurrent_kernel, h0, c0, mask, keep_gates=False)
    elif mask is None:
        states = _fused_states_unmasked(projected, recurrent_kernel, h0, c0)
    else:
        states = _fused_states_masked(projected, recurrent_kernel, h0, c0, mask)
    return states[..., :units], states[-1, :, units : 2 * units]


def _forward(projected, recurrent_kernel, h0, c0, mask, keep_gates=True):
    """The forward loop: per step, the carried (h, c) and, if asked, the gates.

    Returns `[time, batch, 2u]`, or `[time, batch, 6u]` with `keep_gates`
    (h, c, the three sigmoid gates o, i, f, and the candidate c̃).
    """
    time_steps = tf.shape(projected)[0]
    units = recurrent_kernel.shape[0]
    records_ta = tf.TensorArray(projected.dtype, size=time_steps)

    def body(t, h, c, records_ta):
        z = tf.gather(projected, t) + tf.matmul(h, recurrent_kernel)  # [batch, 4u]
        sigmoid_part, candidate_part = tf.split(z, [3 * units, units], axis=1)
        gates = tf.sigmoid(sigmoid_part)
        candidate = tf.tanh(candidate_part)
        o, i, f = tf.split(gates, 3, axis=1)
        c_new = f * c + i * candidate
        h_new = o * tf.tanh(c_new)
        if mask is not None:
            keep = tf.gather(mask, t)[:, None]
            h_new = tf.where(keep, h_new, h)
            c_new = tf.where(keep, c_new, c)
        record = [h_new, c_new] + ([gates, candidate] if keep_gates else [])
        return t + 1, h_new, c_new, records_ta.write(t, tf.concat(record, axis=1))

    _, _, _, records_ta = tf.while_loop(
        lambda t, *_: t < time_steps,
        body,
        (tf.constant(0), h0, c0, records_ta),
        maximum_iterations=time_steps,
    )
    return records_ta.stack()


def _backward(projected, recurrent_kernel, h0, c0, mask, records, d_states):
    """Gradients w.r.t. projected, recurrent_kernel, h0, c0, given d(states)."""
    time_steps = tf.shape(projected)[0]
    units = recurrent_kernel.shape[0]
    dtype = projected.dtype
    hidden, cells, gates, candidate = tf.split(
        records, [units, units, 3 * units, units], axis=-1
    )
    h_prev = tf.concat([h0[None], hidden[:-1]], axis=0)  # [time, batch, u]
    c_prev = tf.concat([c0[None], cells[:-1]], axis=0)
    tanh_c = tf.tanh(cells)
    o, i, f = tf.split(gates, 3, axis=-1)
    # Per step: dz = [dh, dc, dc, dc] * gate_factor, dc += dh * dc_from_dh,
    # dc_prev = dc * dc_carry. The factors for all steps at once, each
    # derivative one fused raw op (y' = y(1 - y) dy for sigmoid).
    gate_factor = tf.concat(
        [
            tf.raw_ops.SigmoidGrad(
                y=gates, dy=tf.concat([tanh_c, candidate, c_prev], axis=-1)
            ),
            tf.raw_ops.TanhGrad(y=candidate, dy=i),
        ],
        axis=-1,
    )
    dc_from_dh = tf.raw_ops.TanhGrad(y=tanh_c, dy=o)
    dc_carry = f
    parts = [d_states, dc_from_dh]
    if mask is not None:
        keep = tf.cast(mask, dtype)[..., None]  # [time, batch, 1]
        gate_factor *= keep
        parts = [d_states, dc_from_dh * keep]
        dc_carry = f * keep + (1 - keep)
        parts.append(tf.broadcast_to(1 - keep, tf.shape(f)))  # dh passes through
    # One gather per step instead of one per tensor per step.
    packed = tf.concat(parts + [dc_carry, gate_factor], axis=-1)
    split_sizes = [units] * (len(parts) + 2) + [4 * units]
    d_projected_ta = tf.TensorArray(dtype, size=time_steps)

    def body(t, dh_next, dc_next, d_projected_ta):
        pieces = tf.split(tf.gather(packed, t), split_sizes, axis=1)
        dh_in, dc_in, dc_from_dh_t = pieces[:3]
        dc_carry_t, gate_factor_t = pieces[-2:]
        dh = dh_in + dh_next
        dc = dc_next + dc_in + dh * dc_from_dh_t
        dz = tf.concat([dh, dc, dc, dc], axis=1) * gate_factor_t
        dh_prev = tf.matmul(dz, recurrent_kernel, transpose_b=True)
        if mask is not None:
            dh_prev += dh * pieces[3]
        return t - 1, dh_prev, dc * dc_carry_t, d_projected_ta.write(t, dz)

    _, dh0, dc0, d_projected_ta = tf.while_loop(
        lambda t, *_: t >= 0,
        body,
        (time_steps - 1, tf.zeros_like(h0), tf.zeros_like(c0), d_projected_ta),
        maximum_iterations=time_steps,
    )
    d_projected = d_projected_ta.stack()
    d_recurrent_kernel = tf.matmul(
        tf.reshape(h_prev, [-1, units]),
        tf.reshape(d_projected, [-1, 4 * units]),
        transpose_a=True,
    )
    return d_projected, d_recurrent_kernel, dh0, dc0


def _states_and_gradient(projected, recurrent_kernel, h0, c0, mask):
    units = recurrent_kernel.shape[0]
    records = _forward(projected, recurrent_kernel, h0, c0, mask)
    states = records[..., : 2 * units]

    def grad(d_states):
        if d_states is None:
            d_states = tf.zeros_like(states)
        return _backward(projected, recurrent_kernel, h0, c0, mask, records, d_states)

    return states, grad


@tf.custom_gradient
def _fused_states_unmasked(projected, recurrent_kernel, h0, c0):
    return _states_and_gradient(projected, recurrent_kernel, h0, c0, None)


def _fused_states_masked(projected, recurrent_kernel, h0, c0, mask):
    # The mask is closed over: it is not differentiable.
    @tf.custom_gradient
    def run(projected, recurrent_kernel, h0, c0):
        return _states_and_gradient(projected, recurrent_kernel, h0, c0, mask)

    return run(projected, recurrent_kernel, h0, c0)


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
