"""Google's speech embedding as a Keras layer, held to openWakeWord's own ONNX
models run by onnxruntime (the oracle), and the two-branch SpeechModel."""

import dataclasses

import keras
import numpy as np
import onnxruntime
import pytest
import soundfile
import tensorflow as tf
from app_test_kit import run_app_end_to_end

from apps.speech_commands import speech_embedding
from apps.speech_commands.config import PRESETS, ModelConfig
from apps.speech_commands.model import build_speech_model
from apps.speech_commands.serving import SpeechServingModule
from lstm_keras.runner.config import apply_overrides


@pytest.fixture(scope="module")
def onnx_sessions():
    embedding_path = speech_embedding.pretrained_weights_path()
    return (
        onnxruntime.InferenceSession(
            str(embedding_path.parent / "melspectrogram.onnx")
        ),
        onnxruntime.InferenceSession(str(embedding_path)),
    )


def _speech_like(batch=2, seed=0):
    """Noise with a loud middle, so the 80 dB floor binds in quiet parts."""
    rng = np.random.default_rng(seed)
    audio = 0.01 * rng.standard_normal((batch, 16000))
    audio[:, 4000:9000] *= 40 * np.sin(np.arange(5000) / 7.0)
    audio[:, :500] = 0.0  # digital silence
    return audio.astype(np.float32)


def _onnx_log_mel(session, audio):
    # openWakeWord feeds int16-scaled samples and rescales by x / 10 + 2.
    return np.stack([
        session.run(None, {"input": clip[None] * 32768.0})[0][0, 0] / 10 + 2
        for clip in audio
    ])  # fmt: skip


def test_log_mel_equals_openwakeword_melspectrogram(onnx_sessions):
    audio = _speech_like()
    expected = _onnx_log_mel(onnx_sessions[0], audio)
    ours = speech_embedding.log_mel(tf.constant(audio)).numpy()
    assert ours.shape == expected.shape == (2, 97, 32)
    np.testing.assert_allclose(ours, expected, atol=2e-5)


@pytest.mark.parametrize("stride", [8, 4, 2, 1])
def test_embeddings_equal_the_onnx_model_on_each_window(onnx_sessions, stride):
    audio = _speech_like(seed=stride)
    layer = speech_embedding.SpeechEmbedding(stride)
    layer.load_pretrained_weights()
    ours = layer(tf.constant(audio)).numpy()
    log_mel = _onnx_log_mel(onnx_sessions[0], audio)
    expected = np.stack([
        onnx_sessions[1].run(
            None,
            {"input_1": np.stack([
                frames[start : start + 76, :, None]
                for start in range(0, frames.shape[0] - 75, stride)
            ]).astype(np.float32)},
        )[0][:, 0, 0]
        for frames in log_mel
    ])  # fmt: skip
    # Every offset below 8 yields the same number of windows here except
    # at stride 1 and 2, where the layer keeps the windows all offsets have.
    steps = ours.shape[1]
    assert steps == {8: 3, 4: 6, 2: 8, 1: 16}[stride]
    scale = np.abs(expected).max()
    np.testing.assert_allclose(ours, expected[:, :steps], atol=2e-6 * scale)


def test_embedding_rejects_a_bad_stride_and_a_short_clip():
    with pytest.raises(ValueError, match="stride must be 1, 2, 4 or 8"):
        speech_embedding.SpeechEmbedding(3)
    layer = speech_embedding.SpeechEmbedding(4)
    with pytest.raises(ValueError, match="needs at least 80 frames"):
        layer(tf.zeros([1, 8000]))


def test_weights_from_another_onnx_file_are_refused():
    other = speech_embedding.pretrained_weights_path().parent / "melspectrogram.onnx"
    with pytest.raises(ValueError, match="is not Google's speech embedding"):
        speech_embedding.read_onnx_weights(other)


def test_missing_package_is_a_one_line_error(monkeypatch):
    monkeypatch.setattr(speech_embedding.importlib.util, "find_spec", lambda _: None)
    with pytest.raises(RuntimeError, match=r"pip install openwakeword==0\.4\.0"):
        speech_embedding.pretrained_weights_path()


