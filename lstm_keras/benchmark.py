"""Times `lstm_keras.LSTM` against `keras.layers.LSTM` in one process.

Both layers get the same weights and inputs; calls alternate between them so
that machine noise hits both alike, and the table reports medians and the
ratio keras / ours (above 1 means ours is faster). With `--xla`, a second
table times both layers compiled with XLA (`jit_compile=True`; ours with
`use_cudnn=False`, since a cuDNN twin cannot live in an XLA cluster). With
`--bidirectional`, another times `lstm_keras.Bidirectional(lstm_keras.LSTM)`
(both directions fused) against `keras.layers.Bidirectional(
keras.layers.LSTM)`, whose two directions already keep two cores busy.

    lstm-keras bench [--write docs/benchmarks.md] [--repeats 20] [--xla]
                     [--bidirectional]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import time

import numpy as np

# (batch, time, input features, units)
SHAPES = ((64, 100, 40, 128), (16, 500, 40, 128), (32, 50, 256, 256))


def _build_pair(batch, steps, features, units, use_cudnn="auto", bidirectional=False):
    import keras
    import tensorflow as tf

    import lstm_keras

    ours = lstm_keras.LSTM(units, return_sequences=True, use_cudnn=use_cudnn)
    theirs = keras.layers.LSTM(units, return_sequences=True)
    if bidirectional:
        ours = lstm_keras.Bidirectional(ours)
        theirs = keras.layers.Bidirectional(theirs)
    ours.build((batch, steps, features))
    theirs.build((batch, steps, features))
    ours.set_weights(theirs.get_weights())
    x = tf.constant(np.random.RandomState(0).randn(batch, steps, features), tf.float32)
    return ours, theirs, x


def _functions(layer, x, jit_compile=False):
    import tensorflow as tf

    @tf.function(jit_compile=jit_compile)
    def forward():
        return layer(x)

    @tf.function(jit_compile=jit_compile)
    def train_step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(layer(x, training=True)))
        return tape.gradient(loss, layer.trainable_variables)

    return forward, train_step


def _time(function):
    start = time.perf_counter()
    result = function()
    # Make sure the work is done, not just dispatched.
    for tensor in result if isinstance(result, list) else [result]:
        tensor.numpy()
    return time.perf_counter() - start


def measure(shape, repeats, xla=False, bidirectional=False):
    """Median seconds `{(which, phase): seconds}` for one shape."""
    ours, theirs, x = _build_pair(
        *shape, use_cudnn=False if xla else "auto", bidirectional=bidirectional
    )
    functions = {
        "ours": _functions(ours, x, jit_compile=xla),
        "keras": _functions(theirs, x, jit_compile=xla),
    }
    times = {(who, phase): [] for who in functions for phase in ("forward", "train")}
    for forward, train_step in functions.values():  # Trace and warm up.
        for _ in range(2):
            _time(forward)
            _time(train_step)
    for _ in range(repeats):
        for who, (forward, train_step) in functions.items():
            times[(who, "forward")].append(_time(forward))
            times[(who, "train")].append(_time(train_step))
    return {key: statistics.median(values) for key, values in times.items()}


def _device_name():
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        return f"GPU ({len(gpus)}x)"
    return f"CPU ({os.cpu_count()} cores, {platform.machine()}{_vector_width()})"


def _vector_width(cpuinfo_path="/proc/cpuinfo"):
    """`, AVX-512` or `, AVX2` where /proc/cpuinfo says: the ratios moved
    with it (docs/performance.md), as Keras's small per-step ops and our
    compiled loops gain differently from wider vectors."""
    try:
        with open(cpuinfo_path) as cpuinfo:
            flags = next(
                (line.split() for line in cpuinfo if line.startswith("flags")), []
            )
    except OSError:
        return ""
    for flag, name in (("avx512f", "AVX-512"), ("avx2", "AVX2")):
        if flag in flags:
            return f", {name}"
    return ""


def run(repeats, xla=False, bidirectional=False):
    import keras
    import tensorflow as tf

    rows = []
    for shape in SHAPES:
        result = measure(shape, repeats, xla=xla, bidirectional=bidirectional)
        rows.append((shape, result))
        print(_format_row(shape, result), flush=True)
    # Other work on the machine skews absolute times; ratios hold better.
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    header = (
        f"Measured {datetime.date.today()} on {_device_name()}, "
        + ("both compiled with XLA, " if xla else "")
        + ("bidirectional, " if bidirectional else "")
        + f"TensorFlow {tf.__version__}, Keras {keras.__version__}, float32, "
        f"median of {repeats} alternating runs; load average during the run "
        f"{load}. Ratio = keras / ours (above 1: ours is faster)."
    )
    return header, rows


_TABLE_HEAD = (
    "| B, T, D, U | forward: keras | forward: ours | ratio "
    "| train step: keras | train step: ours | ratio |\n"
    "| --- | --- | --- | --- | --- | --- | --- |"
)


def _format_row(shape, result):
    def ms(key):
        return f"{result[key] * 1000:.1f} ms"

    forward_ratio = result[("keras", "forward")] / result[("ours", "forward")]
    train_ratio = result[("keras", "train")] / result[("ours", "train")]
    return (
        f"| {', '.join(map(str, shape))} | {ms(('keras', 'forward'))} "
        f"| {ms(('ours', 'forward'))} | {forward_ratio:.2f}x "
        f"| {ms(('keras', 'train'))} | {ms(('ours', 'train'))} "
        f"| {train_ratio:.2f}x |"
    )


# The optional tables: (title, what they time).
_EXTRA_TABLES = {
    "xla": (
        "Compiled with XLA",
        "Both layers inside `tf.function(jit_compile=True)`, ours with "
        "`use_cudnn=False` (`lstm-keras bench --xla`).",
    ),
    "bidirectional": (
        "Bidirectional",
        "`lstm_keras.Bidirectional(lstm_keras.LSTM(U))`, both directions fused, "
        "against `keras.layers.Bidirectional(keras.layers.LSTM(U))` "
        "(`lstm-keras bench --bidirectional`); B, T, D, U are those of each "
        "direction.",
    ),
}


def to_markdown(header, rows, extra=None):
    """The benchmarks page.

    `extra` maps a name of `_EXTRA_TABLES` to that table's `(header, rows)`.
    """
    lines = [
        "# Benchmarks",
        "",
        "`lstm_keras.LSTM` against `keras.layers.LSTM`, same weights and inputs, "
        "in one process (`make bench`, or `lstm-keras bench --write "
        "docs/benchmarks.md`). Forward is `layer(x)`; the train step is forward "
        "plus the gradient of a loss with respect to the weights, each in a "
        "`tf.function`.",
        "",
        header,
        "",
        _TABLE_HEAD,
        *(_format_row(shape, result) for shape, result in rows),
        "",
    ]
    for name, (table_header, table_rows) in (extra or {}).items():
        title, description = _EXTRA_TABLES[name]
        lines += [
            f"## {title}",
            "",
            description,
            "",
            table_header,
            "",
            _TABLE_HEAD,
            *(_format_row(shape, result) for shape, result in table_rows),
            "",
        ]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="lstm-keras bench", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--repeats", type=int, default=20, help="timed runs per case")
    parser.add_argument("--write", metavar="FILE", help="also write the table here")
    parser.add_argument(
        "--xla", action="store_true", help="also time both layers compiled with XLA"
    )
    parser.add_argument(
        "--bidirectional",
        action="store_true",
        help="also time lstm_keras.Bidirectional against keras.layers.Bidirectional",
    )
    args = parser.parse_args(argv)
    print(_TABLE_HEAD)
    header, rows = run(args.repeats)
    print(header)
    extra = {}
    for name in ("xla", "bidirectional"):
        if getattr(args, name):
            print(f"{_EXTRA_TABLES[name][0]}:\n{_TABLE_HEAD}")
            extra[name] = run(args.repeats, **{name: True})
            print(extra[name][0])
    if args.write:
        with open(args.write, "w") as file:
            file.write(to_markdown(header, rows, extra))
        print(f"wrote {args.write}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
