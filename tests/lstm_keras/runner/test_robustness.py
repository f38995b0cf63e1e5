"""The failures a new user meets (issue 16), each reproduced with the toy app.

Concurrent runs, failed starts, full and read-only disks, exports of another
app, directories as inputs, resume determinism, and a quiet, quick CLI.
"""

import errno
import json
import os
import signal
import subprocess
import sys
import time

import keras
import pytest
import tensorflow as tf
import toy_app

from lstm_keras.runner import export as export_module
from lstm_keras.runner.cli import error_message, main
from lstm_keras.runner.config import resolve_config
from lstm_keras.runner.resume import AtomicBackupAndRestore
from lstm_keras.runner.run_directory import RunDirectory, RunDirectoryBusy
from lstm_keras.runner.training import train

TOY = "toy_app:APP"
ONE_EPOCH = ["--preset", "tiny", "--set", "train.epochs=1"]


def _error_line(capsys, progress=()) -> str:
    err = capsys.readouterr().err
    lines = [
        line
        for line in err.splitlines()
        if line.strip() and not line.startswith(tuple(progress))
    ]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture(scope="module")
def toy_export(tmp_path_factory):
    """A trained toy run (one epoch) and its export."""
    output = tmp_path_factory.mktemp("toy-run")
    assert main(["train", TOY, *ONE_EPOCH, "--output", str(output)]) == 0
    return output


# 1. Two trainings into one directory.


def test_a_second_process_on_a_locked_directory_fails_at_once(tmp_path, capsys):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from lstm_keras.runner.run_directory import RunDirectory\n"
            "with RunDirectory(sys.argv[1]).locked():\n"
            "    print('locked', flush=True)\n"
            "    time.sleep(60)\n",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        start = time.monotonic()
        code = main(["train", TOY, *ONE_EPOCH, "--output", str(tmp_path)])
        assert code == 1
        assert time.monotonic() - start < 10  # at once, not after training
        line = _error_line(capsys)
        assert f"{tmp_path} is in use by another lstm-keras process" in line
        assert f"(PID {holder.pid})" in line
        assert not (tmp_path / "config.yaml").exists()
        # Evaluate and export of the same directory wait their turn too.
        assert main(["export", TOY, "--output", str(tmp_path)]) == 1
        assert f"(PID {holder.pid})" in _error_line(capsys)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # The lock died with its process: no stale lock after a kill.
    with RunDirectory(str(tmp_path)).locked():
        with pytest.raises(RunDirectoryBusy, match=f"PID {os.getpid()}"):
            with RunDirectory(str(tmp_path)).locked():
                pass


# 2. A failed start must not tie the directory to its config.


def test_a_start_that_failed_on_its_data_leaves_the_directory_free(tmp_path, capsys):
    output = ["--output", str(tmp_path)]
    bad = ["--set", "data.source=csv:nofile.csv"]
    assert main(["train", TOY, *ONE_EPOCH, *bad, *output]) == 1
    assert "unknown data.source" in _error_line(capsys)
    assert not (tmp_path / "config.yaml").exists()
    assert main(["train", TOY, *ONE_EPOCH, *output]) == 0
    assert (tmp_path / "config.yaml").is_file()


# 4. File-system errors: one line, exit code 1, nothing half-written.


def test_output_naming_a_file_is_one_line(tmp_path, capsys):
    existing = tmp_path / "notes.txt"
    existing.write_text("mine")
    assert main(["train", TOY, *ONE_EPOCH, "--output", str(existing)]) == 1
    assert f"{existing} is a file, not a run directory" in _error_line(capsys)
    assert existing.read_text() == "mine"


