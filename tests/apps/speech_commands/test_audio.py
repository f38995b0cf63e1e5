"""Reading user audio: conversions that are documented, errors that are clear."""

import numpy as np
import pytest
import soundfile

from apps.speech_commands.audio import fit_to_clip, load_clip, read_audio, resample


def _tone(rate, seconds=1.0, hertz=440.0):
    time = np.arange(int(rate * seconds)) / rate
    return (0.5 * np.sin(2 * np.pi * hertz * time)).astype(np.float32)


def _dominant_hertz(clip, rate=16000):
    return np.argmax(np.abs(np.fft.rfft(clip))) * rate / clip.size


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000])
def test_any_rate_is_resampled_to_16khz(tmp_path, rate):
    path = tmp_path / f"tone_{rate}.wav"
    soundfile.write(str(path), _tone(rate), rate)
    clip = load_clip(path)
    assert clip.shape == (16000,) and clip.dtype == np.float32
    assert _dominant_hertz(clip) == pytest.approx(440, abs=2)
    assert np.abs(clip).max() == pytest.approx(0.5, abs=0.02)


def test_stereo_is_mixed_down(tmp_path):
    path = tmp_path / "stereo.wav"
    left = _tone(16000, hertz=300)
    soundfile.write(str(path), np.stack([left, np.zeros_like(left)], axis=1), 16000)
    samples, rate = read_audio(path)
    assert rate == 16000
    np.testing.assert_allclose(samples, left / 2, atol=1e-4)


def test_short_clips_are_padded_and_long_ones_cut():
    short = np.ones(8000, np.float32)
    padded = fit_to_clip(short)
    assert padded.shape == (16000,) and padded[:8000].all() and not padded[8000:].any()
    long = np.zeros(40000, np.float32)
    long[30000:30500] = 1.0  # the word, late in a 2.5 s recording
    assert not fit_to_clip(long, "start").any()
    loudest = fit_to_clip(long, "loudest")
    assert loudest.shape == (16000,) and loudest.sum() == 500


def test_missing_file_is_a_file_not_found_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        load_clip(tmp_path / "nothing.wav")


def test_empty_file_is_a_clear_error(tmp_path):
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        load_clip(path)


def test_non_wav_file_is_a_clear_error(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text("these are not audio samples\n" * 20)
    with pytest.raises(ValueError, match="Not a readable WAV"):
        load_clip(path)


def test_truncated_wav_is_a_clear_error(tmp_path):
    path = tmp_path / "whole.wav"
    soundfile.write(str(path), _tone(16000), 16000, subtype="PCM_16")
    truncated = tmp_path / "truncated.wav"
    truncated.write_bytes(path.read_bytes()[:40])  # the header, no samples
    with pytest.raises(ValueError, match=r"truncated\.wav"):
        load_clip(truncated)


def test_nan_samples_are_a_clear_error(tmp_path):
    path = tmp_path / "nan.wav"
    samples = _tone(16000)
    samples[100] = np.nan
    soundfile.write(str(path), samples, 16000, subtype="FLOAT")
    with pytest.raises(ValueError, match="NaN"):
        load_clip(path)


def test_resample_is_identity_at_16khz():
    samples = _tone(16000)
    assert resample(samples, 16000) is samples
