"""Rooms, channels and speed changes applied to clean speech."""

import numpy as np
import pytest
import scipy.signal
from lstm_keras_datasets import speech_acoustics

RATE = 16000


def _tone(frequency, seconds=1.0):
    time = np.arange(int(RATE * seconds)) / RATE
    return 0.5 * np.sin(2 * np.pi * frequency * time)


def _band_energy(samples, low, high):
    frequencies, power = scipy.signal.welch(samples, RATE, nperseg=1024)
    return power[(frequencies >= low) & (frequencies < high)].sum()


def test_speed_perturb_changes_length_and_pitch_together():
    faster = speech_acoustics.speed_perturb(_tone(400), 1.25)
    assert abs(faster.size - RATE / 1.25) <= 2
    spectrum = np.abs(np.fft.rfft(faster, n=RATE))
    assert abs(np.argmax(spectrum) - 500) <= 2  # 400 Hz played 1.25x faster
    with pytest.raises(ValueError, match="speed factor"):
        speech_acoustics.speed_perturb(_tone(400), 0.0)


def test_telephone_keeps_the_voice_band_and_drops_the_rest():
    rng = np.random.default_rng(0)
    noise = 0.1 * rng.standard_normal(RATE)
    phone = speech_acoustics.telephone(noise)
    assert phone.shape == noise.shape
    # Above the 4 kHz Nyquist limit of 8 kHz audio almost nothing is left;
    # inside 300-3400 Hz most of the energy is.
    inside = _band_energy(phone, 500, 3000) / _band_energy(noise, 500, 3000)
    above = _band_energy(phone, 4500, 8000) / _band_energy(noise, 4500, 8000)
    assert inside > 0.5 and above < 1e-3


def test_mu_law_is_g711_companding_with_256_levels():
    ramp = np.linspace(-1, 1, 10001)
    coded = speech_acoustics.mu_law(ramp)
    assert len(np.unique(np.round(coded, 9))) <= 256
    # Companding: quiet samples are coded finely, loud ones coarsely.
    error = np.abs(coded - ramp)
    assert error[np.abs(ramp) < 0.01].max() < 0.001 < error[np.abs(ramp) > 0.9].max()


def test_rooms_reverberate_about_as_long_as_asked():
    """Sabine's formula sets the walls; the image method's decay, measured by
    pyroomacoustics, lands near the target (it is an estimate, not exact)."""
    import pyroomacoustics

    rng = np.random.default_rng(1)
    measured = []
    for rt60 in (0.25, 0.6):
        (response,) = speech_acoustics.room_impulse_responses(
            1, rng, (rt60, rt60), distance=(2.5, 2.5)
        )
        assert np.argmax(np.abs(response)) == 0  # starts at the direct path
        np.testing.assert_allclose(np.sum(response**2), 1.0, rtol=1e-6)
        measured.append(pyroomacoustics.experimental.measure_rt60(response, RATE))
        assert measured[-1] == pytest.approx(rt60, rel=0.5)
    assert measured[1] > measured[0]


def test_reverberate_keeps_length_and_peak():
    rng = np.random.default_rng(2)
    (response,) = speech_acoustics.room_impulse_responses(1, rng, max_order=8)
    dry = _tone(300, 0.5)
    wet = speech_acoustics.reverberate(dry, response)
    assert wet.shape == dry.shape
    np.testing.assert_allclose(np.abs(wet).max(), np.abs(dry).max())


def test_microphone_limits_the_band():
    rng = np.random.default_rng(3)
    noise = 0.1 * rng.standard_normal(RATE)
    mic = speech_acoustics.microphone(noise, np.random.default_rng(4))
    assert _band_energy(mic, 7600, 8000) < 0.1 * _band_energy(noise, 7600, 8000)


def test_telephone_of_a_batch_is_each_clip_on_its_own():
    rng = np.random.default_rng(3)
    clips = rng.normal(size=(3, 16000)) * np.array([[0.01], [0.3], [1.0]])
    batch = speech_acoustics.telephone(clips)
    assert batch.shape == clips.shape
    for clip, phoned in zip(clips, batch, strict=True):
        np.testing.assert_array_equal(speech_acoustics.telephone(clip), phoned)