def test_a_full_disk_while_writing_a_checkpoint(tmp_path, capsys, monkeypatch):
    original = keras.Model.save_weights

    def fill_the_disk(self, path, *args, **kwargs):
        if os.path.basename(path).startswith("epoch-0002"):
            with open(path, "wb") as file:
                file.write(b"\x89HDF half")  # what a full disk leaves
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
        return original(self, path, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "save_weights", fill_the_disk)
    command = ["train", TOY, "--preset", "tiny", "--output", str(tmp_path)]
    command += ["--set", "train.early_stopping_patience=0"]
    assert main(command) == 1
    line = _error_line(capsys)
    checkpoint = tmp_path / "checkpoints" / "epoch-0002.weights.h5"
    assert line == (
        f"lstm-keras train: error: cannot write {checkpoint}: No space left on "
        "device (ENOSPC); free some space or choose another --output"
    )
    assert not checkpoint.exists()
    assert os.listdir(tmp_path / "backup") == ["epoch-000001"]

    monkeypatch.setattr(keras.Model, "save_weights", original)
    assert main(command) == 0  # space freed: it resumes from epoch 2
    assert "from epoch 2" in capsys.readouterr().err


def test_a_full_disk_while_exporting_leaves_no_partial_export(
    toy_export, capsys, monkeypatch
):
    def fill_the_disk(module, path, signatures=None):
        os.makedirs(os.path.join(path, "variables"))
        raise tf.errors.ResourceExhaustedError(
            None, None, f"{path}/variables/variables.data; No space left on device"
        )

    monkeypatch.setattr(tf.saved_model, "save", fill_the_disk)
    before = sorted(os.listdir(toy_export / "export" / "toy"))
    assert main(["export", TOY, "--output", str(toy_export)]) == 1
    line = _error_line(capsys, progress=["Exporting toy and checking"])
    model_dir = toy_export / "export" / "toy"
    assert line.startswith(f"lstm-keras export: error: cannot write {model_dir}: ")
    assert "No space left on device (ENOSPC)" in line
    assert sorted(os.listdir(toy_export / "export" / "toy")) == before
    hidden = [n for n in os.listdir(toy_export / "export") if n.startswith(".")]
    assert hidden == []


def test_a_read_only_filesystem_is_one_line(tmp_path, capsys, monkeypatch):
    # Tests run as root, where chmod does not stop writes: refuse them as a
    # read-only mount does, at the system call the run directory makes.
    target = str(tmp_path / "run")
    real_makedirs = os.makedirs

    def read_only(path, *args, **kwargs):
        if os.fspath(path).startswith(target):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fspath(path))
        return real_makedirs(path, *args, **kwargs)

    monkeypatch.setattr(os, "makedirs", read_only)
    assert main(["train", TOY, *ONE_EPOCH, "--output", target]) == 1
    assert _error_line(capsys) == (
        f"lstm-keras train: error: cannot write {target}: Read-only file system "
        "(EROFS); choose an --output on a writable filesystem"
    )


def test_h5py_errors_name_the_file():
    error = OSError(
        errno.ENOSPC,
        "Unable to synchronously create file (file write failed: time = now\n"
        ", filename = 'x/best.weights.h5', file descriptor = 3, errno = 28)",
    )
    assert error_message(error) == (
        "cannot write x/best.weights.h5: No space left on device (ENOSPC); "
        "free some space or choose another --output"
    )


def test_stale_partial_exports_of_dead_exporters_are_removed(tmp_path):
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        dead = tmp_path / ".partial-toy-999999999-abcd1234"
        running = tmp_path / f".partial-toy-{sleeper.pid}-abcd1234"
        for folder in (dead, running):
            (folder / "saved_model").mkdir(parents=True)
        assert export_module.remove_stale_partial_exports(str(tmp_path)) == [str(dead)]
        assert running.is_dir() and not dead.exists()
    finally:
        sleeper.kill()
        sleeper.wait()


# 5 and 7. Another app's export; directories as inputs.


def test_predict_with_another_apps_export_names_the_app(toy_export, capsys):
    version = toy_export / "export" / "toy" / "1"
    info = json.loads((version / "assets.extra" / "lstm_keras.json").read_text())
    assert info == {"app": "toy", "signatures": ["serving_default", "with_baseline"]}
    assert main(["predict", "timeseries", "--model", str(version), "x.csv"]) == 1
    assert _error_line(capsys) == (
        f"lstm-keras predict: error: {version} is an export of the toy app, not "
        f"timeseries: run `lstm-keras predict toy --model {version} ...`"
    )
    root = toy_export / "export"
    assert main(["predict", "timeseries", "--model", str(root), "x.csv"]) == 1
    assert f"{root} holds exports of toy, not timeseries" in _error_line(capsys)


