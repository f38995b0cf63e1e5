"""The `tiny` preset end to end: App methods, then the shared CLI."""

import dataclasses
import json

import numpy as np
import pytest
import sklearn.metrics
import soundfile
import tensorflow as tf
from app_test_kit import run_app_end_to_end
from lstm_keras_datasets import speech_real

from apps.speech_commands.app import APP
from apps.speech_commands.evaluation import evaluation_metrics
from lstm_keras.runner.cli import main
from lstm_keras.runner.run_directory import RunDirectory


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("speech-cache"))


@pytest.fixture(scope="module")
def tiny(cache_dir):
    config = APP.presets["tiny"]
    return dataclasses.replace(
        config, data=dataclasses.replace(config.data, cache_dir=cache_dir)
    )


def test_evaluation_metrics_match_sklearn():
    rng = np.random.default_rng(0)
    labels = ("_silence_", "_unknown_", "yes", "no")
    targets = rng.integers(0, 4, 200)
    predictions = np.where(
        rng.uniform(size=200) < 0.7, targets, rng.integers(0, 4, 200)
    )
    metrics, confusion = evaluation_metrics(labels, targets, predictions)
    assert metrics["accuracy"] == pytest.approx(
        sklearn.metrics.accuracy_score(targets, predictions)
    )
    np.testing.assert_array_equal(
        confusion, sklearn.metrics.confusion_matrix(targets, predictions)
    )
    precision = sklearn.metrics.precision_score(targets, predictions, average=None)
    recall = sklearn.metrics.recall_score(targets, predictions, average=None)
    for index, label in enumerate(labels):
        assert metrics[f"precision/{label}"] == pytest.approx(precision[index])
        assert metrics[f"recall/{label}"] == pytest.approx(recall[index])


def test_app_methods_train_evaluate_and_serve(tiny, tmp_path):
    data = APP.load_data(tiny)
    summary = APP.describe_data(data)
    assert summary["labels"] == ["_silence_", "_unknown_", "yes", "no"]
    json.dumps(summary)
    model = APP.build_model(tiny, data)
    history = model.fit(
        data.train, validation_data=data.validation, epochs=1, verbose=0, shuffle=False
    )
    assert np.isfinite(history.history["loss"][0])

    run = RunDirectory(str(tmp_path))
    run.make()
    results = APP.evaluate(tiny, data, model, run)
    assert set(results) == {"crnn", "majority"}
    assert 0.0 <= results["crnn"]["accuracy"] <= 1.0
    assert {"precision/yes", "recall/_silence_"} <= set(results["crnn"])
    assert (tmp_path / "plots" / "confusion_matrix.png").stat().st_size > 1000
    if set(speech_real.installed_packages()) == set(speech_real.PACKAGES):
        # "no" is said in klettres-data's English and British English sets.
        assert results["crnn"]["real/words"] == 2
        assert results["crnn"]["real/other_words"] > 100
        assert (tmp_path / "real_speech_check.tsv").is_file()
        headline = APP.headline(results)
        assert headline["metric"].startswith("accuracy, unseen synthetic voices")
        assert "real command words right" in headline["metric"]

    module = APP.serving_module(tiny, data, model)
    requests = APP.sample_requests(tiny, data)
    assert set(requests) == set(module.serving_signatures())
    waveforms = requests["serving_default"]["waveform"]
    expected = model(waveforms).numpy()
    outputs = module.serving_signatures()["serving_default"](
        waveform=tf.constant(waveforms)
    )
    np.testing.assert_allclose(outputs["probabilities"].numpy(), expected, atol=1e-5)
    for name, inputs in requests.items():
        outputs = module.serving_signatures()[name](
            **{k: tf.constant(v) for k, v in inputs.items()}
        )
        assert outputs["probabilities"].shape == expected.shape


@pytest.mark.slow
def test_tiny_end_to_end_through_the_cli(cache_dir, tmp_path, capsys):
    time = np.arange(44100 * 2) / 44100
    tone = 0.4 * np.sin(2 * np.pi * 440 * time)
    files = {
        "stereo_44k.wav": (np.stack([tone, tone], axis=1), 44100),
        "mono_8k.wav": (tone[::5][:8000], 8000),
        "mono_22k.flac": (tone[::2][:22050], 22050),
    }
    paths = []
    for name, (samples, rate) in files.items():
        soundfile.write(str(tmp_path / name), samples, rate)
        paths.append(str(tmp_path / name))
    run = run_app_end_to_end(
        "speech",
        tmp_path / "run",
        paths,
        capsys,
        overrides=[f"data.cache_dir={cache_dir}"],
    )
    assert set(run.metrics["test"]) == {"crnn", "majority"}
    assert run.metrics["export"]["signatures"] == [
        "serving_default",
        "serve_wav",
        "stream_step",
    ]
    assert (tmp_path / "run" / "plots" / "confusion_matrix.png").is_file()
    # Any rate, stereo or FLAC: one JSON line per file, in order.
    assert [line["file"] for line in run.predictions] == paths
    for line in run.predictions:
        assert line["label"] in {"_silence_", "_unknown_", "yes", "no"}
        assert 0.25 <= line["score"] <= 1.0  # the top of four probabilities

    # A corrupt file: one line, no traceback.
    bad = tmp_path / "bad.wav"
    bad.write_text("not audio")
    code = main(["predict", "speech", "--model", run.export, str(bad)])
    assert code != 0
    error = capsys.readouterr().err.strip().splitlines()
    assert "Not a readable WAV" in error[-1] and "Traceback" not in "\n".join(error)
