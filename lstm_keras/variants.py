"""LSTM variants written the documented way: a cell that overrides `gate_step`.

Each runs on the portable cell loop with masking, dropout, `Bidirectional`,
serialization, export and the step API, like any user-written variant. The
projection variant (LSTMP) is the `proj_units` argument of `LSTM` itself.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from lstm_keras.cell import LSTMCell
from lstm_keras.lstm import LSTM


@keras.saving.register_keras_serializable(package="lstm_keras")
class LayerNormLSTMCell(LSTMCell):
    """Layer-normalized LSTM (Ba, Kiros & Hinton, 2016).

    z = LN(x·W) + LN(h·U) + b; c = f⊙c_prev + i⊙c̃; h = o⊙tanh(LN(c)).
    Each LN has its own gain and offset; `layer_norm_epsilon` guards the
    variance.
    """

    def __init__(self, units, layer_norm_epsilon=1e-3, **kwargs):
        super().__init__(units, **kwargs)
        self.layer_norm_epsilon = layer_norm_epsilon
        self.input_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, name="input_norm"
        )
        self.recurrent_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, name="recurrent_norm"
        )
        self.cell_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, name="cell_norm"
        )

    def build(self, input_shape):
        super().build(input_shape)
        self.input_norm.build((None, 4 * self.units))
        self.recurrent_norm.build((None, 4 * self.units))
        self.cell_norm.build((None, self.units))

    def project_inputs(self, inputs):
        # The bias comes after the normalizations, in gate_step.
        return self.input_norm(tf.einsum("...d,dg->...g", inputs, self.kernel))

    def gate_step(self, projected_inputs, h_prev, c_prev, recurrent_kernel):
        z = projected_inputs + self.recurrent_norm(tf.matmul(h_prev, recurrent_kernel))
        if self.use_bias:
            z = z + self.bias
        z_i, z_f, z_c, z_o = tf.split(z, 4, axis=-1)
        i = self.recurrent_activation(z_i)
        f = self.recurrent_activation(z_f)
        o = self.recurrent_activation(z_o)
        c = f * c_prev + i * self.activation(z_c)
        h = o * self.activation(self.cell_norm(c))
        return self.project_output(h), c

    def get_config(self):
        return {**super().get_config(), "layer_norm_epsilon": self.layer_norm_epsilon}


@keras.saving.register_keras_serializable(package="lstm_keras")
class PeepholeLSTMCell(LSTMCell):
    """LSTM with peephole connections (Gers & Schmidhuber, 2000).

    The gates also see the cell state: i = σ(z_i + w_ci⊙c_prev),
    f = σ(z_f + w_cf⊙c_prev), o = σ(z_o + w_co⊙c), with diagonal (vector)
    peephole weights.
    """

    def build(self, input_shape):
        super().build(input_shape)
        self.peephole_weights = self.add_weight(
            shape=(3, self.units), name="peephole_weights", initializer="zeros"
        )

    def gate_step(self, projected_inputs, h_prev, c_prev, recurrent_kernel):
        z = projected_inputs + tf.matmul(h_prev, recurrent_kernel)
        z_i, z_f, z_c, z_o = tf.split(z, 4, axis=-1)
        w_ci, w_cf, w_co = tf.unstack(tf.convert_to_tensor(self.peephole_weights))
        i = self.recurrent_activation(z_i + w_ci * c_prev)
        f = self.recurrent_activation(z_f + w_cf * c_prev)
        c = f * c_prev + i * self.activation(z_c)
        o = self.recurrent_activation(z_o + w_co * c)
        h = o * self.activation(c)
        return self.project_output(h), c


@keras.saving.register_keras_serializable(package="lstm_keras")
class LayerNormLSTM(LSTM):
    """`LSTM` with `LayerNormLSTMCell`; extra argument `layer_norm_epsilon`."""

    cell_class = LayerNormLSTMCell

    def _cell_kwargs(self, kwargs):
        return {"layer_norm_epsilon": kwargs.pop("layer_norm_epsilon", 1e-3)}

    def get_config(self):
        config = super().get_config()
        config["layer_norm_epsilon"] = self.cell.layer_norm_epsilon
        return config


@keras.saving.register_keras_serializable(package="lstm_keras")
class PeepholeLSTM(LSTM):
    """`LSTM` with `PeepholeLSTMCell`."""

    cell_class = PeepholeLSTMCell
