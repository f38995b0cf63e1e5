"""Portable LSTM loops in plain TensorFlow: the path used off the GPU.

- `classic_lstm`: the classic equations with tanh/sigmoid. Per step: the
  input matmul, one recurrent matmul and a few elementwise ops. Each step's
  gate derivatives are formed in the forward loop, beside the recurrence
  (`_step`), so the backward needs three multiplications per step besides its
  matmuls (`_step_backward`). Training runs one input projection up front
  and a hand-written backward over the whole sequence
  (`_projected_gradient`) whose weight gradients are large matmuls over all
  steps, as cuDNN does; the batch is cut into parts side by side
  (`training_chains`), one per core, each part's forward and backward
  loops compiled with XLA, which fuses each step's elementwise work. Inside
  an enclosing XLA compilation, where parts would run one after the other,
  narrow inputs (`projects_per_step`) instead run the input matmul in the
  loop and autodiff differentiates it, with `_step_backward` as each step's
  gradient (`_step_with_gradient`).
  Inference (nothing to keep for a backward pass) instead cuts the batch
  into parts with independent recurrences (`batch_chains`), so that each
  core runs one part: with a known batch size each part is one
  XLA-compiled loop (`_compiled_inference`); in `portable_graphs()` and
  for an unknown batch size, the parts share one plain TensorFlow loop.
- `cell_loop`: any cell's `gate_step` with autodiff, over the input
  projection of all steps; used for variants, custom activations and
  recurrent dropout.

Both return the carried hidden state of every step, time-major, plus the
final cell state. docs/performance.md has the measurements behind each choice.
"""

from __future__ import annotations

import functools
import os

import tensorflow as tf

from lstm_keras import portable

# How many loop iterations TensorFlow may run ahead: the per-step input
# matmuls of coming steps overlap with the recurrence (Keras uses 32 too).
PARALLEL_ITERATIONS = 32

# Inference's batch parts (`batch_chains`): at most this many, each with at
# least this many elements per gate (rows x units). Measured on 2 cores:
# parts of 32 x 128 ran 1.2x faster than one recurrence, parts of 8 x 128
# slower, and more parts than cores slower.
MAX_CHAINS = 4
MIN_CHAIN_ELEMENTS = 4096
# Training's batch parts (`training_chains`): each part's forward and
# whole-sequence backward run as XLA-compiled loops, one part per core.
# Parts of 8 rows (B=16, U=128) still ran 1.4x faster than one.
MIN_TRAINING_CHAIN_ROWS = 8


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


