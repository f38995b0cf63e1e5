"""The fused bidirectional LSTM's kernels: a loop per direction, or one cuDNN call.

Both take the two directions' Keras-layout weights and return what the
unidirectional kernels return, for each direction: `(forward_hidden,
backward_hidden, c_last)`, each hidden `[time, batch, units]` holding that
direction's carried h per step in its own processing order (the backward
direction's reversed), so that `lstm._keras_outputs` turns either direction
into Keras's results, and `c_last` `[2, batch, units]`. The two hiddens stay
apart: stacking them and slicing each back out measured as 8 of the 40 ms
of a training step (B=64, T=100, D=40, U=128), the gradient of each slice
being a zero-padded copy of the stack.

- `bidirectional_lstm` (CPU, and wherever cuDNN cannot run): the two
  directions as two recurrences side by side in one graph, which the
  executor runs one per core. Inference with a known batch size runs each
  as one XLA-compiled loop (per step the input and recurrent matmuls and
  the gate math fused), outside `lstm_keras.portable_graphs()`; training
  runs the unidirectional fallback's loops with their hand-written
  whole-sequence backward. One loop carrying both directions (a batched
  matmul for the two recurrent kernels per step) was built and measured
  slower than two side by side at every benchmark shape on 2 cores, and
  removed (docs/performance.md).
- `cudnn_bidirectional_lstm` (GPU): one `CudnnRNNV3` call with
  `direction="bidirectional"`.
"""

from __future__ import annotations

import tensorflow as tf

from lstm_keras import cudnn, fallback, portable

DIRECTIONS = 2


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
        gradient: `"hand_written"` (training: the loops keep what the
            whole-sequence backward needs), `"recompute"` (inference: nothing
            kept; a gradient, if one is asked for, reruns the training path)
            or `"autodiff"` (inside `tf.cond`, whose gradient cannot take a
            custom gradient).

    Returns:
        `(forward_hidden, backward_hidden, c_last)`: `[time, batch, units]`
        each, in each direction's processing order, and `[2, batch, units]`.
    """
    if (
        gradient == "recompute"
        and inputs.shape[0] is not None
        and not portable.is_active()
    ):
        return _compiled_inference(inputs, backward_inputs, weights, h0, c0, mask)
    hidden, c_last = zip(
        *(
            fallback.classic_lstm(
                x,
                *weights[3 * d : 3 * d + 3],
                h0[d],
                c0[d],
                mask,
                go_backwards=bool(d),
                # One part per direction, the two side by side: faster than
                # two parts each (1.10x against 1.00x of Keras's at B=64,
                # T=100, D=40, U=128; 1.84x against 1.47x at B=16, T=500).
                hand_written_gradient=(
                    "one_part" if gradient == "hand_written" else False
                ),
            )
            for d, x in enumerate((inputs, backward_inputs))
        ),
        strict=True,
    )
    return (*hidden, tf.stack(c_last))


def _compiled_inference(inputs, backward_inputs, weights, h0, c0, mask):
    """Inference: each direction one XLA-compiled loop, side by side.

    Nothing is kept for a backward pass; a gradient, if one is asked for,
    reruns the training path and differentiates it.
    """

    @tf.custom_gradient
    def run(*tensors):
        # Unwatched: a tape would ask the compiled loops for their
        # intermediate values (TensorLists cannot leave XLA).
        unwatched = [tf.stop_gradient(t) for t in tensors]
        results = _compiled_directions(*unwatched, mask)

        def grad(*d_results):
            return fallback.gradient_by_rerun(
                lambda x, backward_x, *rest: bidirectional_lstm(
                    x, backward_x, rest[:6], *rest[6:], mask, "hand_written"
                ),
                tensors,
                d_results,
            )

        return results, grad

    return run(inputs, backward_inputs, *weights, h0, c0)


def _compiled_directions(inputs, backward_inputs, *rest):
    weights, (h0, c0, mask) = rest[:6], rest[6:]
    hidden, c_last = zip(
        *(
            fallback.compiled_inference_loop(
                x, *weights[3 * d : 3 * d + 3], h0[d], c0[d], mask, bool(d)
            )
            for d, x in enumerate((inputs, backward_inputs))
        ),
        strict=True,
    )
    return (*hidden, tf.stack(c_last))


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
    return forward, tf.reverse(backward, [0]), c
