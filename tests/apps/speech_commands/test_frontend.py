"""The tf.signal frontend against librosa with matched parameters."""

import librosa
import numpy as np
import pytest
import tensorflow as tf

from apps.speech_commands.frontend import PCEN, LogMelFrontend, mel_weight_matrix

SAMPLE_RATE = 16000
PARAMETERS = {"frame_length": 480, "frame_step": 320, "fft_length": 512}


def _speechlike(seed=0):
    rng = np.random.default_rng(seed)
    time = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    tone = 0.3 * np.sin(2 * np.pi * (220 + 300 * time) * time) * np.hanning(SAMPLE_RATE)
    return (tone + 0.02 * rng.standard_normal(SAMPLE_RATE)).astype(np.float32)


def _librosa_mel_power(waveform, num_mel_bins, lower, upper):
    """librosa on the same frames: causal left padding, window centred in the FFT.

    librosa centres a 480-sample window inside its 512-sample frame, so the
    signal is shifted by (512 - 480) / 2 samples to window the same samples.
    """
    step, length, fft = 320, 480, 512
    shift = (fft - length) // 2
    padded = np.concatenate(
        [np.zeros(length - step + shift), waveform, np.zeros(shift)]
    ).astype(np.float32)
    return librosa.feature.melspectrogram(
        y=padded, sr=SAMPLE_RATE, n_fft=fft, hop_length=step, win_length=length,
        window="hann", center=False, power=2.0, n_mels=num_mel_bins, fmin=lower,
        fmax=upper, htk=True, norm=None,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("num_mel_bins", "lower", "upper"), [(40, 20.0, 7600.0), (64, 0.0, 8000.0)]
)
def test_mel_weight_matrix_matches_librosa(num_mel_bins, lower, upper):
    ours = mel_weight_matrix(257, SAMPLE_RATE, num_mel_bins, lower, upper)
    reference = librosa.filters.mel(
        sr=SAMPLE_RATE, n_fft=512, n_mels=num_mel_bins, fmin=lower, fmax=upper,
        htk=True, norm=None,
    )  # fmt: skip
    np.testing.assert_allclose(ours, reference.T, atol=1e-6)


def test_log_mel_matches_librosa_melspectrogram():
    waveform = _speechlike()
    frontend = LogMelFrontend(num_mel_bins=40, **PARAMETERS)
    ours = frontend(waveform[None]).numpy()[0]
    reference = np.log(_librosa_mel_power(waveform, 40, 20.0, 7600.0).T + 1e-6)
    assert ours.shape == reference.shape == (50, 40)
    np.testing.assert_allclose(ours, reference, atol=2e-4, rtol=1e-4)


def test_mfcc_matches_librosa_mfcc():
    waveform = _speechlike(seed=1)
    frontend = LogMelFrontend(num_mel_bins=40, num_mfcc=13, **PARAMETERS)
    ours = frontend(waveform[None]).numpy()[0]
    power = _librosa_mel_power(waveform, 40, 20.0, 7600.0)
    reference = librosa.feature.mfcc(
        S=librosa.power_to_db(power, top_db=None), n_mfcc=13, dct_type=2, norm="ortho"
    ).T
    assert ours.shape == reference.shape == (50, 13)
    np.testing.assert_allclose(ours, reference, atol=2e-3, rtol=1e-4)


@pytest.mark.parametrize("chunk_frames", [1, 3, 5])
def test_step_over_chunks_equals_the_whole_clip(chunk_frames):
    frontend = LogMelFrontend(num_mel_bins=32, num_mfcc=10)
    waveform = np.stack([_speechlike(0), _speechlike(1)])
    whole = frontend(waveform).numpy()
    buffer = tf.zeros([2, frontend.buffer_samples])
    pieces = []
    size = chunk_frames * frontend.frame_step
    for start in range(0, SAMPLE_RATE, size):
        features, buffer = frontend.step(waveform[:, start : start + size], buffer)
        pieces.append(features.numpy())
    np.testing.assert_allclose(np.concatenate(pieces, axis=1), whole, atol=1e-5)


def test_frontend_round_trips_its_config():
    frontend = LogMelFrontend(num_mel_bins=24, num_mfcc=12, frame_length=400)
    clone = LogMelFrontend.from_config(frontend.get_config())
    waveform = _speechlike()[None]
    np.testing.assert_array_equal(clone(waveform).numpy(), frontend(waveform).numpy())


@pytest.mark.parametrize(
    "kwargs",
    [{"frame_step": 0}, {"frame_length": 600, "fft_length": 512},
     {"num_mfcc": 50, "num_mel_bins": 40}, {"upper_edge_hertz": 9000.0}],
)  # fmt: skip
def test_frontend_rejects_bad_parameters(kwargs):
    with pytest.raises(ValueError, match="LogMelFrontend"):
        LogMelFrontend(**kwargs)


def test_pcen_matches_librosa_from_a_zero_state():
    """librosa.pcen with the same time constant and a zero initial smoother."""
    rng = np.random.default_rng(0)
    mel = (rng.uniform(0, 1, (2, 50, 40)) ** 4 * 100).astype(np.float32)
    ours = PCEN(time_constant=0.4, frame_rate=50.0)(mel).numpy()
    expected = np.stack(
        [
            librosa.pcen(
                m.T, sr=SAMPLE_RATE, hop_length=320, time_constant=0.4,
                gain=0.98, bias=2.0, power=0.5, eps=1e-6, zi=np.zeros((40, 1)),
            ).T
            for m in mel.astype(np.float64)
        ]
    )  # fmt: skip
    np.testing.assert_allclose(ours, expected, atol=5e-6)


def test_pcen_streamed_in_chunks_equals_the_whole():
    rng = np.random.default_rng(1)
    mel = (rng.uniform(0, 1, (2, 50, 16)) ** 4).astype(np.float32)
    layer = PCEN(time_constant=0.2, frame_rate=50.0)
    smoother = tf.zeros([2, 16])
    parts = []
    for start in range(0, 50, 7):
        features, smoother = layer.step(mel[:, start : start + 7], smoother)
        parts.append(features.numpy())
    np.testing.assert_allclose(np.concatenate(parts, axis=1), layer(mel), atol=1e-5)


def test_frontend_without_compression_gives_the_mel_power():
    waveform = _speechlike()[None]
    power = LogMelFrontend(compression="none")(waveform).numpy()
    log_mel = LogMelFrontend()(waveform).numpy()
    np.testing.assert_allclose(np.log(power + 1e-6), log_mel, atol=1e-4)
