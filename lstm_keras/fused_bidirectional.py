"""The kernels of the fused bidirectional LSTM: one loop, or one cuDNN call.

Both take the two directions' Keras-layout weights and return what the
unidirectional kernels return, with a direction axis after time: `(hidden
[time, 2, batch, units], c_last [2, batch, units])`, `hidden` being each
direction's carried h per step in its own processing order (the backward
direction's reversed), so that `lstm._keras_outputs` turns either direction
into Keras's results.

- `bidirectional_lstm` (CPU, and wherever cuDNN cannot run). Inference of
  small layers (`STACKED_MAX_ELEMENTS`): one `tf.while_loop` whose step
  carries both directions' states as `[2, batch, units]`, one batched
  matmul for the two recurrent kernels and one gate computation for both,
  compiled with XLA (which fuses the step's elementwise work); a gradient
  of it runs the unidirectional fallback's whole-sequence backward
  (`fallback._projected_gradient`), which works on that direction axis.
  Training and larger layers: the two directions as two recurrences side
  by side in one graph, each the unidirectional fallback's, which the
  executor runs one per core. On this 2-core machine one stacked
  recurrence, running on one core, was slower there (docs/performance.md).
- `cudnn_bidirectional_lstm` (GPU): one `CudnnRNNV3` call with
  `direction="bidirectional"`.
"""

from __future__ import annotations

import tensorflow as tf

from lstm_keras import cudnn, fallback

DIRECTIONS = 2

# Inference with at most this many rows x units runs the two directions
# stacked in one recurrence; anything larger, and training, side by side (two
# recurrences, one per core, each the unidirectional fallback's). On 2 cores
# the stacked loop was the fastest forward at B=16, U=128 and slower than
# side by side at B=64, U=128 and B=32, U=256; in training side by side was
# faster at every benchmark shape (docs/performance.md).
STACKED_MAX_ELEMENTS = 2048


def bidirectional_lstm(
    inputs, backward_inputs, weights, h0, c0, mask, gradient="hand_written"
):
    """Both directions of the classic LSTM in one layer call.

    Args:
        inputs, backward_inputs: `[batch, time, features]` in original time
            order, as each direction sees them (they differ only under
            input dropout).
        weights: `(kernel, recurrent_kernel, bias)` of the forward direction,
            then those of the backward direction, Keras layout.
        h0, c0: `[2, batch, units]`, forward direction first.
        mask: `[batch, time]` bool (any pattern), or None.
        gradient: `"hand_written"` (training: the loop keeps what the
            whole-sequence backward needs), `"recompute"` (inference: nothing
            kept; a gradient, if one is asked for, reruns the forward) or
            `"autodiff"` (inside `tf.cond`, whose gradient cannot take a
            custom gradient).

    Returns:
        `(hidden [time, 2, batch, units], c_last [2, batch, units])`.
    """
    batch, units = inputs.shape[0], weights[1].shape[0]
    stacked = (
        gradient == "recompute"
        and batch is not None
        and batch * units <= STACKED_MAX_ELEMENTS
    )
    if not stacked:
        # Side by side: two recurrences, which the executor runs on two cores.
        hidden, c_last = zip(
            *(
                fallback.classic_lstm(
                    x,
                    *weights[3 * d : 3 * d + 3],
                    h0[d],
                    c0[d],
                    mask,
                    go_backwards=bool(d),
                    # Two whole-sequence backwards, one per core: faster
                    # here than the per-step one narrow inputs use alone.
                    hand_written_gradient=(
                        "whole_sequence" if gradient == "hand_written" else False
                    ),
                )
                for d, x in enumerate((inputs, backward_inputs))
            ),
            strict=True,
        )
        return tf.stack(hidden, axis=1), tf.stack(c_last)
    kernels, recurrent_kernels, biases = (
        [fallback.keras_to_internal_gates(w) for w in weights[k::3]] for k in range(3)
    )
    # Both projections in original time order: the backward direction's
    # steps are read from the end (`fallback._stepper`).
    projected = tuple(
        fallback._project(fallback.processing_order(x, None, False)[0], k, b)
        for x, k, b in zip((inputs, backward_inputs), kernels, biases, strict=True)
    )
    if mask is not None:
        mask = tf.stack(
            [fallback.processing_order_mask(mask, backwards) for backwards in (0, 1)],
            axis=1,
        )  # [time, 2, batch]
    # Stacked: one recurrence carrying both directions.
    return _recurrence(projected, tf.stack(recurrent_kernels), h0, c0, mask)


