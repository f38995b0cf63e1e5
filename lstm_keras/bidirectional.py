"""`Bidirectional`: `keras.layers.Bidirectional` with both LSTM directions fused."""

from __future__ import annotations

import logging

import keras
import tensorflow as tf

from lstm_keras import cudnn, fused_bidirectional, input_checks
from lstm_keras.lstm import LSTM, _graph_code, _keras_outputs

logger = logging.getLogger("lstm_keras")

# Settings that may differ between the two directions of a fused pair.
_PER_DIRECTION = ("name", "go_backwards")


@keras.saving.register_keras_serializable(package="lstm_keras")
class Bidirectional(keras.layers.Bidirectional):
    """A drop-in for `keras.layers.Bidirectional` that fuses `lstm_keras.LSTM`.

    Same arguments, weights (forward layer's, then backward layer's, in
    `keras.layers.LSTM`'s order and shapes), merge modes, masks,
    `initial_state` (`[h_fw, c_fw, h_bw, c_bw]`), `return_state` and config
    as `keras.layers.Bidirectional(lstm_keras.LSTM(...))`, so weights move
    between the two, and to and from `keras.layers.Bidirectional(
    keras.layers.LSTM(...))`, by `get_weights`/`set_weights` or weight files.

    When both directions are `lstm_keras.LSTM`s running the classic equations
    with the same settings, the two directions run together:

    - `"cudnn"`: one `CudnnRNNV3` call with `direction="bidirectional"`,
      chosen where the graph runs (on a GPU, for right-padded masks), as the
      unidirectional layer does, so an export serves on CPU and GPU;
    - `"fused"`: elsewhere, the fallback's kernels for both directions in
      one call (`lstm_keras.fused_bidirectional`): two recurrences side by
      side, one per core; in inference each an XLA-compiled loop (not
      inside `lstm_keras.portable_graphs()`, which exports use), in
      training with hand-written whole-sequence backward passes.

    Anything else (variant cells, recurrent dropout, projections, `stateful`,
    directions configured differently, any wrapped layer other than
    `lstm_keras.LSTM`) runs the two layers as `keras.layers.Bidirectional`
    does (`"two_layers"`); so does a training call with input dropout when
    a GPU is visible (cuDNN's one call cannot drop each direction's inputs
    apart). After an eager call `last_implementation` names what ran;
    `fused_ineligibility_reasons()` says why a configuration is not fused.

    Example:

    >>> layer = lstm_keras.Bidirectional(lstm_keras.LSTM(4, return_sequences=True))
    >>> layer(np.zeros((2, 10, 8), "float32")).shape
    TensorShape([2, 10, 8])
    """

    def __init__(
        self, layer, merge_mode="concat", weights=None, backward_layer=None, **kwargs
    ):
        super().__init__(
            layer,
            merge_mode=merge_mode,
            weights=weights,
            backward_layer=backward_layer,
            **kwargs,
        )
        self.last_implementation = None
        self.last_implementation_code = None
        self._logged_implementation = False

    def fused_ineligibility_reasons(self) -> list[str]:
        """Every static reason the two directions cannot run fused."""
        forward, backward = self.forward_layer, self.backward_layer
        if not (isinstance(forward, LSTM) and isinstance(backward, LSTM)):
            return ["the wrapped layers are not both lstm_keras.LSTM"]
        reasons = []
        if forward.go_backwards or not backward.go_backwards:
            reasons.append("the forward layer has go_backwards=True")
        configs = [
            {k: v for k, v in layer.get_config().items() if k not in _PER_DIRECTION}
            for layer in (forward, backward)
        ]
        if configs[0] != configs[1] or type(forward) is not type(backward):
            reasons.append("the two directions are configured differently")
        for which, layer in (("forward", forward), ("backward", backward)):
            kind, why = layer._implementation_and_reason()
            if kind == "cell_loop":
                reasons.append(f"{which} layer runs its cell loop ({why})")
        if forward.cell.proj_units:
            reasons.append("proj_units is set (no fused bidirectional LSTMP)")
        if forward.stateful:
            reasons.append("stateful=True")
        if forward.activity_regularizer or backward.activity_regularizer:
            reasons.append("the wrapped layers have activity regularizers")
        return list(dict.fromkeys(reasons))

    def __call__(self, *args, **kwargs):
        arguments = dict(
            zip(("sequences", "initial_state", "mask"), args, strict=False)
        )
        arguments.update(kwargs)
        sequences = arguments.get("sequences")
        states = arguments.get("initial_state")
        if isinstance(self.forward_layer, LSTM):
            if states is not None and (
                not isinstance(states, (list, tuple)) or len(states) != 4
            ):
                count = len(states) if isinstance(states, (list, tuple)) else 1
                raise ValueError(
                    f"Bidirectional '{self.name}': initial_state must be a list "
                    f"[h_forward, c_forward, h_backward, c_backward]; got {count} "
                    "tensors."
                )
            halves = (None, None) if states is None else (states[:2], states[2:])
            for layer, half in zip(
                (self.forward_layer, self.backward_layer), halves, strict=True
            ):
                input_checks.check_call(layer, sequences, half, arguments.get("mask"))
        return super().__call__(*args, **kwargs)

    def call(self, sequences, initial_state=None, mask=None, training=None):
        implementation = self._implementation(training)
        if implementation == "two_layers":
            self.last_implementation = implementation
            self.last_implementation_code = None
            return super().call(
                sequences, initial_state=initial_state, mask=mask, training=training
            )
        return self._fused(sequences, initial_state, mask, training, implementation)

    @_graph_code
    def _fused(self, sequences, initial_state, mask, training, implementation):
        forward, backward = self.forward_layer, self.backward_layer
        dtype = forward.compute_dtype
        sequences = tf.cast(sequences, dtype)
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        if mask is not None:
            mask = tf.cast(mask, tf.bool)
        if initial_state is None:
            states = [
                forward.get_initial_state(tf.shape(sequences)[0]),
                backward.get_initial_state(tf.shape(sequences)[0]),
            ]
        else:
            states = [initial_state[:2], initial_state[2:]]
        h0, c0 = (
            tf.stack([tf.cast(s[k], dtype) for s in states]) for k in range(2)
        )  # [2, batch, units]
        forward_inputs, forward_recurrent = forward._dropped_out(sequences, training)
        backward_inputs, backward_recurrent = backward._dropped_out(sequences, training)
        weights = (
            *_weights(forward.cell, forward_recurrent),
            *_weights(backward.cell, backward_recurrent),
        )
        *hidden, c_last, code = _run_kernel(
            implementation,
            (forward_inputs, backward_inputs, *weights, h0, c0),
            mask,
            training,
        )
        if tf.executing_eagerly():
            implementation = "cudnn" if int(code) == cudnn.CUDNN else "fused"
        elif implementation == "cudnn":
            implementation = "cudnn_or_fused"  # The device decides at run time.
        self.last_implementation = implementation
        self.last_implementation_code = code
        results = [
            _keras_outputs(
                hidden[direction],
                c_last[direction],
                mask,
                go_backwards=bool(direction),
                zero_output_for_mask=layer.zero_output_for_mask,
                return_sequences=self.return_sequences,
            )
            for direction, layer in enumerate((forward, backward))
        ]
        outputs = [
            outputs if self.return_sequences else last_output
            for last_output, outputs, _ in results
        ]
        y, y_rev = (tf.cast(o, self.compute_dtype) for o in outputs)
        if self.return_sequences:
            y_rev = tf.reverse(y_rev, [1])
        output = _merge(self.merge_mode, y, y_rev)
        if not self.return_state:
            return output
        states = tuple(
            tf.cast(s, self.compute_dtype) for _, _, hc in results for s in hc
        )
        if self.merge_mode is None:
            return output + states
        return (output, *states)

    def _implementation(self, training):
        """ "cudnn" (device-selected), "fused" or "two_layers"; logged once."""
        reasons = self.fused_ineligibility_reasons()
        forward, backward = self.forward_layer, self.backward_layer
        if reasons:
            implementation, why = "two_layers", "; ".join(reasons)
        elif (
            training
            and (forward.cell.dropout or backward.cell.dropout)
            and forward.use_cudnn is not False
            and tf.config.list_logical_devices("GPU")
        ):
            # Keras drops each direction's inputs apart: one cuDNN call cannot.
            implementation, why = "two_layers", "input dropout with a GPU visible"
        else:
            kinds = [
                layer._implementation_and_reason() for layer in (forward, backward)
            ]
            if all(kind == "cudnn" for kind, _ in kinds):
                implementation = "cudnn"
                why = "one bidirectional cuDNN call on a GPU, the fused loop elsewhere"
            else:
                implementation = "fused"
                why = "; ".join(dict.fromkeys(why for _, why in kinds))
        if not self._logged_implementation:
            logger.info("%s: implementation %s (%s)", self.name, implementation, why)
            self._logged_implementation = True
        return implementation


