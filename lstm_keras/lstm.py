"""`LSTM`: a drop-in for `keras.layers.LSTM` with a cuDNN path and a fast fallback."""

from __future__ import annotations

import logging

import keras
import tensorflow as tf

from lstm_keras import cudnn, fallback, input_checks
from lstm_keras.cell import LSTMCell

logger = logging.getLogger("lstm_keras")

# The layer builds its loops with explicit TensorFlow control flow, so
# AutoGraph (run by a caller's tf.function) has nothing to rewrite in it.
# Skipping it saves the conversion, and its re-reading of our source files,
# on every trace.
_graph_code = tf.autograph.experimental.do_not_convert

_CELL_ARGUMENTS = (
    "activation",
    "recurrent_activation",
    "use_bias",
    "kernel_initializer",
    "recurrent_initializer",
    "bias_initializer",
    "unit_forget_bias",
    "kernel_regularizer",
    "recurrent_regularizer",
    "bias_regularizer",
    "kernel_constraint",
    "recurrent_constraint",
    "bias_constraint",
    "dropout",
    "recurrent_dropout",
    "seed",
    "proj_units",
)


@keras.saving.register_keras_serializable(package="lstm_keras")
class LSTM(keras.layers.RNN):
    """Long Short-Term Memory layer (Hochreiter & Schmidhuber, 1997).

    Same constructor, call arguments, weights (order, shapes, gate order i, f,
    c, o) and results as `keras.layers.LSTM`. Three implementations compute it:

    - `"cudnn"`: one fused `CudnnRNNV3` call, chosen at run time when the op is
      placed on a GPU and the mask is right-padded;
    - `"fused"`: a portable TensorFlow loop with hand-written gate gradients,
      used everywhere else for the classic equations;
    - `"cell_loop"`: the cell's `gate_step` with autodiff, for variants,
      custom activations and recurrent dropout.

    After an eager call, `last_implementation` names the one that ran.

    Args:
        units: Positive integer, dimensionality of the output space.
        activation, recurrent_activation, use_bias, kernel_initializer,
        recurrent_initializer, bias_initializer, unit_forget_bias,
        kernel_regularizer, recurrent_regularizer, bias_regularizer,
        activity_regularizer, kernel_constraint, recurrent_constraint,
        bias_constraint, dropout, recurrent_dropout, seed: as
            `keras.layers.LSTM`.
        return_sequences, return_state, go_backwards, stateful, unroll: as
            `keras.layers.LSTM`.
        use_cudnn: `"auto"` (cuDNN on a GPU when the configuration allows,
            the fallback otherwise), `True` (raise a ValueError listing every
            reason the configuration cannot use cuDNN) or `False`.
        weight_dropout: DropConnect on the recurrent kernel, one mask per
            batch (AWD-LSTM). Unlike recurrent_dropout it keeps cuDNN usable.
        proj_units: project `h` to this size after each step (LSTMP; cuDNN's
            `num_proj` on a GPU when `proj_units < units`).

    Call arguments:
        inputs: `[batch, time, features]`.
        mask: `[batch, time]` bool; masked steps keep the state.
        training: whether dropout applies.
        initial_state: list `[h, c]` of initial states.

    Example:

    >>> layer = lstm_keras.LSTM(4, return_sequences=True)
    >>> layer(np.zeros((2, 10, 8), "float32")).shape
    TensorShape([2, 10, 4])

    Variants: subclass `LSTMCell`, override `gate_step`, and set
    `cell_class` on a subclass of this layer (see `lstm_keras.variants`).
    """

    cell_class = LSTMCell

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        unit_forget_bias=True,
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        seed=None,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        use_cudnn="auto",
        weight_dropout=0.0,
        proj_units=None,
        **kwargs,
    ):
        if use_cudnn not in ("auto", True, False):
            raise ValueError(
                "use_cudnn must be one of 'auto', True, False. "
                f"Received: use_cudnn={use_cudnn!r}"
            )
        if not 0.0 <= weight_dropout < 1.0:
            raise ValueError(
                "weight_dropout must be in [0, 1). "
                f"Received: weight_dropout={weight_dropout}"
            )
        cell_kwargs = self._cell_kwargs(kwargs)
        cell = self.cell_class(
            units,
            activation=activation,
            recurrent_activation=recurrent_activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer,
            unit_forget_bias=unit_forget_bias,
            kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint,
            dropout=dropout,
            recurrent_dropout=recurrent_dropout,
            seed=seed,
            proj_units=proj_units,
            dtype=kwargs.get("dtype"),
            trainable=kwargs.get("trainable", True),
            name="lstm_cell",
            **cell_kwargs,
        )
        kwargs.pop("implementation", None)  # Keras's legacy argument; no effect.
        super().__init__(
            cell,
            return_sequences=return_sequences,
            return_state=return_state,
            go_backwards=go_backwards,
            stateful=stateful,
            unroll=unroll,
            activity_regularizer=activity_regularizer,
            **kwargs,
        )
        self.input_spec = keras.layers.InputSpec(ndim=3)
        self.use_cudnn = use_cudnn
        self.weight_dropout = float(weight_dropout)
        self.weight_dropout_seed = keras.random.SeedGenerator(seed=seed)
        self.last_implementation = None
        self.last_implementation_code = None
        self._logged_implementation = False
        reasons = cudnn.ineligibility_reasons(self)
        if use_cudnn is True and reasons:
            raise ValueError(
                "use_cudnn=True, but this configuration cannot use cuDNN: "
                + "; ".join(reasons)
                + ". Pass use_cudnn='auto' to fall back."
            )
        self._cudnn_reasons = reasons
        if use_cudnn is not False and not reasons:
            # As keras.layers.LSTM: XLA would inline the fallback and hide the
            # cuDNN twin, so Keras's jit_compile="auto" must not compile us.
            self.supports_jit = False

    def _cell_kwargs(self, kwargs):
        """Extra constructor arguments a variant's cell takes (popped from kwargs)."""
        return {}

    def __call__(self, *args, **kwargs):
        # Before Keras's own __call__, so that a wrong shape is one line naming
        # the argument rather than an op error wrapped in Keras's call report.
        arguments = dict(
            zip(("sequences", "initial_state", "mask"), args, strict=False)
        )
        arguments.update(kwargs)
        input_checks.check_call(
            self,
            arguments.get("sequences"),
            arguments.get("initial_state"),
            arguments.get("mask"),
        )
        return super().__call__(*args, **kwargs)

    def call(self, sequences, initial_state=None, mask=None, training=False):
        if not sequences.dtype.is_floating:
            # Keras's LSTM promotes integer inputs in its matmuls.
            sequences = tf.cast(sequences, self.compute_dtype)
        return super().call(
            sequences, mask=mask, training=training, initial_state=initial_state
        )

    @_graph_code
    def inner_loop(self, sequences, initial_state, mask, training=False):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        return self._run(
            sequences,
            list(initial_state),
            mask,
            training,
            go_backwards=self.go_backwards,
            zero_output_for_mask=self.zero_output_for_mask,
            return_sequences=self.return_sequences,
        )

    @_graph_code
    def step(self, inputs, states, mask=None, training=False):
        """Runs a chunk of frames with explicit state: the streaming API.

        Args:
            inputs: `[batch, time, features]` (time may be 1).
            states: `[h, c]`.
            mask: optional `[batch, time]` bool.

        Returns:
            `(outputs [batch, time, units], [h, c])`. Running a sequence chunk
            by chunk, carrying the states, gives the whole-sequence result.
        """
        inputs = tf.cast(tf.convert_to_tensor(inputs), self.compute_dtype)
        if not self.built:
            self.build(inputs.shape)
        input_checks.check_call(self, inputs, states, mask, states_name="states")
        states = [tf.cast(s, self.compute_dtype) for s in states]
        _, outputs, new_states = self._run(
            inputs,
            states,
            mask,
            training,
            go_backwards=False,
            zero_output_for_mask=False,
            return_sequences=True,
        )
        return outputs, new_states

    @_graph_code
    def _run(
        self,
        sequences,
        initial_state,
        mask,
        training,
        go_backwards,
        zero_output_for_mask,
        return_sequences,
    ):
        """Returns `(last_output, outputs, [h, c])` as `keras.layers.RNN` expects."""
        h0, c0 = initial_state
        if mask is not None:
            mask = tf.cast(mask, tf.bool)
        sequences, recurrent_kernel = self._dropped_out(sequences, training)
        implementation = self._implementation()
        if implementation == "cell_loop":
            hidden, c_last = self._cell_loop(
                sequences, h0, c0, mask, recurrent_kernel, training, go_backwards
            )
            code = tf.constant(cudnn.FALLBACK)
        else:
            hidden, c_last, code = self._classic_kernel(
                implementation,
                (sequences, recurrent_kernel, h0, c0, mask),
                training,
                go_backwards,
            )
            if tf.executing_eagerly():
                implementation = "cudnn" if int(code) == cudnn.CUDNN else "fused"
            elif implementation == "cudnn":
                # Traced: the device decides when the graph runs.
                implementation = "cudnn_or_fused"
        # In a graph, a test can fetch this to see which kernel really ran.
        self.last_implementation_code = code
        self.last_implementation = implementation
        return _keras_outputs(
            hidden, c_last, mask, go_backwards, zero_output_for_mask, return_sequences
        )

    def _dropped_out(self, sequences, training):
        """This call's `(sequences, recurrent_kernel)`, after input dropout and
        weight dropout when training."""
        cell = self.cell
        if training and cell.dropout > 0:
            # One dropout mask per sequence, shared by all steps (as Keras).
            keep = keras.random.dropout(
                tf.ones_like(sequences[:, 0, :]), cell.dropout, seed=cell.seed_generator
            )
            sequences = sequences * keep[:, None, :]
        recurrent_kernel = tf.convert_to_tensor(cell.recurrent_kernel)
        if training and self.weight_dropout > 0:
            recurrent_kernel = keras.random.dropout(
                recurrent_kernel, self.weight_dropout, seed=self.weight_dropout_seed
            )
        return sequences, recurrent_kernel

    @_graph_code
    def _classic_kernel(self, implementation, tensors, training, go_backwards):
        """The classic equations on the fused fallback, or on cuDNN by device.

        `tensors` is `(sequences, recurrent_kernel, h0, c0, mask)`. Returns
        `(hidden, c_last, code)`, `code` naming the kernel that ran.
        """
        cell = self.cell
        sequences, recurrent_kernel, h0, c0, mask = tensors
        kernel = tf.convert_to_tensor(cell.kernel)
        if cell.use_bias:
            bias = tf.convert_to_tensor(cell.bias)
        else:
            bias = tf.zeros([4 * cell.units], dtype=kernel.dtype)
        arguments = (sequences, kernel, recurrent_kernel, bias, h0, c0)
        has_projection = cell.projection_kernel is not None
        if has_projection:
            arguments += (tf.convert_to_tensor(cell.projection_kernel),)
        if mask is not None:
            arguments += (mask,)  # last: run_on_device reads it there

        def unpack(args):
            """The 7 positional arguments of the kernels, and the projection."""
            args = list(args)
            mask_arg = args.pop() if mask is not None else None
            projection = args.pop() if has_projection else None
            return (*args, mask_arg), projection

        # As in Keras, None is inference; a tensor means "maybe" (both paths
        # give correct gradients, the training one keeps what its backward needs).
        keep_gates = tf.is_tensor(training) or bool(training)

        def run_fused(*args, hand_written_gradient=keep_gates or "recompute"):
            args, projection = unpack(args)
            return fallback.classic_lstm(
                *args,
                go_backwards,
                hand_written_gradient=hand_written_gradient,
                projection=projection,
            )

        def run_autodiff(*args):
            return run_fused(*args, hand_written_gradient=False)

        def run_cudnn(*args):
            args, projection = unpack(args)
            return cudnn.cudnn_lstm(*args, go_backwards, projection=projection)

        if implementation == "fused":
            hidden, c_last = run_fused(*arguments)
            return hidden, c_last, tf.constant(cudnn.FALLBACK)
        return cudnn.run_on_device(
            run_cudnn, run_fused, run_autodiff, arguments, mask, keep_gates
        )

    def _implementation(self):
        """ "cudnn" (device-selected), "fused" or "cell_loop"; logged once."""
        implementation, why = self._implementation_and_reason()
        if not self._logged_implementation:
            logger.info("%s: implementation %s (%s)", self.name, implementation, why)
            self._logged_implementation = True
        return implementation

    def _implementation_and_reason(self):
        """`(implementation, why)` for this configuration."""
        cell = self.cell
        if (
            cell.recurrent_dropout
            or not cell.uses_classic_equations
            or not cudnn.has_classic_activations(cell)
            or self.unroll
        ):
            implementation, why = "cell_loop", "; ".join(self._cudnn_reasons)
        elif self.use_cudnn is False:
            implementation, why = "fused", "use_cudnn=False"
        elif self._cudnn_reasons:
            implementation, why = "fused", "; ".join(self._cudnn_reasons)
        else:
            implementation = "cudnn"
            why = "cuDNN on a GPU (chosen at run time), fused fallback elsewhere"
        return implementation, why

    @_graph_code
    def _cell_loop(
        self, sequences, h0, c0, mask, recurrent_kernel, training, go_backwards
    ):
        cell = self.cell
        time_major, mask = fallback.processing_order(sequences, mask, go_backwards)
        recurrent_dropout_mask = None
        if training and cell.recurrent_dropout > 0:
            recurrent_dropout_mask = keras.random.dropout(
                tf.ones_like(h0), cell.recurrent_dropout, seed=cell.seed_generator
            )
        return fallback.cell_loop(
            cell,
            cell.project_inputs(time_major),
            recurrent_kernel,
            h0,
            c0,
            mask,
            recurrent_dropout_mask,
            unroll=self.unroll,
        )

    def get_config(self):
        config = {
            "units": self.cell.units,
            "activity_regularizer": keras.regularizers.serialize(
                self.activity_regularizer
            ),
            "use_cudnn": self.use_cudnn,
            "weight_dropout": self.weight_dropout,
        }
        cell_config = self.cell.get_config()
        for name in _CELL_ARGUMENTS:
            config[name] = cell_config[name]
        base_config = super().get_config()
        del base_config["cell"]
        return {**base_config, **config}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _cell_property(name):
    return property(lambda self: getattr(self.cell, name), doc=f"The cell's `{name}`.")


# Like keras.layers.LSTM, the layer exposes its cell's settings as properties.
for _name in ("units", *_CELL_ARGUMENTS):
    setattr(LSTM, _name, _cell_property(_name))


def _keras_outputs(
    hidden, c_last, mask, go_backwards, zero_output_for_mask, return_sequences
):
    """Turns the carried states into Keras's `(last_output, outputs, states)`.

    A masked step's output repeats the last unmasked output, zeros before the
    first one (`keras.layers.RNN`'s rule), or is zero with
    `zero_output_for_mask`.
    """
    h_last = hidden[-1]
    outputs = hidden
    if mask is not None:
        valid = fallback.processing_order_mask(mask, go_backwards)
        if not zero_output_for_mask:
            # Steps after the first unmasked one carry its output forward.
            valid = tf.cast(tf.cumsum(tf.cast(valid, tf.int32), axis=0), tf.bool)
        outputs = tf.where(valid[..., None], hidden, tf.zeros_like(hidden))
    last_output = outputs[-1]
    if return_sequences:
        outputs = tf.transpose(outputs, [1, 0, 2])  # [batch, time, units]
    else:
        outputs = last_output[:, None, :]
    return last_output, outputs, [h_last, c_last]
