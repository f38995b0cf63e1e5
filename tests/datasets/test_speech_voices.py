"""The corpus's voices: eSpeak NG through ctypes, and its reset."""

import numpy as np
import pytest
from lstm_keras_datasets import speech_voices


def test_espeak_speaks_english_voices_at_22050_hz():
    espeak = speech_voices.ESpeak()
    samples = espeak.synthesize("stop", "en-us+m3", 175, 50, 50, 100)
    assert samples.dtype == np.int16 and 0.15 * 22050 < samples.size < 1.5 * 22050
    assert {"m1", "f1", "whisper", "croak"} <= set(espeak.variants())
    with pytest.raises(ValueError, match="no voice"):
        espeak.synthesize("stop", "xx-nowhere+m1", 175, 50, 50, 100)


@pytest.mark.parametrize("voice", ["en+m1", "en+Reed"])  # Reed: a Klatt voice
def test_espeak_reset_speaks_the_same_whatever_came_before(voice):
    espeak = speech_voices.ESpeak()
    espeak.reset(3)
    first = [espeak.synthesize("seven", voice, 170, 50, 50, 100) for _ in range(2)]
    # Without a reset the same call gives other samples: the pitch flutter's
    # phase and the noise generators run on from the utterance before.
    assert not np.array_equal(first[0], first[1])
    espeak.synthesize("hello there", "en+croak", 150, 40, 60, 100)
    espeak.reset(3)
    again = [espeak.synthesize("seven", voice, 170, 50, 50, 100) for _ in range(2)]
    for before, after in zip(first, again, strict=True):
        np.testing.assert_array_equal(before, after)