def _weights(cell, recurrent_kernel):
    kernel = tf.convert_to_tensor(cell.kernel)
    if cell.use_bias:
        bias = tf.convert_to_tensor(cell.bias)
    else:
        bias = tf.zeros([4 * cell.units], dtype=kernel.dtype)
    return kernel, recurrent_kernel, bias


def _run_kernel(implementation, tensors, mask, training):
    """`(forward_hidden, backward_hidden, c_last, code)` from the fused loop,
    or from cuDNN by device.

    `tensors` is `(inputs, backward_inputs, 6 weights, h0, c0)`.
    """
    arguments = tensors if mask is None else (*tensors, mask)
    # As in Keras, None is inference; a tensor means "maybe" (both paths
    # give correct gradients, the training one keeps what its backward needs).
    keep_gates = tf.is_tensor(training) or bool(training)

    def unpack(args):
        inputs, backward_inputs, *rest = args
        weights, (h0, c0, *mask_arg) = rest[:6], rest[6:]
        return inputs, backward_inputs, weights, h0, c0, (mask_arg or [None])[0]

    def run_fused(*args, gradient="hand_written" if keep_gates else "recompute"):
        return fused_bidirectional.bidirectional_lstm(*unpack(args), gradient=gradient)

    def run_autodiff(*args):
        return run_fused(*args, gradient="autodiff")

    def run_cudnn(*args):
        inputs, _, weights, h0, c0, mask_arg = unpack(args)
        return fused_bidirectional.cudnn_bidirectional_lstm(
            inputs, weights, h0, c0, mask_arg
        )

    if implementation == "fused":
        return (*run_fused(*arguments), tf.constant(cudnn.FALLBACK))
    return cudnn.run_on_device(
        run_cudnn, run_fused, run_autodiff, arguments, mask, keep_gates
    )


def _merge(merge_mode, y, y_rev):
    """The two directions' outputs, combined as `keras.layers.Bidirectional`."""
    if merge_mode == "concat":
        return tf.concat([y, y_rev], axis=-1)
    if merge_mode == "sum":
        return y + y_rev
    if merge_mode == "ave":
        return (y + y_rev) / 2
    if merge_mode == "mul":
        return y * y_rev
    return (y, y_rev)
