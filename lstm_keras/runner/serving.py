"""`ServingModule`: the base of every app's export.

An app's `serving_module()` returns one of these. Its subclass holds the
trained model and adds each serving function with `add_signature`: the
function becomes an attribute of the module (callable in memory and after
`tf.saved_model.load`) and a named signature, which the exporter collects with
`serving_signatures()`. Preprocessing runs inside these functions, so the
SavedModel takes raw inputs (OpenNMT-tf's `Model.serve_function` does the same).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import tensorflow as tf

from lstm_keras.portable import portable_graphs

DEFAULT_SIGNATURE = "serving_default"


class ServingModule(tf.Module):
    """A `tf.Module` whose serving functions are its export's signatures.

    Args:
        name: the module's name (shown in the SavedModel's object graph).
    """

    def __init__(self, name: str):
        super().__init__(name=name)
        self._signature_functions: dict[str, Any] = {}

    def add_signature(
        self,
        name: str,
        function: Callable[..., Any],
        input_signature: Sequence[tf.TensorSpec] | None = None,
        *,
        autograph: bool = False,
        **keyword_specs: tf.TensorSpec,
    ) -> Any:
        """Traces `function` as the signature `name` and returns the `tf.function`.

        Args:
            name: the signature name (`serving_default` for the main one).
            function: a method taking tensors and returning a dict of tensors.
            input_signature: the positional inputs' specs (their `name`s are
                the request's input names).
            autograph: off by default: serving functions use plain TF ops
                (`tf.cond`, `tf.while_loop`), and AutoGraph would re-read the
                source file at trace time, which is wrong if it changed since
                import.
            **keyword_specs: specs of keyword inputs, for functions that take
                `**inputs` (e.g. streaming states), instead of
                `input_signature`.
        """
        if name in self._signature_functions:
            raise ValueError(f"signature {name!r} is already defined")
        traced = tf.function(
            function, input_signature=input_signature, autograph=autograph
        )
        # No XLA in what TF Serving will run (see `lstm_keras.portable`).
        with portable_graphs():
            concrete = traced.get_concrete_function(**keyword_specs)
        self._signature_functions[name] = concrete
        return traced

    def serving_signatures(self) -> dict[str, Any]:
        """`{signature name: concrete function}`, `serving_default` first."""
        functions = dict(self._signature_functions)
        if DEFAULT_SIGNATURE not in functions:
            raise ValueError(
                f"serving module {self.name!r} has no {DEFAULT_SIGNATURE!r} "
                f"signature (has: {', '.join(functions) or 'none'})"
            )
        return {
            DEFAULT_SIGNATURE: functions.pop(DEFAULT_SIGNATURE),
            **functions,
        }