def test_a_directory_as_input_says_so(toy_export, tmp_path, capsys):
    model = str(toy_export / "export")
    assert main(["predict", TOY, "--model", model, str(tmp_path)]) == 1
    assert _error_line(capsys) == (
        f"lstm-keras predict: error: {tmp_path} is a directory; predict reads "
        f"files: pass the files in it (e.g. {tmp_path / '*'})"
    )


# 8. Determinism across a resume.


def _kill_after(epochs_done, monkeypatch):
    original = AtomicBackupAndRestore.on_epoch_end

    def on_epoch_end(self, epoch, logs=None):
        original(self, epoch, logs)
        if epoch + 1 == epochs_done:
            raise KeyboardInterrupt  # right after the backup, as a kill would

    monkeypatch.setattr(AtomicBackupAndRestore, "on_epoch_end", on_epoch_end)


def test_a_resumed_run_repeats_an_uninterrupted_one(tmp_path, monkeypatch):
    # What is reproduced: weights, optimizer state, dropout's random state.
    # (Not a seeded tf.data shuffle's order: see the README.)
    config = resolve_config(
        toy_app.APP,
        "tiny",
        overrides=[
            "train.epochs=4",
            "train.early_stopping_patience=0",
            "data.shuffle=false",
            "model.dropout=0.3",
        ],
    )
    whole = train(toy_app.APP, config, RunDirectory(str(tmp_path / "whole")))
    resumed_run = RunDirectory(str(tmp_path / "resumed"))
    with monkeypatch.context() as patch:
        _kill_after(2, patch)
        with pytest.raises(KeyboardInterrupt):
            train(toy_app.APP, config, resumed_run)
    resumed = train(toy_app.APP, config, resumed_run)
    assert resumed.resumed_from_epoch == 2

    def losses(history):
        return [(row["loss"], row["val_loss"]) for row in history]

    assert losses(resumed.history) == losses(whole.history)
    for mine, theirs in zip(
        resumed.model.get_weights(), whole.model.get_weights(), strict=True
    ):
        assert mine.tolist() == theirs.tolist()


# A quiet, quick command line.


def _run_cli(*arguments, **environment):
    env = toy_app.subprocess_environment(**environment)
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # as a user's shell has it
    return subprocess.run(
        [sys.executable, "-m", "lstm_keras", *arguments],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def test_help_apps_and_config_do_not_import_tensorflow():
    script = (
        "import sys\n"
        "from lstm_keras.runner.cli import main\n"
        "main(['apps'])\n"
        "main(['config', 'timeseries', '--preset', 'tiny'])\n"
        "main(['config', 'speech', '--preset', 'tiny'])\n"
        "main(['config', 'translation', '--preset', 'tiny'])\n"
        "heavy = [m for m in ('tensorflow', 'keras', 'scipy.signal') "
        "if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "speech: presets tiny" in result.stdout
    assert result.stderr == ""


def test_a_bad_flag_is_the_only_line_on_stderr():
    result = _run_cli("train", TOY, "--output", "x", "--epochs", "3")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "lstm-keras: error: unrecognized arguments: --epochs 3 (see lstm-keras --help)"
    ]


def test_tensorflow_logs_are_hidden_unless_verbose(tmp_path):
    arguments = ("predict", TOY, "--model", str(tmp_path / "none"), "a.csv")
    quiet = _run_cli(*arguments)
    assert quiet.returncode == 1
    assert quiet.stderr.splitlines() == [
        f"lstm-keras predict: error: no such export: {tmp_path / 'none'}"
    ]
    # This command imports TensorFlow, whose import logs at least its CPU
    # features or oneDNN; --verbose shows them again.
    verbose = _run_cli("--verbose", *arguments)
    assert verbose.returncode == 1
    assert len(verbose.stderr.strip().splitlines()) > 1, verbose.stderr