def _recurrence(projected, recurrent_kernel, h0, c0, mask):
    """The stacked recurrence over both projections (see `fallback._stepper`),
    compiled with XLA and keeping nothing for a backward pass; a gradient,
    if one is asked for, reruns it keeping the factors and runs the
    whole-sequence backward."""

    def with_backward(*tensors):
        """`fallback._projected_gradient` over flat tensors."""
        results, backward = fallback._projected_gradient(
            tensors[:2], *tensors[2:], mask, compile_forward=True
        )
        return results, lambda *d: tf.nest.flatten(backward(*d))

    @tf.custom_gradient
    def recompute(*tensors):
        flat = [tf.stop_gradient(t) for t in tensors]
        hidden, c_last = _compiled_forward_only(tuple(flat[:2]), *flat[2:], mask)

        def grad(d_hidden, d_c_last):
            _, backward = with_backward(*tensors)
            return backward(
                tf.zeros_like(hidden) if d_hidden is None else d_hidden,
                tf.zeros_like(c_last) if d_c_last is None else d_c_last,
            )

        return (hidden, c_last), grad

    return recompute(*projected, recurrent_kernel, h0, c0)


def _forward_only(projected, recurrent_kernel, h0, c0, mask):
    """The loop without what a backward pass needs."""
    hidden, c_last, _ = fallback._forward(
        [fallback._stepper(projected)],
        fallback._time_steps(projected),
        recurrent_kernel,
        [h0],
        [c0],
        [mask],
    )
    return hidden[0], c_last[0]


# XLA fuses each step's elementwise work into one kernel and runs the loop
# without the executor's per-op cost (docs/performance.md).
_compiled_forward_only = tf.function(_forward_only, jit_compile=True, autograph=False)


def bidirectional_params(weights):
    """Both directions' Keras-layout weights in cuDNN's flat weight space.

    cuDNN lays its weight space out by pseudo-layer (layer x direction), each
    holding its own matrices and then its own biases: the forward
    direction's block (`cudnn.canonical_params`), then the backward one's.
    PyTorch's flat weights and JAX's `experimental.rnn` read it the same way
    (`(num_layers, num_directions, W_ih, W_hh, b_ih, b_hh)`).
    """
    return tf.concat(
        [cudnn.canonical_params(*weights[:3]), cudnn.canonical_params(*weights[3:])],
        axis=0,
    )


def cudnn_bidirectional_lstm(inputs, weights, h0, c0, mask, rnn=None):
    """One `CudnnRNNV3` call for both directions, with Keras semantics.

    Args:
        inputs: `[batch, time, features]`.
        weights, h0, c0: as `bidirectional_lstm`.
        mask: `[batch, time]` bool, right-padded with no empty row (the
            caller checks), or None.
        rnn: the op to call (tests pass a NumPy emulation of cuDNN).

    Returns:
        As `bidirectional_lstm`.
    """
    rnn = rnn or tf.raw_ops.CudnnRNNV3
    time_major = tf.transpose(inputs, [1, 0, 2])
    time_steps, batch = tf.shape(time_major)[0], tf.shape(time_major)[1]
    if mask is None:
        lengths = tf.fill([batch], time_steps)
    else:
        lengths = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)
    outputs, h, c, _, _ = rnn(
        input=time_major,
        input_h=h0,
        input_c=c0,
        params=bidirectional_params(weights),
        sequence_lengths=lengths,
        rnn_mode="lstm",
        direction="bidirectional",
        is_training=True,
        time_major=True,
    )
    # cuDNN returns both directions at the input's steps: [time, batch, 2u].
    forward, backward = tf.split(outputs, DIRECTIONS, axis=-1)
    if mask is not None:
        valid = tf.transpose(mask)[..., None]  # [time, batch, 1]
        # After a row's end the forward state stays the last one; the
        # backward direction meets the padding first and keeps h0 there.
        forward = tf.where(valid, forward, h[0][None])
        backward = tf.where(valid, backward, h0[1][None])
    hidden = tf.stack([forward, tf.reverse(backward, [0])], axis=1)
    return hidden, c
