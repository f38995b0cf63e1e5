"""Training: resume after SIGKILL, reproducibility, resumable callbacks."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import keras
import pytest
import toy_app

from lstm_keras.runner.config import resolve_config
from lstm_keras.runner.resume import (
    AtomicBackupAndRestore,
    ResumableEarlyStopping,
    best_epoch,
)
from lstm_keras.runner.run_directory import RunDirectory
from lstm_keras.runner.training import set_precision, train

APP = toy_app.APP


def _history(path):
    with open(path) as file:
        return list(csv.DictReader(file))


@pytest.mark.slow
def test_resume_after_sigkill_continues_from_the_backed_up_epoch(tmp_path):
    epochs = 8
    command = [sys.executable, "-m", "lstm_keras", "train", "toy_app:APP"]
    command += ["--preset", "tiny", "--output", str(tmp_path)]
    for override in (
        f"train.epochs={epochs}",
        "data.examples=1024",
        "train.early_stopping_patience=0",
    ):
        command += ["--set", override]
    environment = toy_app.subprocess_environment()
    backup = str(tmp_path / "backup")

    first = subprocess.Popen(
        command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 240
    while True:
        latest = AtomicBackupAndRestore.latest(backup)
        if latest and int(latest.rsplit("-", 1)[1]) >= 3:
            break
        assert first.poll() is None, "training ended before it was killed"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.wait()
    with open(os.path.join(AtomicBackupAndRestore.latest(backup), "state.json")) as f:
        backed_up = json.load(f)
    completed = backed_up["epoch"]
    assert 3 <= completed < epochs
    assert not (tmp_path / "metrics.json").exists()

    second = subprocess.run(
        command, env=environment, capture_output=True, text=True, check=False
    )

    assert second.returncode == 0, second.stderr[-2000:]
    assert f"from epoch {completed + 1} (of {epochs})" in second.stderr
    assert f"Epoch {completed + 1}/{epochs}" in second.stdout
    assert "Epoch 1/" not in second.stdout
    history = _history(tmp_path / "history.csv")
    assert [int(row["epoch"]) for row in history] == list(range(epochs))
    # Epochs before the kill are kept as they were, not re-run.
    for row, before in zip(history, backed_up["history"], strict=False):
        assert float(row["loss"]) == before["loss"]
    # The weights were restored: the first resumed epoch trains from a good
    # model, not from a fresh initialization.
    assert float(history[completed]["loss"]) < 0.5 * float(history[0]["loss"])
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["training"]["resumed_from_epoch"] == completed
    assert metrics["training"]["epochs_run"] == epochs
    assert metrics["export"]["verified"]


def test_same_seed_gives_the_same_metrics(tmp_path):
    config = resolve_config(APP, "tiny", overrides=["train.epochs=2"])
    results = []
    for name in ("first", "second"):
        run = RunDirectory(str(tmp_path / name))
        result = train(APP, config, run)
        test = APP.evaluate(config, result.data, result.model, run)
        results.append(([row["loss"] for row in result.history], test))
    assert results[0] == results[1]

    other_seed = resolve_config(
        APP, "tiny", overrides=["train.epochs=2", "train.seed=1"]
    )
    result = train(APP, other_seed, RunDirectory(str(tmp_path / "other")))
    assert [row["loss"] for row in result.history] != results[0][0]


def test_finished_run_started_again_does_not_train_again(tmp_path):
    config = resolve_config(APP, "tiny", overrides=["train.epochs=1"])
    run = RunDirectory(str(tmp_path))
    first = train(APP, config, run)
    again = train(APP, config, run)
    assert again.resumed_from_epoch == 1
    assert again.history == first.history
    assert (
        again.model.get_weights()[0].tolist() == first.model.get_weights()[0].tolist()
    )


def test_early_stopping_resumes_its_patience():
    history = [
        {"epoch": 0, "val_loss": 3.0},
        {"epoch": 1, "val_loss": 1.0},
        {"epoch": 2, "val_loss": 2.0},
        {"epoch": 3, "val_loss": float("nan")},
    ]
    callback = ResumableEarlyStopping(history, monitor="val_loss", patience=3)
    callback.on_train_begin()
    assert (callback.best, callback.best_epoch, callback.wait) == (1.0, 1, 2)
    assert best_epoch(history, "val_loss") == 1
    assert best_epoch([{"epoch": 0, "val_loss": float("nan")}], "val_loss") is None


def test_latest_backup_skips_unfinished_writes(tmp_path):
    assert AtomicBackupAndRestore.latest(str(tmp_path / "none")) is None
    complete = tmp_path / "epoch-000002"
    complete.mkdir()
    (complete / "state.json").write_text(
        '{"epoch": 2, "history": [], "stopped": false}'
    )
    # A write killed before its rename, and one killed before its state file.
    (tmp_path / ".tmp-000003-99").mkdir()
    (tmp_path / "epoch-000004").mkdir()
    assert AtomicBackupAndRestore.latest(str(tmp_path)) == str(complete)
    assert AtomicBackupAndRestore.restore(str(tmp_path))["epoch"] == 2


def test_mixed_precision_flag_sets_the_policy():
    try:
        assert set_precision(True) == "mixed_bfloat16"  # CPU: bfloat16
        assert keras.mixed_precision.dtype_policy().compute_dtype == "bfloat16"
    finally:
        assert set_precision(False) == "float32"


def test_weight_averaging_validates_evaluates_and_reloads_the_average(tmp_path):
    overrides = ["train.epochs=3", "train.early_stopping_patience=0"]
    plain = train(
        APP,
        resolve_config(APP, "tiny", overrides=overrides),
        RunDirectory(str(tmp_path / "plain")),
    )
    config = resolve_config(
        APP, "tiny", overrides=[*overrides, "train.ema_momentum=0.9"]
    )
    run = RunDirectory(str(tmp_path / "averaged"))
    averaged = train(APP, config, run)

    # The average does not change training, only what is validated and kept.
    assert [row["loss"] for row in averaged.history] == pytest.approx(
        [row["loss"] for row in plain.history], rel=1e-5
    )
    assert [row["val_loss"] for row in averaged.history] != [
        row["val_loss"] for row in plain.history
    ]
    # The model handed on holds the weights that were validated at its epoch.
    (validated,) = [
        row["val_loss"]
        for row in averaged.history
        if row["epoch"] == averaged.best_epoch
    ]
    evaluated = averaged.model.evaluate(averaged.data.validation, verbose=0)[0]
    assert evaluated == pytest.approx(validated, rel=1e-5)
    assert not all(
        (a == b).all()
        for a, b in zip(
            averaged.model.get_weights(), plain.model.get_weights(), strict=True
        )
    )
    # Started again, the finished run loads the same averaged weights.
    again = train(APP, config, run)
    for a, b in zip(
        again.model.get_weights(), averaged.model.get_weights(), strict=True
    ):
        assert a.tolist() == b.tolist()
