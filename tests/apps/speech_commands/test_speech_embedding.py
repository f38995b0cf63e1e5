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
    """Noise with a loud middle and digital silence, where the floor binds."""
    rng = np.random.default_rng(seed)
    audio = 0.01 * rng.standard_normal((batch, 16000))
    audio[:, 4000:9000] *= 40 * np.sin(np.arange(5000) / 7.0)
    audio[:, :500] = 0.0  # digital silence
    return audio.astype(np.float32)


def _onnx_log_mel(session, audio):
    """openWakeWord's features, made causal as the layer's are: 480 zeros
    prepended, and the fixed 17 dB floor (openWakeWord's own, 80 dB below
    the peak, is lower on these clips: their peak is under 97 dB)."""
    padded = np.pad(audio, [(0, 0), (480, 0)])
    decibels = np.stack([
        session.run(None, {"input": clip[None] * 32768.0})[0][0, 0]
        for clip in padded
    ])  # fmt: skip
    assert decibels.max() < 97.0
    # openWakeWord's scaling: x / 10 + 2.
    return np.maximum(decibels, 17.0) / 10 + 2


def test_log_mel_equals_openwakeword_melspectrogram(onnx_sessions):
    audio = _speech_like()
    expected = _onnx_log_mel(onnx_sessions[0], audio)
    ours = speech_embedding.log_mel(tf.constant(audio)).numpy()
    assert ours.shape == expected.shape == (2, 100, 32)
    assert np.isclose(ours[:, :4], 3.7).any() and (ours[:, 10:] > 4).all()  # floor
    np.testing.assert_allclose(ours, expected, atol=2e-5)


def test_log_mel_streamed_in_chunks_equals_the_whole():
    audio = _speech_like(seed=1)
    whole = speech_embedding.log_mel(tf.constant(audio)).numpy()
    buffer, parts = tf.zeros([2, 480]), []
    for start in range(0, 16000, 800):
        frames, buffer = speech_embedding.log_mel_step(
            tf.constant(audio[:, start : start + 800]), buffer
        )
        parts.append(frames.numpy())
    np.testing.assert_allclose(np.concatenate(parts, axis=1), whole, atol=1e-5)


def _windows(frames, stride):
    return np.stack([
        frames[start : start + 76, :, None]
        for start in range(0, frames.shape[0] - 75, stride)
    ]).astype(np.float32)  # fmt: skip


