"""One-line errors for call arguments of the wrong shape.

Checked on the static shapes, before anything runs: otherwise a wrong shape
surfaces as a MatMul or StridedSlice error from inside the loop, wrapped in
Keras's call report. Dimensions unknown until run time are not checked.
"""

from __future__ import annotations


def check_call(
    layer, sequences, initial_state=None, mask=None, states_name="initial_state"
):
    """Raises a ValueError naming the problem if the call's shapes disagree.

    Args:
        layer: the `LSTM` being called (built or not).
        sequences: `[batch, time, features]`; anything with a `.shape`.
        initial_state: None or `[h, c]`.
        mask: None or `[batch, time]`.
        states_name: what the caller calls `initial_state`, for the message.
    """
    shape = _shape(sequences)
    if shape is None or len(shape) != 3:
        return  # Keras's InputSpec reports the rank.
    _check_features(layer, shape)
    batch, time, _ = shape
    if initial_state is not None:
        _check_states(layer, initial_state, batch, states_name)
    mask_shape = _shape(mask)
    if mask_shape and mask_shape[0] == 1:
        mask_shape = (batch, *mask_shape[1:])  # One row broadcasts over the batch.
    if mask_shape is not None and not _agrees(mask_shape, (batch, time)):
        raise ValueError(
            f"{_describe(layer)}: mask has shape {_shape(mask)}; expected "
            f"(batch, time) = {(batch, time)}, as the inputs {shape}."
        )


def _check_states(layer, states, batch, what):
    """Raises a ValueError unless `states` is `[h, c]` of the cell's sizes."""
    if not isinstance(states, (list, tuple)) or len(states) != 2:
        count = len(states) if isinstance(states, (list, tuple)) else 1
        raise ValueError(
            f"{_describe(layer)}: {what} must be a list [h, c] of 2 tensors; "
            f"got {count}."
        )
    for name, state, size in zip("hc", states, layer.cell.state_size, strict=True):
        shape = _shape(state)
        if shape is not None and not _agrees(shape, (batch, size)):
            raise ValueError(
                f"{_describe(layer)}: {what} {name} has shape {shape}; "
                f"expected (batch, {size}) = {(batch, size)}."
            )


def _check_features(layer, shape):
    kernel = getattr(layer.cell, "kernel", None)  # None until built
    built_for = None if kernel is None else kernel.shape[0]
    if built_for is not None and shape[-1] not in (None, built_for):
        raise ValueError(
            f"{_describe(layer)} was built for inputs with {built_for} features; "
            f"got inputs of shape {shape}."
        )


def _describe(layer):
    return f"{type(layer).__name__} '{layer.name}'"


def _shape(value):
    """`value`'s static shape as a tuple (None for unknown dims), or None."""
    shape = getattr(value, "shape", None)
    if shape is None:
        return None
    try:
        return tuple(None if d is None else int(d) for d in shape)
    except (TypeError, ValueError):  # Unknown rank.
        return None


def _agrees(shape, expected):
    """Same rank, and equal wherever both dimensions are known."""
    return len(shape) == len(expected) and all(
        a is None or b is None or a == b for a, b in zip(shape, expected, strict=True)
    )
