"""The export's signatures against the Keras model, in memory and reloaded."""

import dataclasses

import numpy as np
import pytest
import scipy.signal
import tensorflow as tf

from apps.speech_commands.audio import wav_bytes
from apps.speech_commands.config import PRESETS
from apps.speech_commands.decision import decide
from apps.speech_commands.model import build_speech_model
from apps.speech_commands.serving import (
    SpeechServingModule,
    fft_resample,
    loudest_second,
)

LABELS = ("_silence_", "_unknown_", "yes", "no")


def _waveforms(batch=3, seed=0):
    rng = np.random.default_rng(seed)
    time = np.arange(16000) / 16000
    tones = np.sin(2 * np.pi * rng.uniform(200, 900, (batch, 1)) * time)
    return (0.3 * tones + 0.05 * rng.standard_normal((batch, 16000))).astype(np.float32)


@pytest.fixture(scope="module")
def model():
    tiny = PRESETS["tiny"]
    config = dataclasses.replace(
        tiny,
        model=dataclasses.replace(tiny.model, conv_filters=(4, 4), lstm_units=(8, 8)),
    )
    return build_speech_model(config, len(LABELS), _waveforms(8, seed=5))


@pytest.fixture(scope="module")
def module(model):
    return SpeechServingModule(model, LABELS)


@pytest.fixture(scope="module")
def reloaded(module, tmp_path_factory):
    path = str(tmp_path_factory.mktemp("export") / "1")
    tf.saved_model.save(module, path, signatures=module.serving_signatures())
    return tf.saved_model.load(path)


def _check_outputs(outputs, expected):
    np.testing.assert_allclose(outputs["probabilities"].numpy(), expected, atol=1e-5)
    index = np.argmax(expected, axis=-1)
    assert [s.decode() for s in outputs["label"].numpy()] == [LABELS[i] for i in index]
    np.testing.assert_allclose(
        outputs["score"].numpy(), expected.max(axis=-1), atol=1e-5
    )


def test_signatures_are_listed(reloaded):
    assert set(reloaded.signatures) == {"serving_default", "serve_wav", "stream_step"}
    inputs = reloaded.signatures["serving_default"].structured_input_signature[1]
    assert inputs["waveform"].shape.as_list() == [None, 16000]


@pytest.mark.parametrize("source", ["module", "reloaded"])
def test_serving_default_matches_the_keras_model(model, module, reloaded, source):
    if source == "module":
        serving = module.serving_signatures()["serving_default"]
    else:
        serving = reloaded.signatures["serving_default"]
    waveforms = _waveforms()
    _check_outputs(serving(waveform=tf.constant(waveforms)), model(waveforms).numpy())


def test_serve_wav_at_16khz_matches_the_waveform_signature(model, reloaded):
    waveforms = _waveforms()
    wavs = tf.constant([wav_bytes(w) for w in waveforms])
    quantized = np.round(waveforms * 32767) / 32768  # what 16-bit PCM holds
    outputs = reloaded.signatures["serve_wav"](wav=wavs)
    np.testing.assert_allclose(
        outputs["probabilities"].numpy(), model(quantized).numpy(), atol=1e-4
    )


def test_serve_wav_converts_rate_channels_and_length(model, reloaded):
    waveform = _waveforms(1)[0]
    at_8k = scipy.signal.resample_poly(waveform, 1, 2).astype(np.float32)
    stereo = np.stack([at_8k, at_8k], axis=1)
    long = np.concatenate(
        [np.zeros(12000, np.float32), waveform, np.zeros(9000, np.float32)]
    )
    outputs = reloaded.signatures["serve_wav"](
        wav=tf.constant([wav_bytes(stereo, 8000), wav_bytes(long)])
    )
    # The 8 kHz file: mixed down, then resampled by the Fourier method.
    upsampled = scipy.signal.resample(at_8k, 16000).astype(np.float32)
    expected = model(np.stack([upsampled, waveform])).numpy()
    np.testing.assert_allclose(
        outputs["probabilities"].numpy()[0], expected[0], atol=1e-3
    )
    # The loudest second of the long clip is the clip itself.
    np.testing.assert_allclose(
        outputs["probabilities"].numpy()[1], expected[1], atol=1e-4
    )


