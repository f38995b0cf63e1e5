"""Quiet TensorFlow for the command line: its own output, not TensorFlow's logs.

TensorFlow's C++ core logs at import time (oneDNN, CUDA stubs, CPU features)
before it reads `TF_CPP_MIN_LOG_LEVEL`, and then logs INFO to ERROR lines
(`cuInit`, `graph_constructor`, XLA) while working; its Python side logs
through `absl` and `tf.get_logger()`. `import_tensorflow(verbose=False)`
imports TensorFlow with those import-time lines swallowed (and replayed if
the import fails), sets `TF_CPP_MIN_LOG_LEVEL=3` unless the user set it, and
lowers the Python loggers to errors. `--verbose` (or `LSTM_KERAS_VERBOSE=1`)
keeps TensorFlow's defaults.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile

VERBOSE_ENVIRONMENT = "LSTM_KERAS_VERBOSE"


def verbose_from_environment() -> bool:
    """True when `LSTM_KERAS_VERBOSE` is set to anything but `''`/`0`/`false`."""
    value = os.environ.get(VERBOSE_ENVIRONMENT, "").strip().lower()
    return value not in ("", "0", "false", "no")


def import_tensorflow(verbose: bool = False) -> None:
    """Imports TensorFlow (and Keras), quietly unless `verbose`.

    Must run before anything else imports TensorFlow to take full effect;
    later imports of TensorFlow are then free and silent.
    """
    if "tensorflow" in sys.modules:
        return
    if verbose:
        import keras  # noqa: F401
        import tensorflow  # noqa: F401

        return
    # 3: FATAL only. The CUDA build on a machine without a GPU logs
    # `cuInit` failures as ERROR on every run.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with _swallowed_stderr():
        import keras  # noqa: F401
        import tensorflow as tf
    tf.get_logger().setLevel(logging.ERROR)
    try:
        from absl import logging as absl_logging
    except ImportError:  # absl is TensorFlow's dependency; be safe anyway.
        return
    absl_logging.set_verbosity(absl_logging.ERROR)


@contextlib.contextmanager
def _swallowed_stderr():
    """Sends file descriptor 2 to a temporary file; replays it on an error.

    The C++ logs bypass `sys.stderr`, so only the descriptor catches them.
    """
    try:
        descriptor = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        # No real stderr (captured by a test runner, an embedded interpreter).
        yield
        return
    sys.stderr.flush()
    saved = os.dup(descriptor)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), descriptor)
        try:
            yield
        except BaseException:
            os.dup2(saved, descriptor)
            captured.seek(0)
            os.write(descriptor, captured.read())
            raise
        finally:
            os.dup2(saved, descriptor)
            os.close(saved)
