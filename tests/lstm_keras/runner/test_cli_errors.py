"""The CLI: one-line errors with exit codes 2 (bad request) and 1 (failed work)."""

import subprocess
import sys

import pytest
import toy_app
import yaml

from lstm_keras.runner.cli import main

TOY = "toy_app:APP"


def _error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_bad_flag_is_one_line_with_exit_code_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", TOY, "--output", "x", "--epochs", "3"])
    assert exit_info.value.code == 2
    assert "unrecognized arguments: --epochs 3" in _error_line(capsys)


def test_missing_required_flag_is_one_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", TOY])
    assert exit_info.value.code == 2
    assert "--output" in _error_line(capsys)


def test_unknown_app_is_one_line_with_exit_code_2(capsys):
    assert main(["train", "no_such_app", "--output", "x"]) == 2
    line = _error_line(capsys)
    assert line.startswith("lstm-keras train: error: unknown app 'no_such_app'")


def test_unknown_config_key_names_the_closest_key(capsys, tmp_path):
    code = main(["train", TOY, "--set", "train.epoch=3", "--output", str(tmp_path)])
    assert code == 2
    assert "did you mean 'train.epochs'?" in _error_line(capsys)
    assert not (tmp_path / "config.yaml").exists()  # nothing ran


def test_unknown_preset_and_missing_config_file(capsys, tmp_path):
    assert main(["data", TOY, "--preset", "huge"]) == 2
    assert "choose from: tiny, default" in _error_line(capsys)
    assert main(["data", TOY, "--config", str(tmp_path / "none.yaml")]) == 2
    assert "config file not found" in _error_line(capsys)


def test_bad_data_from_the_app_is_one_line_with_exit_code_1(capsys, tmp_path):
    code = main(
        ["train", TOY, "--preset", "tiny", "--set", "data.source=csv:/nope.csv"]
        + ["--output", str(tmp_path)]
    )
    assert code == 1
    assert "unknown data.source 'csv:/nope.csv'" in _error_line(capsys)


def test_evaluate_without_a_trained_run_is_one_line(capsys, tmp_path):
    assert main(["evaluate", TOY, "--output", str(tmp_path)]) == 1
    assert "no trained run in" in _error_line(capsys)


def test_predict_with_a_missing_export_is_one_line(capsys, tmp_path):
    code = main(["predict", TOY, "--model", str(tmp_path / "export"), "a.csv"])
    assert code == 1
    assert "no such export" in _error_line(capsys)


def test_config_command_prints_the_resolved_config(capsys):
    assert main(["config", TOY, "--preset", "tiny", "--set", "model.units=5"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["model"]["units"] == 5
    assert printed["train"]["epochs"] == toy_app.APP.presets["tiny"].train.epochs


def test_data_command_prints_the_summary(capsys):
    assert main(["data", TOY, "--preset", "tiny"]) == 0
    assert '"train_windows": 192' in capsys.readouterr().out


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in ("train", "evaluate", "export", "predict", "data", "bench", "demo"):
        assert f"    {command}" in out


def test_module_entry_point_reports_one_line_without_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "lstm_keras", "train", TOY, "--set", "train.epoch=3"]
        + ["--output", str(tmp_path)],
        capture_output=True,
        text=True,
        env=toy_app.subprocess_environment(),
        check=False,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    # TensorFlow's C++ logging may precede it; ours is the last line.
    last = result.stderr.strip().splitlines()[-1]
    assert last == (
        "lstm-keras train: error: unknown config key 'train.epoch'; "
        "did you mean 'train.epochs'?"
    )
