"""Imports a module on its first attribute access (for a fast `--help`)."""

from __future__ import annotations

import importlib.util
import sys
import types


def lazy_import(name: str) -> types.ModuleType:
    """The module `name`, run on its first attribute access, not now.

    An app module names its TensorFlow-using submodules at the top with this
    (`model = lazy_import("apps.timeseries.model")`) and still imports in
    milliseconds, so `lstm-keras apps` and `config` answer without TensorFlow.
    (`importlib.util.LazyLoader`, as the Python docs show it.)
    """
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None:
        raise ModuleNotFoundError(f"no module named {name!r}", name=name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, module)
    return module
