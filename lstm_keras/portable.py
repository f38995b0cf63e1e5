"""`portable_graphs()`: trace without XLA, for graphs that will be exported.

The layers compile some CPU loops with XLA (`jit_compile=True`) where that
is faster. A SavedModel holding such a function serves only where XLA runs:
TF Serving enables XLA on CPU only behind an experimental flag
(`--xla_cpu_compilation_enabled`) and has no XLA compiler for its GPU builds.
Inside `portable_graphs()` the layers trace their plain TensorFlow loops
instead; `lstm_keras.runner.ServingModule` traces every signature this way.
"""

from __future__ import annotations

import contextlib
import threading

_state = threading.local()


@contextlib.contextmanager
def portable_graphs():
    """Layers called (traced) inside use no XLA-compiled functions."""
    _state.depth = active_depth() + 1
    try:
        yield
    finally:
        _state.depth -= 1


def active_depth() -> int:
    return getattr(_state, "depth", 0)


def is_active() -> bool:
    """Whether the caller is inside `portable_graphs()`."""
    return active_depth() > 0
