"""Distribution on a CPU-only machine: MirroredStrategy and two workers.

Both train with weight averaging (`train.ema_momentum`), so that its swap of
weights around validation is checked under each strategy too.
"""

import json
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import toy_app

from lstm_keras.runner.config import resolve_config
from lstm_keras.runner.run_directory import RunDirectory
from lstm_keras.runner.training import train

APP = toy_app.APP

# Two logical CPU devices must be configured before TensorFlow starts, so the
# comparison runs in a fresh process.
_MIRRORED_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2
    )
    import toy_app
    from lstm_keras.runner.config import resolve_config
    from lstm_keras.runner.run_directory import RunDirectory
    from lstm_keras.runner.training import train

    results = {}
    for strategy in ("default", "mirrored"):
        config = resolve_config(
            toy_app.APP,
            "tiny",
            overrides=[
                f"train.strategy={strategy}",
                "data.shuffle=false",
                "train.ema_momentum=0.9",
            ],
        )
        result = train(toy_app.APP, config, RunDirectory(f"{sys.argv[1]}/{strategy}"))
        results[strategy] = {
            "loss": [row["loss"] for row in result.history],
            "val_loss": [row["val_loss"] for row in result.history],
            "replicas": result.replicas,
        }
    print("RESULTS " + json.dumps(results))
    """
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_mirrored_over_two_cpu_devices_matches_one_device(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", _MIRRORED_SCRIPT, str(tmp_path)],
        env=toy_app.subprocess_environment(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(x for x in result.stdout.splitlines() if x.startswith("RESULTS "))
    results = json.loads(line.removeprefix("RESULTS "))

    assert results["default"]["replicas"] == 1
    assert results["mirrored"]["replicas"] == 2
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(
            results["mirrored"][key], results["default"][key], rtol=1e-4
        )


@pytest.mark.slow
def test_two_workers_on_loopback_train_one_model(tmp_path):
    output = tmp_path / "run"
    workers = [f"localhost:{_free_port()}", f"localhost:{_free_port()}"]
    command = [sys.executable, "-m", "lstm_keras", "train", "toy_app:APP"]
    command += ["--preset", "tiny", "--set", "train.strategy=multi_worker"]
    command += ["--set", "data.shuffle=false", "--set", "train.ema_momentum=0.9"]
    command += ["--output", str(output)]
    processes = []
    for index in range(2):
        tf_config = {
            "cluster": {"worker": workers},
            "task": {"type": "worker", "index": index},
        }
        processes.append(
            subprocess.Popen(
                command,
                env=toy_app.subprocess_environment(TF_CONFIG=json.dumps(tf_config)),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    try:
        logs = [process.communicate(timeout=300)[0] for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    for process, log in zip(processes, logs, strict=True):
        assert process.returncode == 0, log[-3000:]

    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["training"]["replicas"] == 2
    assert metrics["training"]["strategy"] == "multi_worker"
    assert metrics["export"]["verified"]
    # Only the chief writes: one export, no worker leftovers.
    assert sorted(os.listdir(output / "export" / "toy")) == ["1"]

    # Together they train the same model as one process with the same global
    # batch: same losses, epoch by epoch.
    config = resolve_config(
        APP, "tiny", overrides=["data.shuffle=false", "train.ema_momentum=0.9"]
    )
    single = train(APP, config, RunDirectory(str(tmp_path / "single")))
    with open(output / "history.csv") as file:
        header, *rows = [line.split(",") for line in file.read().splitlines()]
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(
            [float(row[header.index(key)]) for row in rows],
            [row[key] for row in single.history],
            rtol=1e-4,
        )
