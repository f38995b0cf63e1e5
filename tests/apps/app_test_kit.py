"""One end-to-end check every app's test calls (as keras-hub's `TestCase`).

`run_app_end_to_end` trains the app's `tiny` preset through the CLI, checks
its export the way TF Serving would use it (a fresh process with only
TensorFlow and the app's op libraries, every warmup request through its
signature), then predicts through the CLI. It returns what it read so that
each app's test adds only its own checks.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from typing import Any

from lstm_keras.runner.cli import main
from lstm_keras.runner.registry import load_app

# Run with `python -I`: what TF Serving would do with the export.
_FRESH_PROCESS_CHECK = textwrap.dedent(
    """
    import importlib, json, os, sys
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    export, imports = sys.argv[1], sys.argv[2:]
    for name in imports:
        importlib.import_module(name)
    loaded = tf.saved_model.load(export)
    warmup = os.path.join(export, "assets.extra", "tf_serving_warmup_requests")
    ran = {}
    for record in tf.data.TFRecordDataset(warmup):
        request = prediction_log_pb2.PredictionLog.FromString(
            record.numpy()
        ).predict_log.request
        signature = request.model_spec.signature_name
        inputs = {
            name: tf.constant(tf.make_ndarray(proto))
            for name, proto in request.inputs.items()
        }
        ran[signature] = sorted(loaded.signatures[signature](**inputs))
    ours = ("lstm_keras", "lstm_keras_datasets", "apps")
    print(json.dumps({
        "signatures": sorted(loaded.signatures),
        "ran": ran,
        "project_modules": sorted(m for m in sys.modules if m.split(".")[0] in ours),
    }))
    """
)


@dataclasses.dataclass
class EndToEnd:
    """What `run_app_end_to_end` read back."""

    run_dir: str
    metrics: dict[str, Any]
    export: str
    # Output names per signature, from the fresh process.
    signature_outputs: dict[str, list[str]]
    # One JSON line of `lstm-keras predict` per input.
    predictions: list[dict[str, Any]]


def run_app_end_to_end(
    app_name: str,
    output: str | os.PathLike,
    predict_inputs: Sequence[str],
    capsys: Any,
    overrides: Sequence[str] = (),
) -> EndToEnd:
    """`train APP --preset tiny`, the export in a fresh process, `predict`.

    Args:
        app_name: the registered app (`speech`, `translation`, ...).
        output: the run directory to create.
        predict_inputs: what `lstm-keras predict` gets (files or text).
        capsys: pytest's fixture, to read the CLI's JSON lines.
        overrides: `--set KEY=VALUE` strings for training.
    """
    output = os.fspath(output)
    flags = [part for override in overrides for part in ("--set", override)]
    command = ["train", app_name, "--preset", "tiny", "--output", output, *flags]
    assert main(command) == 0, f"lstm-keras {' '.join(command)} failed"
    with open(os.path.join(output, "metrics.json"), encoding="utf-8") as file:
        metrics = json.load(file)
    assert metrics["export"]["verified"] is True
    assert metrics["export"]["signatures"][0] == "serving_default"
    assert metrics["headline"]["model"] in metrics["test"]
    export = metrics["export"]["path"]
    assert os.path.isfile(os.path.join(export, "assets.extra", "config.yaml"))

    app = load_app(app_name)
    fresh = subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            _FRESH_PROCESS_CHECK,
            export,
            *app.serving_imports,
        ],
        capture_output=True,
        text=True,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
        check=False,
    )
    assert fresh.returncode == 0, fresh.stderr[-2000:]
    served = json.loads(fresh.stdout.strip().splitlines()[-1])
    assert served["project_modules"] == []
    assert served["signatures"] == sorted(metrics["export"]["signatures"])
    # Every signature has a warmup request, and each ran.
    assert sorted(served["ran"]) == served["signatures"]

    capsys.readouterr()
    model_dir = os.path.join(output, "export")
    assert main(["predict", app_name, "--model", model_dir, *predict_inputs]) == 0
    lines = capsys.readouterr().out.splitlines()
    predictions = [json.loads(line) for line in lines if line.strip()]
    return EndToEnd(output, metrics, export, served["ran"], predictions)
