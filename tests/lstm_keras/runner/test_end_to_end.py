"""A tiny app run end to end through the CLI: train, files, export, serve."""

import csv
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import toy_app
from tensorflow_serving.apis import prediction_log_pb2

from lstm_keras.runner.cli import main

TOY = "toy_app:APP"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    output = tmp_path_factory.mktemp("toy-run")
    assert main(["train", TOY, "--preset", "tiny", "--output", str(output)]) == 0
    return output


def _metrics(run_dir):
    return json.loads((run_dir / "metrics.json").read_text())


def test_train_writes_metrics_history_plots_checkpoint_and_export(run_dir):
    metrics = _metrics(run_dir)
    epochs = toy_app.APP.presets["tiny"].train.epochs

    assert set(metrics["test"]) == {"lstm", "last_value"}
    # Three epochs of a tiny LSTM beat the last-value baseline on this task.
    assert metrics["test"]["lstm"]["mae"] < metrics["test"]["last_value"]["mae"]
    assert metrics["headline"]["metric"] == "mae"
    assert metrics["training"]["epochs_run"] == epochs
    assert metrics["training"]["replicas"] == 1
    with open(run_dir / "history.csv") as file:
        rows = list(csv.DictReader(file))
    assert [int(row["epoch"]) for row in rows] == list(range(epochs))
    assert float(rows[metrics["training"]["best_epoch"]]["val_loss"]) == pytest.approx(
        metrics["training"]["best_val_loss"]
    )
    assert (run_dir / "plots" / "predictions.png").stat().st_size > 0
    assert os.listdir(run_dir / "checkpoints") == ["best.weights.h5"]
    assert list((run_dir / "logs").iterdir())  # TensorBoard event files
    assert "train:\n  epochs: 3" in (run_dir / "config.yaml").read_text()

    export = run_dir / "export" / "toy" / "1"
    assert metrics["export"] == {
        "path": str(export),
        "version": 1,
        "signatures": ["serving_default", "with_baseline"],
        "verified": True,
    }
    assert (export / "saved_model.pb").is_file()
    assert "units: 8" in (export / "assets.extra" / "config.yaml").read_text()
    # TF Serving's own parser reads it back.
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    models_config = text_format.Parse(
        (run_dir / "export" / "models.config").read_text(),
        model_server_config_pb2.ModelServerConfig(),
    )
    [entry] = models_config.model_config_list.config
    assert (entry.name, entry.base_path) == ("toy", "/models/toy")
    assert entry.model_platform == "tensorflow"
    assert not [name for name in os.listdir(run_dir / "export") if name.startswith(".")]


def test_warmup_file_holds_one_predict_request_per_signature(run_dir):
    path = (
        run_dir / "export" / "toy" / "1" / "assets.extra" / "tf_serving_warmup_requests"
    )
    logs = []
    for record in tf.data.TFRecordDataset(str(path)):
        log = prediction_log_pb2.PredictionLog()
        log.ParseFromString(record.numpy())
        logs.append(log)

    requests = [log.predict_log.request for log in logs]
    assert [r.model_spec.signature_name for r in requests] == [
        "serving_default",
        "with_baseline",
    ]
    assert {r.model_spec.name for r in requests} == {"toy"}
    window = tf.make_ndarray(requests[0].inputs["window"])
    assert window.shape == (4, 8, 2) and window.dtype == np.float32
    # Raw, unnormalized values: the pressure-like feature is around 1000.
    assert 950 < window[..., 1].mean() < 1050


def test_saved_model_cli_lists_the_signatures(run_dir):
    tool = shutil.which("saved_model_cli") or os.path.join(
        os.path.dirname(sys.executable), "saved_model_cli"
    )
    result = subprocess.run(
        [tool, "show", "--dir", str(run_dir / "export" / "toy" / "1"), "--all"],
        capture_output=True,
        text=True,
        check=True,
    )
    for text in (
        "signature_def['serving_default']",
        "signature_def['with_baseline']",
        "inputs['window'] tensor_info:",
        "shape: (-1, 8, 2)",
        "outputs['prediction'] tensor_info:",
        "outputs['last_value'] tensor_info:",
    ):
        assert text in result.stdout


def test_predict_runs_the_export_on_csv_files(run_dir, tmp_path, capsys):
    app = toy_app.APP
    config = app.presets["tiny"]
    windows = app.load_data(config).test[0][:2]
    paths = []
    for number, window in enumerate(windows):
        path = tmp_path / f"window{number}.csv"
        np.savetxt(path, window, delimiter=",", header="temp,pressure", comments="")
        paths.append(str(path))
    capsys.readouterr()

    code = main(["predict", TOY, "--model", str(run_dir / "export" / "toy"), *paths])

    assert code == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["file"] for line in lines] == paths
    loaded = tf.saved_model.load(str(run_dir / "export" / "toy" / "1"))
    expected = loaded.signatures["serving_default"](window=tf.constant(windows))
    np.testing.assert_allclose(
        [line["prediction"] for line in lines], expected["prediction"], rtol=1e-5
    )


def test_evaluate_reproduces_the_test_metrics(run_dir, capsys):
    trained = _metrics(run_dir)["test"]
    assert main(["evaluate", TOY, "--output", str(run_dir)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed.keys() == trained.keys()
    for model in trained:
        assert printed[model]["mae"] == pytest.approx(trained[model]["mae"], rel=1e-6)


def test_export_command_adds_the_next_version(run_dir, capsys):
    assert main(["export", TOY, "--output", str(run_dir)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["version"] == 2
    assert sorted(os.listdir(run_dir / "export" / "toy")) == ["1", "2"]
    assert _metrics(run_dir)["export"]["version"] == 2


def test_rerun_with_another_config_is_refused(run_dir, capsys):
    code = main(
        ["train", TOY, "--preset", "tiny", "--set", "model.units=4"]
        + ["--output", str(run_dir)]
    )
    assert code == 1
    assert "differs at model.units" in capsys.readouterr().err


@pytest.mark.slow
def test_demo_trains_exports_and_prints_one_table(tmp_path, capsys, monkeypatch):
    here = os.path.dirname(os.path.abspath(toy_app.__file__))
    monkeypatch.setenv("PYTHONPATH", here)
    code = main(["demo", "--apps", TOY, "--preset", "tiny", "--output", str(tmp_path)])

    assert code == 0
    table = capsys.readouterr().out.split("| app |", 1)[1]
    metrics = json.loads((tmp_path / "toy" / "metrics.json").read_text())
    row = next(line for line in table.splitlines() if line.startswith("| toy |"))
    assert f"lstm: {metrics['test']['lstm']['mae']:.4g}" in row
    assert f"last_value: {metrics['test']['last_value']['mae']:.4g}" in row
    assert 'base_path: "/models/toy"' in (tmp_path / "models.config").read_text()
    assert (tmp_path / "toy" / "export" / "toy" / "1" / "saved_model.pb").is_file()
