"""Finds apps through the `lstm_keras.apps` entry-point group.

`lstm_keras` never imports an app by name: each app registers its `App`
instance in its package metadata, e.g. in `pyproject.toml`::

    [project.entry-points."lstm_keras.apps"]
    timeseries = "apps.timeseries.app:APP"

An app that is not installed can still be named as `module:ATTRIBUTE` on the
command line (`lstm-keras train my_package.my_app:APP ...`).
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata

from lstm_keras.runner.app import App

ENTRY_POINT_GROUP = "lstm_keras.apps"


def app_names() -> list[str]:
    """Names of the registered apps, sorted."""
    entry_points = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    return sorted({entry_point.name for entry_point in entry_points})


def load_app(name: str) -> App:
    """Loads one app by registered name or `module:ATTRIBUTE` path.

    Only the requested app is imported, so one app's missing optional
    dependency never breaks another's commands.

    Raises:
        ValueError: no such app (naming the closest registered one), or the
            object found is not an `App`.
    """
    if ":" in name:
        module_name, _, attribute = name.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            raise ValueError(
                f"cannot import app module {module_name!r}: {error}"
            ) from None
        if not hasattr(module, attribute):
            raise ValueError(f"module {module_name!r} has no attribute {attribute!r}")
        app = getattr(module, attribute)
    else:
        entry_points = importlib.metadata.entry_points(
            group=ENTRY_POINT_GROUP, name=name
        )
        if not entry_points:
            raise ValueError(_unknown_app_message(name))
        app = next(iter(entry_points)).load()
    if isinstance(app, type) and issubclass(app, App):
        app = app()
    if not isinstance(app, App):
        raise ValueError(f"{name!r} is not an lstm_keras.runner.app.App instance")
    return app


def _unknown_app_message(name: str) -> str:
    names = app_names()
    close = difflib.get_close_matches(name, names, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    available = ", ".join(names) if names else "none registered"
    return f"unknown app {name!r}{hint} (available: {available})"
