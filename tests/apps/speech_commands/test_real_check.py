"""The real-speech check's counts, with predictors whose answers are known."""

import numpy as np
import pytest
from lstm_keras_datasets import speech_real

from apps.speech_commands.real_check import check_clips, real_speech_check

pytestmark = pytest.mark.skipif(
    set(speech_real.installed_packages()) != set(speech_real.PACKAGES),
    reason="needs Debian alsa-utils, ktuberling-data, klettres-data, saytime "
    "(make system-packages)",
)
LABELS = ("_silence_", "_unknown_", "left", "right", "no")
WORDS = LABELS[2:]
DIGITS = tuple("zero one two three four five six seven eight nine".split())


def _always(label, labels=LABELS):
    def predict(clips):
        probabilities = np.zeros((len(clips), len(labels)), np.float32)
        probabilities[:, labels.index(label)] = 1.0
        return probabilities

    return predict


def test_a_model_that_always_rejects_has_no_false_accepts(tmp_path):
    metrics = real_speech_check(_always("_unknown_"), LABELS, WORDS, None)
    # alsa-utils: front, rear, side left and right; klettres-data: "no" in en, en_GB.
    assert metrics["real/words"] == 8 and metrics["real/words_correct"] == 0
    assert metrics["real/false_accepts"] == 0.0
    assert metrics["real_phone/words"] == 8


def test_a_model_that_always_says_left_gets_the_lefts_and_every_false_accept(
    tmp_path,
):
    path = tmp_path / "check.tsv"
    metrics = real_speech_check(_always("left"), LABELS, WORDS, str(path))
    assert metrics["real/words_correct"] == 3
    assert metrics["real/word_accuracy"] == pytest.approx(3 / 8)
    assert metrics["real/false_accepts"] == 1.0
    rows = path.read_text().splitlines()
    assert len(rows) == 1 + 2 * (metrics["real/words"] + metrics["real/other_words"])


def test_with_the_digits_as_commands_saytime_speaks_them():
    labels = ("_silence_", "_unknown_", *DIGITS)
    metrics = real_speech_check(_always("one", labels), labels, DIGITS, None)
    # #13's blind check, in its own conditions: one man, 8 kHz mu-law, zero
    # to nine; a model that always says "one" gets 1 of 10.
    assert metrics["real/words"] == 10 and metrics["real/words_correct"] == 1
    assert metrics["real/false_accepts"] == 1.0


def test_check_clips_are_one_second_and_the_phone_version_is_narrowband():
    recordings, clips = check_clips("recorded")
    _, phone = check_clips("phone")
    assert clips.shape == phone.shape == (len(recordings), 16000)
    assert all(r.held_out for r in recordings)
    spectrum = np.abs(np.fft.rfft(phone, axis=1)) ** 2
    assert spectrum[:, 4500:].sum() < 1e-3 * spectrum.sum()
    with pytest.raises(ValueError, match="condition"):
        check_clips("radio")


def test_check_clips_are_prepared_as_serve_wav_prepares_a_file():
    import scipy.signal

    recordings, clips = check_clips("recorded")
    (index,) = [i for i, r in enumerate(recordings) if r.path.endswith("/1.au")]
    samples, rate = speech_real.read(recordings[index])
    # serve_wav's resampler is the Fourier method of scipy.signal.resample;
    # a clip under 1 s is centred in 1 s of zeros.
    expected = scipy.signal.resample(samples, samples.size * 16000 // rate)
    start = (16000 - expected.size) // 2
    end = start + expected.size
    np.testing.assert_allclose(clips[index, start:end], expected, atol=1e-5)
    assert not clips[index, :start].any() and not clips[index, end:].any()
