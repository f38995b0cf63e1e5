"""What each `lstm-keras` subcommand does, without the argument parsing.

The CLI (`lstm_keras.runner.cli`) parses flags and calls these; tests and notebooks
can call them directly.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any

from lstm_keras.runner.run_directory import RunDirectory, read_metrics, update_metrics


def train_app(
    app: Any, config: Any, output_dir: str, preset: str | None = None
) -> dict:
    """`lstm-keras train`: train (or resume), evaluate, export, write metrics.

    Returns the contents of `metrics.json` (an empty dict on a multi-worker
    non-chief worker, which only helps train).
    """
    from lstm_keras.runner import training

    run = RunDirectory(output_dir)
    if not training.is_chief_task(config.train.strategy):
        # Other workers write nothing in DIR (the chief holds its lock).
        return _train(app, config, run, preset)
    with run.locked():
        return _train(app, config, run, preset)


def _train(app: Any, config: Any, run: RunDirectory, preset: str | None) -> dict:
    from lstm_keras.runner import training

    start = time.monotonic()
    header = f"lstm-keras train {app.name}" + (f" --preset {preset}" if preset else "")
    result = training.train(app, config, run, header=f"{header}: resolved config")
    if not result.chief:
        return {}
    test = app.evaluate(config, result.data, result.model, run)
    training_summary = {
        "epochs_run": len(result.history),
        "best_epoch": result.best_epoch,
        "best_val_loss": _best_value(result.history, training.MONITOR),
        "resumed_from_epoch": result.resumed_from_epoch,
        "stopped_early": result.stopped_early,
        "strategy": config.train.strategy,
        "replicas": result.replicas,
        "train_seconds": round(sum(r.get("seconds", 0.0) for r in result.history), 3),
    }
    update_metrics(
        run.metrics,
        app=app.name,
        preset=preset,
        test=test,
        headline=app.headline(test),
        training=training_summary,
    )
    exported = _export(app, config, result.data, result.model, run)
    return update_metrics(
        run.metrics, export=exported, wall_seconds=round(time.monotonic() - start, 3)
    )


def evaluate_run(app: Any, output_dir: str) -> dict:
    """`lstm-keras evaluate`: re-run the test evaluation of a trained run."""
    from lstm_keras.runner import training

    run = RunDirectory(output_dir)
    with run.locked(create=False):
        config, data, model = training.load_trained(app, run)
        os.makedirs(run.plots, exist_ok=True)
        test = app.evaluate(config, data, model, run)
        return update_metrics(run.metrics, test=test, headline=app.headline(test))


def export_run(app: Any, output_dir: str) -> dict:
    """`lstm-keras export`: export the best checkpoint again, as a new version."""
    from lstm_keras.runner import training

    run = RunDirectory(output_dir)
    with run.locked(create=False):
        config, data, model = training.load_trained(app, run)
        exported = _export(app, config, data, model, run)
        if read_metrics(run.metrics):
            update_metrics(run.metrics, export=exported)
        return exported


def describe_app_data(app: Any, config: Any) -> dict:
    """`lstm-keras data`: build or fetch the data and summarize it."""
    return app.describe_data(app.load_data(config, work_dir=None))


def predict_with_export(
    app: Any, model_path: str, inputs: Iterable[str]
) -> Iterator[dict[str, Any]]:
    """`lstm-keras predict`: run the exported SavedModel on raw inputs."""
    from lstm_keras.runner.export import export_app_name, resolve_export

    export_dir = resolve_export(model_path, app.name)
    owner = export_app_name(export_dir)
    if owner is not None and owner != app.name:
        raise ValueError(
            f"{export_dir} is an export of the {owner} app, not {app.name}: "
            f"run `lstm-keras predict {owner} --model {model_path} ...`"
        )
    inputs = list(inputs)
    for path in inputs:
        if path != "-" and os.path.isdir(path):
            # Shell globs pick the files better than we could guess them.
            raise ValueError(
                f"{path} is a directory; predict reads files: pass the files in "
                f"it (e.g. {os.path.join(path, '*')})"
            )
        suffix = os.path.splitext(path)[1].lower()
        if suffix in app.input_suffixes and not os.path.exists(path):
            raise FileNotFoundError(f"no such input file: {path}")
    yield from app.predict(export_dir, inputs)


def _export(app: Any, config: Any, data: Any, model: Any, run: RunDirectory) -> dict:
    from lstm_keras.runner.export import export_app

    print(
        f"Exporting {app.name} and checking it in a fresh process...",
        file=sys.stderr,
        flush=True,
    )
    result = export_app(app, config, data, model, run.export)
    print(
        f"Exported {result.path} ({', '.join(result.signatures)})",
        file=sys.stderr,
        flush=True,
    )
    return {
        "path": result.path,
        "version": result.version,
        "signatures": list(result.signatures),
        "verified": True,
    }


def _best_value(history: list[dict[str, Any]], monitor: str) -> float | None:
    values = [
        r[monitor]
        for r in history
        if isinstance(r.get(monitor), float) and math.isfinite(r[monitor])
    ]
    return min(values) if values else None
