"""NumPy reference of the classic LSTM: the oracle the tests compare against.

Weights follow Keras's layout and gate order (i, f, c, o): `kernel` is
`[input_dim, 4 * units]`, `recurrent_kernel` is `[units, 4 * units]`, `bias`
is `[4 * units]`.
"""

from __future__ import annotations

import numpy as np


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def lstm_cell_forward(x_t, h_prev, c_prev, kernel, recurrent_kernel, bias):
    """One step of the classic LSTM.

    Args:
        x_t: `[batch, input_dim]`.
        h_prev, c_prev: `[batch, units]`.
        kernel, recurrent_kernel, bias: Keras-layout weights (gates i, f, c, o).

    Returns:
        `(h, c)`, each `[batch, units]`.
    """
    z = x_t @ kernel + h_prev @ recurrent_kernel + bias
    z_i, z_f, z_c, z_o = np.split(z, 4, axis=-1)
    i = sigmoid(z_i)
    f = sigmoid(z_f)
    c_candidate = np.tanh(z_c)
    o = sigmoid(z_o)
    c = f * c_prev + i * c_candidate
    h = o * np.tanh(c)
    return h, c


def lstm_forward(
    x,
    kernel,
    recurrent_kernel,
    bias,
    initial_state=None,
    mask=None,
    go_backwards=False,
):
    """Runs the LSTM over `x` `[batch, time, input_dim]` with Keras semantics.

    A masked step leaves the state unchanged; its output repeats the last
    unmasked output (zeros before the first), as `keras.layers.RNN` does.
    With `go_backwards`, time is reversed and outputs stay in processing order.

    Returns:
        `(outputs [batch, time, units], h [batch, units], c [batch, units])`.
    """
    x = np.asarray(x, dtype=np.float64)
    batch, time, _ = x.shape
    units = recurrent_kernel.shape[0]
    if initial_state is None:
        h = np.zeros((batch, units))
        c = np.zeros((batch, units))
    else:
        h, c = (np.asarray(s, dtype=np.float64) for s in initial_state)
    mask = np.ones((batch, time), bool) if mask is None else np.asarray(mask, bool)
    if go_backwards:
        x = x[:, ::-1]
        mask = mask[:, ::-1]
    outputs = np.zeros((batch, time, units))
    last_output = np.zeros((batch, units))
    for t in range(time):
        h_new, c_new = lstm_cell_forward(x[:, t], h, c, kernel, recurrent_kernel, bias)
        keep = mask[:, t, None]
        h = np.where(keep, h_new, h)
        c = np.where(keep, c_new, c)
        last_output = np.where(keep, h_new, last_output)
        outputs[:, t] = last_output
    return outputs, h, c
