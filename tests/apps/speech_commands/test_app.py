"""The `tiny` preset end to end: App methods, then the shared CLI."""

import dataclasses
import json

import numpy as np
import pytest
import sklearn.metrics
import soundfile
import tensorflow as tf
from lstm_keras_datasets import speech_real

from apps.speech_commands.app import APP, evaluation_metrics
from lstm_keras.runner.cli import main


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

    results = APP.evaluate(tiny, data, model, str(tmp_path))
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


@pytest.fixture(scope="module")
def trained_run(cache_dir, tmp_path_factory):
    output = tmp_path_factory.mktemp("speech-run")
    code = main(
        ["train", "speech", "--preset", "tiny", "--output", str(output),
         "--set", f"data.cache_dir={cache_dir}"]
    )  # fmt: skip
    assert code == 0
    return output


@pytest.mark.slow
def test_cli_train_writes_metrics_plot_and_export(trained_run):
    metrics = json.loads((trained_run / "metrics.json").read_text())
    assert set(metrics["test"]) == {"crnn", "majority"}
    assert metrics["export"]["verified"] is True
    assert metrics["export"]["signatures"] == [
        "serving_default",
        "serve_wav",
        "stream_step",
    ]
    assert (trained_run / "plots" / "confusion_matrix.png").is_file()


@pytest.mark.slow
def test_cli_predict_reads_any_wav_and_prints_json_lines(trained_run, tmp_path, capsys):
    time = np.arange(44100 * 2) / 44100
    tone = 0.4 * np.sin(2 * np.pi * 440 * time)
    files = {
        "stereo_44k.wav": (np.stack([tone, tone], axis=1), 44100),
        "mono_8k.wav": (tone[::5][:8000], 8000),
    }
    paths = []
    for name, (samples, rate) in files.items():
        soundfile.write(str(tmp_path / name), samples, rate)
        paths.append(str(tmp_path / name))
    capsys.readouterr()
    code = main(["predict", "speech", "--model", str(trained_run / "export"), *paths])
    assert code == 0
    lines = [
        json.loads(line)
        for line in capsys.readouterr().out.splitlines()
        if line.strip()
    ]
    assert [line["file"] for line in lines] == paths
    for line in lines:
        assert line["label"] in {"_silence_", "_unknown_", "yes", "no"}
        assert 0.25 <= line["score"] <= 1.0  # the top of four probabilities


@pytest.mark.slow
def test_cli_predict_on_a_corrupt_file_fails_with_one_line(
    trained_run, tmp_path, capsys
):
    bad = tmp_path / "bad.wav"
    bad.write_text("not audio")
    code = main(["predict", "speech", "--model", str(trained_run / "export"), str(bad)])
    assert code != 0
    error = capsys.readouterr().err.strip().splitlines()
    assert "Not a readable WAV" in error[-1] and "Traceback" not in "\n".join(error)