@pytest.mark.parametrize("stride", [8, 4, 2, 1])
def test_embeddings_equal_the_onnx_model_on_each_window(onnx_sessions, stride):
    audio = _speech_like(seed=stride)
    layer = speech_embedding.SpeechEmbedding(stride)
    layer.load_pretrained_weights()
    ours = layer(tf.constant(audio)).numpy()
    expected = np.stack([
        onnx_sessions[1].run(None, {"input_1": _windows(frames, stride)})[0][:, 0, 0]
        for frames in _onnx_log_mel(onnx_sessions[0], audio)
    ])  # fmt: skip
    # A window ends every `stride` frames from frame 75 of 100 on.
    assert ours.shape == expected.shape == (2, 24 // stride + 1, 96)
    scale = np.abs(expected).max()
    np.testing.assert_allclose(ours, expected, atol=2e-6 * scale)


@pytest.mark.parametrize(("stride", "chunk"), [(8, 320), (4, 160), (1, 1600)])
def test_embedding_streamed_gives_each_window_of_the_whole(stride, chunk):
    audio = _speech_like(3, seed=stride)
    layer = speech_embedding.SpeechEmbedding(stride)
    layer.load_pretrained_weights()
    whole = layer(tf.constant(audio)).numpy()
    # The third stream has heard 3 frames more than the others.
    head = {n: tf.zeros([1, *s]) for n, s in layer.state_shapes().items()}
    _, _, head = layer.step(tf.constant(audio[2:, :480]), head)
    states = {
        name: tf.concat([tf.zeros([2, *shape]), head[name]], axis=0)
        for name, shape in layer.state_shapes().items()
    }
    streams = np.concatenate([audio[:2, :15520], audio[2:, 480:]])
    windows = [[] for _ in streams]
    for start in range(0, 15520, chunk):
        embeddings, mask, states = layer.step(
            tf.constant(streams[:, start : start + chunk]), states
        )
        for stream, (values, ends) in enumerate(zip(embeddings, mask, strict=True)):
            windows[stream] += list(values.numpy()[ends.numpy()])
    # The first two streams stop 3 frames short of the clip's end.
    shorter = layer(tf.constant(audio[:2, :15520])).numpy()
    scale = np.abs(whole).max()
    for stream, expected in enumerate([*shorter, whole[2]]):
        np.testing.assert_allclose(windows[stream], expected, atol=2e-6 * scale)


def test_embedding_rejects_a_bad_stride_and_a_short_clip():
    with pytest.raises(ValueError, match="stride must be 1, 2, 4 or 8"):
        speech_embedding.SpeechEmbedding(3)
    layer = speech_embedding.SpeechEmbedding(4)
    with pytest.raises(ValueError, match=r"needs at least 76 frames \(12032 samples"):
        layer(tf.zeros([1, 12000]))
    layer(tf.zeros([1, 12032]))


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


@pytest.mark.parametrize("share", [1.0, 0.5])
def test_each_branch_trains_on_its_own_loss_and_the_embedding_stays_frozen(share):
    # No dropout or masks: the training-mode branches are deterministic.
    model = build_speech_model(
        _config(
            dropout=0.0,
            time_masks=0,
            frequency_masks=0,
            embedding_train_share=share,
        ),
        4,
    )
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
        # The embedding branch learns from the batch's first clips only.
        + crossentropy(
            labels[: int(4 * share)],
            model._embedding_branch(waveforms[: int(4 * share)], training=True),
        )
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


def test_two_branch_model_round_trips(tmp_path):
    model = build_speech_model(_config(), 4)
    waveforms = _speech_like(4)
    path = str(tmp_path / "model.keras")
    model.save(path)
    restored = keras.models.load_model(path)
    np.testing.assert_allclose(restored(waveforms).numpy(), model(waveforms).numpy())


@pytest.mark.parametrize(("stride", "chunk"), [(8, 320), (2, 960)])
def test_two_branch_export_streams_to_the_whole_clip_answer(tmp_path, stride, chunk):
    model = build_speech_model(_config(embedding_stride=stride), 4)
    module = SpeechServingModule(model, ("_silence_", "_unknown_", "yes", "no"))
    path = str(tmp_path / "1")
    tf.saved_model.save(module, path, signatures=module.serving_signatures())
    reloaded = tf.saved_model.load(path)
    waveforms = _speech_like(2, seed=7)
    expected = reloaded.signatures["serving_default"](waveform=waveforms)
    stream = reloaded.signatures["stream_step"]
    states = {n: tf.zeros([2, *s]) for n, s in model.state_shapes().items()}
    for start in range(0, 16000, chunk):
        outputs = stream(chunk=waveforms[:, start : start + chunk], **states)
        states = {name: outputs[name] for name in states}
    np.testing.assert_allclose(
        outputs["probabilities"].numpy(),
        expected["probabilities"].numpy(),
        atol=1e-5,
    )
    assert list(outputs["label"].numpy()) == list(expected["label"].numpy())


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"embedding_stride": 3}, "embedding_stride"),
        ({"embedding_weight": 1.0}, "embedding_weight"),
        ({"embedding_weight": 0.3, "frame_step": 200}, "frame_step must be a multiple"),
    ],
)
def test_config_rejects_bad_embedding_settings(kwargs, key):
    with pytest.raises(ValueError, match=f"model.{key}"):
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
    # Checked in a fresh process, streaming included.
    assert run.metrics["export"]["signatures"] == [
        "serving_default",
        "serve_wav",
        "stream_step",
    ]
    (line,) = run.predictions
    assert line["label"] in {"_silence_", "_unknown_", "yes", "no"}
