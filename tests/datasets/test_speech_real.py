"""Real recordings from Debian packages: listing, phrase splitting, hold-out.

The recordings come from Debian packages the Makefile installs
(`alsa-utils`, `ktuberling-data`, `klettres-data`, `saytime`); tests that
read them skip where they are not installed.
"""

import os

import numpy as np
import pytest
from lstm_keras_datasets import speech_real

installed = speech_real.installed_packages()
needs_all = pytest.mark.skipif(
    set(installed) != set(speech_real.PACKAGES),
    reason="needs Debian alsa-utils, ktuberling-data, klettres-data, saytime "
    "(make system-packages)",
)


def test_split_phrase_finds_the_pause_between_two_bursts():
    rate = 16000
    rng = np.random.default_rng(0)
    phrase = np.concatenate(
        [np.zeros(1600), rng.standard_normal(4000), np.zeros(3200),
         rng.standard_normal(5000), np.zeros(800)]
    )  # fmt: skip
    end, start = speech_real.split_phrase(phrase, rate)
    assert 5600 - 160 <= end <= 5600 + 160
    assert 8800 - 160 <= start <= 8800 + 160
    with pytest.raises(ValueError, match="No pause"):
        speech_real.split_phrase(rng.standard_normal(rate), rate)


@needs_all
def test_recordings_of_the_four_packages():
    recordings = speech_real.recordings()
    words = {(r.package, r.word) for r in recordings if r.held_out}
    # Real command words of Speech Commands, said by real people.
    assert ("alsa-utils", "left") in words and ("alsa-utils", "right") in words
    assert ("klettres-data", "no") in words
    assert ("ktuberling-data", "ball") in words
    digits = "zero one two three four five six seven eight nine".split()
    assert {("saytime", digit) for digit in digits} <= words
    for recording in recordings[:: max(1, len(recordings) // 20)]:
        assert os.path.isfile(recording.licence_file)
    # Other languages train; English is the held-out check.
    assert {r.language for r in recordings if r.held_out} == {"en", "en_GB"}
    assert sum(not r.held_out for r in recordings) > 1000


@needs_all
def test_load_cuts_the_alsa_phrase_into_its_words():
    (front, left) = [
        r for r in speech_real.recordings() if r.path.endswith("Front_Left.wav")
    ]
    whole = front.part == -1
    assert not whole and (front.word, left.word) == ("front", "left")
    first, second = speech_real.load(front), speech_real.load(left)
    assert first.dtype == np.float32 and second.dtype == np.float32
    # 1.48 s at 48 kHz -> about 23.7k samples at 16 kHz, shared by the words.
    assert 0.2 * 16000 < first.size < 0.9 * 16000
    assert 0.2 * 16000 < second.size < 0.9 * 16000


def _mu_law_expand(codes: np.ndarray) -> np.ndarray:
    """G.711 mu-law bytes to linear samples in [-1, 1] (ITU-T G.711 table)."""
    codes = ~codes.astype(np.uint8)
    exponent = (codes >> 4) & 0x07
    magnitude = ((((codes & 0x0F).astype(np.int32) << 3) + 0x84) << exponent) - 0x84
    return np.where(codes & 0x80, -magnitude, magnitude) / 32768.0


@pytest.mark.skipif("saytime" not in installed, reason="needs Debian saytime")
def test_load_reads_saytime_as_8_khz_mu_law():
    import scipy.signal

    (zero,) = [r for r in speech_real.recordings() if r.path.endswith("/0.au")]
    assert (zero.word, zero.language, zero.held_out) == ("zero", "en", True)
    codes = np.fromfile(zero.path, np.uint8)  # headerless: every byte a sample
    expected = scipy.signal.resample_poly(_mu_law_expand(codes), 2, 1)
    samples = speech_real.load(zero)
    assert samples.dtype == np.float32 and samples.size == 2 * codes.size
    np.testing.assert_allclose(samples, expected, atol=1e-6)