def test_serve_wav_rejects_bytes_that_are_not_wav(reloaded):
    with pytest.raises(tf.errors.InvalidArgumentError):
        reloaded.signatures["serve_wav"](wav=tf.constant([b"not a wav file at all"]))


def test_nan_waveform_is_an_error_not_a_label(reloaded):
    waveform = _waveforms(1)
    waveform[0, 5] = np.nan
    with pytest.raises(tf.errors.InvalidArgumentError, match="NaN"):
        reloaded.signatures["serving_default"](waveform=tf.constant(waveform))


@pytest.mark.parametrize("chunk_samples", [320, 1600])
def test_streaming_a_clip_chunk_by_chunk_gives_the_whole_clip_result(
    model, reloaded, chunk_samples
):
    waveforms = _waveforms(2, seed=3)
    stream = reloaded.signatures["stream_step"]
    states = {
        name: tf.zeros([2, *shape]) for name, shape in model.state_shapes().items()
    }
    for start in range(0, 16000, chunk_samples):
        chunk = tf.constant(waveforms[:, start : start + chunk_samples])
        outputs = stream(chunk=chunk, **states)
        states = {name: outputs[name] for name in states}
    _check_outputs(outputs, model(waveforms).numpy())


def test_stream_step_rejects_a_partial_frame(model, reloaded):
    states = {
        name: tf.zeros([1, *shape]) for name, shape in model.state_shapes().items()
    }
    with pytest.raises(tf.errors.InvalidArgumentError, match="multiple of 320"):
        reloaded.signatures["stream_step"](chunk=tf.zeros([1, 100]), **states)


@pytest.mark.parametrize(
    ("length", "rate"),
    [
        (8001, 8000),
        (8000, 8000),
        (22050, 22050),
        (4410, 44100),
        (4411, 44100),
        (16000, 48000),
    ],
)
def test_fft_resample_matches_scipy_resample(length, rate):
    rng = np.random.default_rng(0)
    samples = rng.standard_normal(length).astype(np.float32)
    ours = fft_resample(tf.constant(samples), rate).numpy()
    reference = scipy.signal.resample(samples, round(length * 16000 / rate))
    assert ours.shape == reference.shape
    np.testing.assert_allclose(ours, reference, atol=2e-4)


def test_loudest_second_centres_short_and_finds_the_word_in_long_clips():
    short = loudest_second(tf.ones([101])).numpy()
    assert short.shape == (16000,) and short[7949:8050].all()
    assert not short[:7949].any() and not short[8050:].any()
    long = np.zeros(30000, np.float32)
    long[20000:20100] = 1.0
    assert loudest_second(tf.constant(long)).numpy().sum() == 100


def test_unknown_weight_in_the_export_decides_as_numpy_does(model):
    waveforms = _waveforms()
    expected = model(waveforms).numpy()
    for weight in (1e-6, 1e6):
        module = SpeechServingModule(model, LABELS, unknown_weight=weight)
        outputs = module.serving_signatures()["serving_default"](
            waveform=tf.constant(waveforms)
        )
        index = decide(expected, 0.0, weight)
        # A weight far below 1 never answers _unknown_; far above, always.
        assert (index != 1).all() if weight < 1 else (index == 1).all()
        assert [s.decode() for s in outputs["label"].numpy()] == [
            LABELS[i] for i in index
        ]
        np.testing.assert_allclose(
            outputs["score"].numpy(), expected[np.arange(len(index)), index], atol=1e-5
        )


def test_command_threshold_answers_unknown_with_its_probability(model):
    waveforms = _waveforms()
    expected = model(waveforms).numpy()
    # A threshold above every command word's probability: no command word.
    module = SpeechServingModule(model, LABELS, command_threshold=0.999)
    outputs = module.serving_signatures()["serving_default"](
        waveform=tf.constant(waveforms)
    )
    index = np.argmax(expected, axis=-1)
    index = np.where(index >= 2, 1, index)
    assert [s.decode() for s in outputs["label"].numpy()] == [LABELS[i] for i in index]
    np.testing.assert_allclose(
        outputs["score"].numpy(), expected[np.arange(len(index)), index], atol=1e-5
    )
    np.testing.assert_allclose(outputs["probabilities"].numpy(), expected, atol=1e-5)