def _config(**model):
    tiny = PRESETS["tiny"]
    return dataclasses.replace(
        tiny,
        model=dataclasses.replace(
            tiny.model,
            **{"embedding_weight": 0.3, "embedding_units": 8, **model},
        ),
    )


def test_answer_is_the_weighted_geometric_mean_of_the_branches():
    model = build_speech_model(_config(), 4)
    waveforms = tf.constant(_speech_like(4))
    spectrogram = model._spectrogram_branch(waveforms, training=False).numpy()
    embedding = model._embedding_branch(waveforms, training=False).numpy()
    expected = spectrogram**0.7 * embedding**0.3
    expected /= expected.sum(axis=-1, keepdims=True)
    np.testing.assert_allclose(model(waveforms).numpy(), expected, rtol=1e-5)


def test_each_branch_trains_on_its_own_loss_and_the_embedding_stays_frozen():
    # No dropout or masks: the training-mode branches are deterministic.
    model = build_speech_model(_config(dropout=0.0, time_masks=0, frequency_masks=0), 4)
    model.embedding_branch[2].rate = 0.0  # the branch's own dropout
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    waveforms = tf.constant(_speech_like(4))
    labels = np.array([0, 1, 2, 3])
    crossentropy = keras.losses.SparseCategoricalCrossentropy()
    expected = float(
        crossentropy(labels, model._spectrogram_branch(waveforms, training=True))
        + crossentropy(labels, model._embedding_branch(waveforms, training=True))
    )
    frozen = [w.numpy() for w in model.embedding.weights]
    trainable = {id(v) for v in model.trainable_variables}
    assert not trainable & {id(v) for v in model.embedding.weights}
    lstm = model.embedding_branch[1].weights[0].numpy()
    logs = model.train_on_batch(waveforms, labels, return_dict=True)
    assert logs["loss"] == pytest.approx(expected, rel=1e-5)
    for before, after in zip(frozen, model.embedding.weights, strict=True):
        np.testing.assert_array_equal(before, after.numpy())
    assert not np.array_equal(lstm, model.embedding_branch[1].weights[0].numpy())


def test_two_branch_model_round_trips_and_serves_whole_clips_only(tmp_path):
    model = build_speech_model(_config(), 4)
    waveforms = _speech_like(4)
    path = str(tmp_path / "model.keras")
    model.save(path)
    restored = keras.models.load_model(path)
    np.testing.assert_allclose(restored(waveforms).numpy(), model(waveforms).numpy())
    module = SpeechServingModule(model, ("_silence_", "_unknown_", "yes", "no"))
    assert not hasattr(module, "stream_step")
    with pytest.raises(ValueError, match="no streaming form"):
        model.stream_step(tf.zeros([1, 320]), {})


@pytest.mark.parametrize("kwargs", [{"embedding_stride": 3}, {"embedding_weight": 1.0}])
def test_config_rejects_bad_embedding_settings(kwargs):
    with pytest.raises(ValueError, match=f"model.{next(iter(kwargs))}"):
        ModelConfig(**kwargs)


def test_a_stride_from_the_command_line_is_an_int():
    config = apply_overrides(PRESETS["tiny"], ["model.embedding_stride=8"])
    assert config.model.embedding_stride == 8


@pytest.mark.slow
def test_tiny_two_branch_run_trains_exports_and_predicts(tmp_path, capsys):
    clip = tmp_path / "clip.wav"
    soundfile.write(str(clip), _speech_like(1)[0], 16000)
    run = run_app_end_to_end(
        "speech",
        tmp_path / "run",
        [str(clip)],
        capsys,
        overrides=[
            f"data.cache_dir={tmp_path / 'cache'}",
            "model.embedding_weight=0.3",
            "model.embedding_units=8",
        ],
    )
    # Checked in a fresh process, without the streaming signature.
    assert run.metrics["export"]["signatures"] == ["serving_default", "serve_wav"]
    (line,) = run.predictions
    assert line["label"] in {"_silence_", "_unknown_", "yes", "no"}
