"""Export: version numbering, atomicity, fresh-process verification."""

import dataclasses
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf
import toy_app

from lstm_keras.runner.config import resolve_config
from lstm_keras.runner.export import (
    call_signature,
    export_app,
    next_version,
    resolve_export,
    verify_export,
)
from lstm_keras.runner.run_directory import RunDirectory
from lstm_keras.runner.training import train

APP = toy_app.APP


def _model(config):
    data = APP.load_data(config)
    return data, APP.build_model(config, data)


def test_next_version_follows_the_highest_and_ignores_other_names(tmp_path):
    assert next_version(str(tmp_path / "absent")) == 1
    for name in ("1", "7", ".partial-toy-x", "notes", "3"):
        (tmp_path / name).mkdir()
    (tmp_path / "12").write_text("a file, not a version")
    assert next_version(str(tmp_path)) == 8
    assert resolve_export(str(tmp_path)).endswith(os.sep + "7")


def test_exports_number_versions_and_verify(tmp_path):
    config = APP.presets["tiny"]
    data, model = _model(config)
    first = export_app(APP, config, data, model, str(tmp_path))
    second = export_app(APP, config, data, model, str(tmp_path), verify=False)
    assert (first.version, second.version) == (1, 2)
    assert sorted(os.listdir(tmp_path / "toy")) == ["1", "2"]
    assert resolve_export(str(tmp_path), "toy") == second.path


def test_fresh_process_check_catches_dropout_left_on_in_serving(tmp_path):
    # A classic serving bug: the signature calls the model with training=True,
    # so dropout makes every answer random.
    config = APP.presets["tiny"]
    config = dataclasses.replace(
        config,
        model=dataclasses.replace(config.model, dropout=0.5, serve_with_dropout=True),
    )
    data, model = _model(config)
    with pytest.raises(ValueError, match="differs from the in-memory model by up to"):
        export_app(APP, config, data, model, str(tmp_path))
    # Nothing a server would load, and no half-written leftovers.
    assert not (tmp_path / "toy").exists() or not os.listdir(tmp_path / "toy")
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".")]


def test_fresh_process_check_rejects_a_signature_that_needs_xla(tmp_path):
    # TF Serving runs XLA-compiled functions only behind an experimental flag.
    class CompiledServing(toy_app.ToyApp):
        def serving_module(self, config, data, model):
            module = super().serving_module(config, data, model)
            compiled = tf.function(module._predict, jit_compile=True)
            spec = tf.TensorSpec([None, config.data.steps, toy_app.FEATURES])
            module.compiled = module.add_signature("compiled", compiled, [spec])
            return module

    config = APP.presets["tiny"]
    data, model = _model(config)
    with pytest.raises(ValueError, match="runs XLA-compiled functions"):
        export_app(CompiledServing(), config, data, model, str(tmp_path))


def test_verification_compares_with_the_model_given(tmp_path):
    config = APP.presets["tiny"]
    data, model = _model(config)
    exported = export_app(APP, config, data, model, str(tmp_path), verify=False)
    # Same architecture, other weights: the check must notice.
    model.set_weights([weight + 0.1 for weight in model.get_weights()])
    module = APP.serving_module(config, data, model)
    requests = APP.sample_requests(config, data)
    expected = {
        name: call_signature(module.serving_signatures()[name], inputs)
        for name, inputs in requests.items()
    }
    with pytest.raises(ValueError, match=r"export check: serving_default/prediction"):
        verify_export(exported.path, requests, expected)


def test_sample_request_that_does_not_fit_is_rejected_before_writing(tmp_path):
    class WrongRequests(toy_app.ToyApp):
        def sample_requests(self, config, data):
            return {"serving_default": {"wrong_name": data.test[0][:2]}}

    app = WrongRequests()
    config = APP.presets["tiny"]
    data, model = _model(config)
    with pytest.raises(ValueError, match="does not fit the signature"):
        export_app(app, config, data, model, str(tmp_path))
    assert not (tmp_path / "toy").exists()


@pytest.mark.slow
def test_export_killed_while_writing_leaves_no_version(tmp_path):
    run = tmp_path / "run"
    config = resolve_config(APP, "tiny", overrides=["train.epochs=1"])
    trained = train(APP, config, RunDirectory(str(run)))
    export_root = run / "export"
    export_app(APP, config, trained.data, trained.model, str(export_root), verify=False)
    assert sorted(os.listdir(export_root / "toy")) == ["1"]

    process = subprocess.Popen(
        [sys.executable, "-m", "lstm_keras", "export", "toy_app:APP"]
        + ["--output", str(run)],
        env=toy_app.subprocess_environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while not [n for n in os.listdir(export_root) if n.startswith(".partial-")]:
        assert process.poll() is None, "export ended before it was killed"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()

    assert sorted(os.listdir(export_root / "toy")) == ["1"]
    # The next export takes the next number; the leftover is not a version.
    result = export_app(
        APP, config, trained.data, trained.model, str(export_root), verify=False
    )
    assert result.version == 2
    np.testing.assert_array_equal(sorted(os.listdir(export_root / "toy")), ["1", "2"])