def batch_chains(batch_size, units):
    """How many parts of the batch inference runs side by side.

    The rows of a batch never interact, so inference cuts the batch into
    parts with independent recurrences in one loop: the executor runs each
    part's small ops on its own core, where a single recurrence leaves a
    core waiting out the other's per-op overhead. One part per core the
    process may use (at most `MAX_CHAINS`, no more than TensorFlow's
    inter-op threads), each of at least `MIN_CHAIN_ELEMENTS / units` rows
    when `batch_size` is known. Training cuts the batch too, into smaller
    parts (`training_chains`).
    """
    chains = _parallel_cores()
    if batch_size is not None:
        chains = min(chains, batch_size // _min_chain_rows(units))
    return max(chains, 1)


def training_chains(batch_size):
    """How many parts of the batch training runs side by side: one per core
    (as `batch_chains`), each of at least `MIN_TRAINING_CHAIN_ROWS` rows
    when `batch_size` is known."""
    chains = _parallel_cores()
    if batch_size is not None:
        chains = min(chains, batch_size // MIN_TRAINING_CHAIN_ROWS)
    return max(chains, 1)


def _parallel_cores():
    """The cores this process may use, at most `MAX_CHAINS` and no more
    than TensorFlow's inter-op threads."""
    if hasattr(os, "sched_getaffinity"):
        cores = len(os.sched_getaffinity(0))
    else:
        cores = os.cpu_count() or 1
    chains = min(cores, MAX_CHAINS)
    threads = tf.config.threading.get_inter_op_parallelism_threads()
    if threads:
        chains = min(chains, threads)
    return chains


def _min_chain_rows(units):
    return -(-MIN_CHAIN_ELEMENTS // units)


def _compiled_by_xla():
    """Whether the graph being traced is compiled by XLA (`jit_compile=True`)."""
    context = getattr(tf.__internal__, "get_enclosing_xla_context", None)
    return context is not None and context() is not None


def split_batch(tensor, chains):
    """`tensor` cut along its first axis into `chains` parts (None stays None).

    Part sizes differ by at most one row; an unknown size is cut at run time.
    """
    if tensor is None:
        return [None] * chains
    if chains == 1:
        return [tensor]
    size = tensor.shape[0]
    if size is not None and size % chains == 0:
        return tf.split(tensor, chains)
    size = tf.shape(tensor)[0]
    sizes = tf.stack([(size + chains - 1 - k) // chains for k in range(chains)])
    return tf.split(tensor, sizes, num=chains)


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
    projection=None,
):
    """The classic LSTM over batch-major `inputs` with Keras-layout weights.

    Same arguments and results as `cudnn.cudnn_lstm`, so the two are
    interchangeable: `(hidden [time, batch, units], c_last)`, hidden being the
    carried state per step in processing order. `hand_written_gradient`:
    - True (training): the hand-written whole-sequence backward, the batch
      cut into parts side by side (`training_chains`), one per core;
      `"one_part"` keeps the batch whole, for a caller that runs another
      loop beside this one (a bidirectional layer's other direction);
    - False: plain autodiff through the loop, for inside `tf.cond`, whose
      gradient cannot resolve a custom gradient's captures;
    - `"recompute"` (inference): with a known batch size, outside
      `lstm_keras.portable_graphs()`, XLA-compiled loops
      (`_compiled_inference`), else as False.
    `projection` (LSTMP's `[units, proj_units]` kernel) projects each step's
    h, as cuDNN's `num_proj`; that path is always differentiated by autodiff.
    """
    if hand_written_gradient == "recompute":
        if (
            projection is None
            and inputs.shape[0] is not None
            and not portable.is_active()
            and not _compiled_by_xla()
        ):
            return _compiled_inference(
                inputs, kernel, recurrent_kernel, bias, h0, c0, mask, go_backwards
            )
        hand_written_gradient = False
    kernel, recurrent_kernel, bias = (
        keras_to_internal_gates(w) for w in (kernel, recurrent_kernel, bias)
    )
    units = recurrent_kernel.shape[-1] // 4
    narrow = projects_per_step(inputs.shape[-1], units)
    arguments = (inputs, kernel, recurrent_kernel, bias, h0, c0, mask, go_backwards)
    if hand_written_gradient and projection is None:
        if hand_written_gradient == "one_part":
            return _whole_sequence_parts(*arguments, 1)
        if not _compiled_by_xla():
            return _whole_sequence_parts(*arguments, training_chains(inputs.shape[0]))
        if not narrow:  # Under XLA, parts would run one after the other.
            return _whole_sequence_parts(*arguments, 1)
    # Left: inside XLA, narrow inputs' training (the per-step gradient);
    # autodiff; LSTMP.
    # The per-step custom gradient knows no projection: LSTMP uses autodiff.
    step_gradient = hand_written_gradient and projection is None
    # Training here runs inside XLA: one recurrence.
    chains = 1 if hand_written_gradient else batch_chains(inputs.shape[0], units)
    if narrow and _compiled_by_xla():
        # XLA runs the parts one after the other: with per-step input
        # matmuls that measured slower (0.84-0.89x of Keras's against
        # 0.94x at B=64, D=40, U=128); wide inputs gained (1.04x -> 1.34x).
        chains = 1
        if not hand_written_gradient:
            # Keras's own program (docs/performance.md): 0.72-0.98x -> 1.0x.
            return _parts_loop(*arguments, 1, projection, per_gate=True)
    if chains == 1 or inputs.shape[0] is not None:
        return _parts_loop(*arguments, chains, projection, step_gradient)
    # Batch size unknown until run time (e.g. a serving signature).
    return tf.cond(
        tf.shape(inputs)[0] >= chains * _min_chain_rows(units),
        lambda: _parts_loop(*arguments, chains, projection),
        lambda: _parts_loop(*arguments, 1, projection),
    )


def _whole_sequence_parts(
    inputs, kernel, recurrent_kernel, bias, h0, c0, mask, go_backwards, chains
):
    """Training over `chains` parts of the batch side by side: each part's
    input projection up front, then its forward and whole-sequence backward
    (`_projected_gradient`) as XLA-compiled loops, one part per core (plain
    loops in `lstm_keras.portable_graphs()`)."""
    gradient = functools.partial(_projected_gradient, compiled=not portable.is_active())

    def run(x, h, c, m):
        time_major, m = processing_order(x, m, go_backwards)
        return _with_gradient(gradient, m)(
            _project(time_major, kernel, bias), recurrent_kernel, h, c
        )

    return _each_part(run, chains, inputs, h0, c0, mask)


def _each_part(run, chains, inputs, h0, c0, mask):
    """`run(x, h0, c0, mask)` on each of `chains` parts of the batch (side
    by side in the graph), the parts' `(hidden, c_last)` put back together."""
    parts = [
        run(*part)
        for part in zip(
            *(split_batch(t, chains) for t in (inputs, h0, c0, mask)), strict=True
        )
    ]
    if chains == 1:
        return parts[0]
    return (
        tf.concat([hidden for hidden, _ in parts], axis=1),
        tf.concat([c_last for _, c_last in parts], axis=0),
    )


def _compiled_inference(
    inputs, kernel, recurrent_kernel, bias, h0, c0, mask, go_backwards
):
    """Inference: each batch part (`batch_chains`) one XLA-compiled loop,
    side by side, one per core. Nothing is kept for a backward pass; a
    gradient, if one is asked for, reruns the training path and
    differentiates it."""
    chains = batch_chains(inputs.shape[0], recurrent_kernel.shape[0])

    @tf.custom_gradient
    def run(*tensors):
        # Unwatched: a tape would ask the compiled loop for its intermediate
        # values (TensorLists cannot leave XLA).
        x, kernel, recurrent_kernel, bias, h0, c0 = (
            tf.stop_gradient(t) for t in tensors
        )
        hidden, c_last = _each_part(
            lambda x, h, c, m: compiled_inference_loop(
                x, kernel, recurrent_kernel, bias, h, c, m, go_backwards
            ),
            chains,
            x,
            h0,
            c0,
            mask,
        )

        def grad(d_hidden, d_c_last):
            return gradient_by_rerun(
                lambda *t: classic_lstm(*t, mask, go_backwards),
                tensors,
                (d_hidden, d_c_last),
            )

        return (hidden, c_last), grad

    return run(inputs, kernel, recurrent_kernel, bias, h0, c0)


def gradient_by_rerun(forward, tensors, d_results):
    """The gradient of `forward(*tensors)` for the upstream `d_results`,
    taken by running `forward` (the training path) again under a tape."""
    # Fresh copies: one tensor may fill two positions (a bidirectional
    # layer's two inputs), and its gradient must be split between them.
    fresh = [tf.identity(t) for t in tensors]
    with tf.GradientTape() as tape:
        tape.watch(fresh)
        results = forward(*fresh)
    return tape.gradient(
        results,
        fresh,
        output_gradients=list(d_results),
        unconnected_gradients=tf.UnconnectedGradients.ZERO,
    )


def _inference_loop(inputs, kernel, recurrent_kernel, bias, h0, c0, mask, go_backwards):
    """One inference loop over Keras-layout weights, the input matmul in
    the loop: `(hidden [time, batch, units], c_last)`."""
    kernel, recurrent_kernel, bias = (
        keras_to_internal_gates(w) for w in (kernel, recurrent_kernel, bias)
    )
    time_major, mask = processing_order(inputs, mask, go_backwards)
    time_steps = tf.shape(time_major)[0]
    # Under XLA the per-step input matmul was faster than one up front at
    # every benchmark shape, wide inputs included (docs/performance.md).
    step_inputs = _per_step_projection(time_major, kernel, bias, time_steps)
    narrow = projects_per_step(inputs.shape[-1], recurrent_kernel.shape[-1] // 4)
    hidden, c_last, _ = _forward(
        [step_inputs],
        time_steps,
        recurrent_kernel,
        [h0],
        [c0],
        [mask],
        per_gate=narrow,
    )
    return hidden[0], c_last[0]


# XLA fuses each step's matmuls and elementwise work and runs the loop
# without the executor's per-op cost; several such calls in one graph (batch
# parts, or a bidirectional layer's directions) run one per core. Defined
# once, so that eager calls reuse its traces.
compiled_inference_loop = tf.function(
    _inference_loop, jit_compile=True, autograph=False
)


def _parts_loop(
    inputs,
    kernel,
    recurrent_kernel,
    bias,
    h0,
    c0,
    mask,
    go_backwards,
    chains,
    projection=None,
    step_gradient=False,
    per_gate=False,
):
    """`classic_lstm` over `chains` parts of the batch side by side.

    Differentiated by autodiff, with `_step_with_gradient` per step when
    `step_gradient` (training, narrow inputs, one part). `per_gate`: see
    `_step_per_gate`.
    """
    # Cut batch-major: each part is a contiguous block of rows.
    inputs, h0, c0, mask = (split_batch(t, chains) for t in (inputs, h0, c0, mask))
    parts = [
        processing_order(x, m, go_backwards) for x, m in zip(inputs, mask, strict=True)
    ]
    features, units = inputs[0].shape[-1], recurrent_kernel.shape[-1] // 4
    time_steps = tf.shape(parts[0][0])[0]
    if projects_per_step(features, units):
        step_inputs = [
            _per_step_projection(x, kernel, bias, time_steps) for x, _ in parts
        ]
    else:
        step_inputs = [_stepper(_project(x, kernel, bias)) for x, _ in parts]
    hidden, c_last, _ = _forward(
        step_inputs,
        time_steps,
        recurrent_kernel,
        h0,
        c0,
        [m for _, m in parts],
        step_gradient=step_gradient,
        projection=projection,
        per_gate=per_gate,
    )
    if chains == 1:
        return hidden[0], c_last[0]
    return tf.concat(hidden, axis=1), tf.concat(c_last, axis=0)


def _per_step_projection(time_major, kernel, bias, time_steps):
    """`t` -> x·W + b of step t, computed in the loop (narrow inputs)."""
    # Read through a TensorArray: autodiff turns the reads into writes of the
    # input gradient, where a slice's gradient would be a whole
    # [time, batch, features] tensor per step.
    steps = tf.TensorArray(time_major.dtype, size=time_steps).unstack(time_major)
    # A plain matmul and add: oneDNN's fused matmul + bias measured slower on
    # these small shapes (forward 0.89x -> 1.0x of Keras's).
    return lambda t: tf.matmul(steps.read(t), kernel) + bias


def _project(time_major, kernel, bias):
    """x·W + b of every step in one matmul: `[time, batch, 4u]`."""
    features = time_major.shape[-1]
    projected = tf.nn.bias_add(
        tf.matmul(tf.reshape(time_major, [-1, features]), kernel), bias
    )
    return tf.reshape(
        projected, tf.concat([tf.shape(time_major)[:2], [kernel.shape[-1]]], 0)
    )


def _stepper(projected):
    """`t` -> step t of a precomputed `[time, batch, 4u]` projection."""
    return lambda t: projected[t]


def _time_steps(projected):
    return tf.shape(projected)[0]


def _step(z, c, with_factors=False):
    """One step of the classic equations from z = x·W + h·U + b `[batch, 4u]`.

    Returns `(h, c_new, factors)`; with `with_factors`, `factors` holds what
    `_step_backward` needs, else it is empty.
    """
    units = z.shape[-1] // 4  # static from the kernels, even when c is not
    sigmoid_part, candidate_part = tf.split(z, [3 * units, units], axis=-1)
    gates = tf.sigmoid(sigmoid_part)
    candidate = tf.tanh(candidate_part)
    o, i, f = tf.split(gates, 3, axis=-1)
    c_new = f * c + i * candidate
    tanh_c = tf.tanh(c_new)
    h = o * tanh_c
    if not with_factors:
        return h, c_new, ()
    # dc += dh·o·(1 - tanh²c); dz = [dh, dc, dc, dc]·factors, the factors being
    # the gates' derivatives times what each gate multiplied.
    dc_per_dh = tf.raw_ops.TanhGrad(y=tanh_c, dy=o)
    dz_factors = tf.concat(
        [
            tf.raw_ops.SigmoidGrad(y=gates, dy=tf.concat([tanh_c, candidate, c], -1)),
            tf.raw_ops.TanhGrad(y=candidate, dy=i),
        ],
        axis=-1,
    )
    return h, c_new, (dc_per_dh, dz_factors, f)


def _step_backward(dh, dc, dc_per_dh, dz_factors, forget_gate):
    """One step's gradient: from those of its outputs h and c to `(dz, dc_prev)`.

    Three multiplications: the step's own derivatives were formed forward, off
    the recurrence's critical path (`_step`).
    """
    dc = dc + dh * dc_per_dh
    dz = tf.concat([dh, dc, dc, dc], axis=-1) * dz_factors  # [batch, 4u]
    return dz, dc * forget_gate


def _step_per_gate(z, c):
    """`_step` without factors, one activation per gate as Keras's cell.

    In XLA-compiled inference loops with narrow inputs, XLA then fuses each
    gate's activation into the ops that read it, where `_step`'s one sigmoid
    over three gates is a fusion of its own, written out and read back.
    Measured on the AVX2 CPU (docs/performance.md): inside an enclosing
    compilation the narrow forward went from 0.72-0.98x of Keras's to
    0.98-1.04x (then both are the same program); our own compiled
    inference loops 3-11 % faster. With wide inputs (D=U=256) `_step` was
    faster in both.
    """
    o, i, f, candidate = tf.split(z, 4, axis=-1)
    c_new = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(candidate)
    return tf.sigmoid(o) * tf.tanh(c_new), c_new, ()


@tf.custom_gradient
def _step_with_gradient(z, c):
    """`_step` whose gradient is `_step_backward`.

    Inside a while loop, autodiff keeps the factors per step (TensorList
    pushes, no copies) and adds the matmuls' gradients; this replaces only
    the dozen small ops of the gate derivatives with three.
    """
    h, c_new, factors = _step(z, c, with_factors=True)

    def grad(dh, dc_new):
        return _step_backward(dh, dc_new, *factors)

    return (h, c_new), grad


def _forward(
    step_inputs,
    time_steps,
    recurrent_kernel,
    h0,
    c0,
    masks,
    keep_factors=False,
    step_gradient=False,
    projection=None,
    per_gate=False,
):
    """The forward loop over parts of a batch, side by side in one loop.

    `step_inputs` holds one function per part, `t` -> that part's x·W + b of
    step t; `h0`, `c0` and `masks` (None or `[time, batch]` bool) one entry
    per part. Returns lists with an entry per part: `(hidden, c_last,
    saved)`, the carried h of every step `[time, batch, u]`, the final c and,
    with `keep_factors`, the stacked `[time, batch, ...]` factors of
    `_step_backward` for a whole-sequence backward loop (they depend only
    on the step's own values, off the recurrence's critical path).
    `step_gradient` instead differentiates each step with
    `_step_with_gradient` under autodiff; `per_gate` (no factors) steps
    with `_step_per_gate`. `projection` (LSTMP, autodiff
    only) multiplies each step's h. With a
    leading direction axis on the states, masks and a batched recurrent
    kernel, one part carries both directions of a bidirectional layer.
    """
    names = ("hidden", "dc_per_dh", "dz_factors", "forget_gates")
    kept = names if keep_factors else names[:1]

    def step(t, inputs, h, c, mask, arrays):
        z = inputs(t) + tf.matmul(h, recurrent_kernel)  # [batch, 4u]
        if step_gradient:
            h_new, c_new = _step_with_gradient(z, c)
            factors = ()
        elif per_gate:
            h_new, c_new, factors = _step_per_gate(z, c)
        else:
            h_new, c_new, factors = _step(z, c, with_factors=keep_factors)
        if projection is not None:
            h_new = tf.matmul(h_new, projection)
        if mask is not None:
            keep = mask[t][..., None]
            h_new = tf.where(keep, h_new, h)
            c_new = tf.where(keep, c_new, c)
        values = (h_new, *factors)
        arrays = tuple(a.write(t, v) for a, v in zip(arrays, values, strict=True))
        return h_new, c_new, arrays

    def body(t, hs, cs, arrays):
        parts = zip(step_inputs, hs, cs, masks, arrays, strict=True)
        new = [step(t, *part) for part in parts]
        return (t + 1, *(list(values) for values in zip(*new, strict=True)))

    arrays = [tuple(tf.TensorArray(h.dtype, size=time_steps) for _ in kept) for h in h0]
    _, _, c_last, arrays = tf.while_loop(
        lambda t, *_: t < time_steps,
        body,
        (tf.constant(0), list(h0), list(c0), arrays),
        maximum_iterations=time_steps,
        parallel_iterations=PARALLEL_ITERATIONS,
    )
    # Stacked, not kept as TensorArrays: the gradient function captures them,
    # and a SavedModel cannot serialize a function capturing a TensorList.
    saved = [
        {name: array.stack() for name, array in zip(kept, part, strict=True)}
        for part in arrays
    ]
    return [part.pop("hidden") for part in saved], list(c_last), saved


def _forward_keeping_factors(projected, recurrent_kernel, h0, c0, mask):
    """`_forward` of one part over a precomputed projection, keeping the
    factors of `_step_backward`: `(hidden, c_last, saved factors)`."""
    hidden, c_last, saved = _forward(
        [_stepper(projected)],
        _time_steps(projected),
        recurrent_kernel,
        [h0],
        [c0],
        [mask],
        keep_factors=True,
    )
    return hidden[0], c_last[0], saved[0]


# XLA fuses each step's elementwise work and runs the loop without the
# executor's per-op cost: training steps 1.37x -> 1.56x of Keras's at B=32,
# T=50, D=U=256 on the idle machine (docs/performance.md). Defined once, so
# that eager calls reuse its trace.
_compiled_forward_keeping_factors = tf.function(
    _forward_keeping_factors, jit_compile=True, autograph=False
)


def _projected_gradient(projected, recurrent_kernel, h0, c0, mask, compiled=False):
    """Forward over a precomputed projection, and a whole-sequence backward.

    `projected` is `[time, batch, 4u]`. Returns `((hidden, c_last),
    backward)`, `backward(d_hidden, d_c_last)` giving the gradients of
    `projected`, `recurrent_kernel`, `h0` and `c0` (`_backward`).
    """
    forward = (
        _compiled_forward_keeping_factors if compiled else _forward_keeping_factors
    )
    # The custom gradient replaces autodiff here: unwatched inputs keep a
    # tape from asking the compiled loop for its intermediate values.
    projected, recurrent_kernel, h0, c0 = (
        tf.stop_gradient(t) for t in (projected, recurrent_kernel, h0, c0)
    )
    hidden, c_last, saved = forward(projected, recurrent_kernel, h0, c0, mask)
    backward_loop = _compiled_backward if compiled else _backward

    def backward(d_hidden, d_c_last):
        return backward_loop(
            d_hidden,
            d_c_last,
            saved["dc_per_dh"],
            saved["dz_factors"],
            saved["forget_gates"],
            hidden,
            recurrent_kernel,
            h0,
            mask,
        )

    return (hidden, c_last), backward


def _backward(
    d_hidden,
    d_c_last,
    dc_per_dh,
    dz_factors,
    forget_gates,
    hidden,
    recurrent_kernel,
    h0,
    mask,
):
    """The whole-sequence backward of `_forward_keeping_factors`.

    One reverse loop: per step, `_step_backward` on the saved factors and
    one matmul carrying the gradient to the previous h. It returns the
    gradient of every step's projection (autodiff turns it into large
    matmuls for the inputs, kernel and bias) and forms the recurrent
    kernel's gradient as one large matmul over all steps, as cuDNN does:
    `(d_projected, d_recurrent_kernel, dh0, dc0)`.
    """
    time_steps = _time_steps(d_hidden)

    def body(t, dh_next, dc_next, d_projected):
        # Slicing a step off the first axis aliases the stacked tensor.
        dh = d_hidden[t] + dh_next
        dz, dc_prev = _step_backward(
            dh, dc_next, dc_per_dh[t], dz_factors[t], forget_gates[t]
        )
        if mask is not None:
            # A masked step passed the state through unchanged.
            keep = mask[t][..., None]
            dz = tf.where(keep, dz, tf.zeros_like(dz))
            dc_prev = tf.where(keep, dc_prev, dc_next)
        dh_prev = tf.matmul(dz, recurrent_kernel, transpose_b=True)
        if mask is not None:
            dh_prev = tf.where(keep, dh_prev, dh)
        return t - 1, dh_prev, dc_prev, d_projected.write(t, dz)

    _, dh0, dc0, d_projected = tf.while_loop(
        lambda t, *_: t >= 0,
        body,
        (
            time_steps - 1,
            tf.zeros_like(h0),
            d_c_last,
            tf.TensorArray(h0.dtype, size=time_steps),
        ),
        maximum_iterations=time_steps,
        parallel_iterations=PARALLEL_ITERATIONS,
    )
    d_projected = d_projected.stack()  # [time, batch, 4u]
    h_prev = tf.concat([h0[None], hidden[:-1]], axis=0)
    d_recurrent_kernel = tf.matmul(
        _steps_as_rows(h_prev), _steps_as_rows(d_projected), transpose_a=True
    )
    return d_projected, d_recurrent_kernel, dh0, dc0


# XLA fuses the reverse loop's small ops: 1.5x faster training steps at
# B=32, T=50, D=U=256 (docs/performance.md), for a compilation of about
# 0.3 s per new input shape. Defined once, so that every trace with the
# same shapes reuses one compilation (a function made per trace compiled
# anew each time: a tenth of the test suite's time). No AutoGraph: the
# loop is an explicit tf.while_loop, there is nothing to rewrite.
_compiled_backward = tf.function(_backward, jit_compile=True, autograph=False)


def _steps_as_rows(values):
    """`[time, batch, n]` -> `[time * batch, n]`."""
    return tf.reshape(values, [-1, values.shape[-1]])


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
