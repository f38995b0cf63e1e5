"""Data sources, splits, `_silence_`/`_unknown_` balance and augmentation."""

import dataclasses
import time

import numpy as np
import pytest
import soundfile
import tensorflow as tf

from apps.speech_commands import data
from apps.speech_commands.config import PRESETS, DataConfig, SpeechConfig
from lstm_keras.runner import TrainConfig


def _write(path, samples, rate=16000):
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), samples, rate)


def _folder(root, clips_per_word=4):
    """A small Speech Commands folder; each word a tone of its own pitch."""
    rng = np.random.default_rng(0)
    time_axis = np.arange(16000) / 16000
    validation, testing = [], []
    for index, word in enumerate(["yes", "no", "cat", "dog", "bird"]):
        for number in range(clips_per_word):
            tone = 0.3 * np.sin(2 * np.pi * (300 + 100 * index) * time_axis)
            relative = f"{word}/speaker{number}_nohash_0.wav"
            if number == 0:
                # Other formats in the same folder: 8 kHz stereo, 0.5 s.
                short = tone[:8000:2]
                _write(root / relative, np.stack([short, short], axis=1), 8000)
            else:
                _write(root / relative, tone + 0.01 * rng.standard_normal(16000))
            (testing if number == 1 else validation if number == 2 else []).append(
                relative
            )
    _write(
        root / "_background_noise_" / "white.wav", 0.1 * rng.standard_normal(16000 * 3)
    )
    (root / "validation_list.txt").write_text("\n".join(validation) + "\n")
    (root / "testing_list.txt").write_text("\n".join(testing) + "\n")
    return root


def _config(source, **data_fields):
    return SpeechConfig(
        data=DataConfig(source=source, words=("yes", "no"), **data_fields),
        train=TrainConfig(batch_size=4),
    )


def test_folder_source_reads_splits_labels_and_balances_classes(tmp_path):
    root = _folder(tmp_path / "sc")
    corpus = data.load_corpus(_config(f"folder:{root}", unknown_fraction=1.0))
    counts = corpus.counts()
    # train: clips 0 and 3 of each word; validation: clip 2; test: clip 1.
    assert counts["train"] == {"_silence_": 2, "_unknown_": 2, "yes": 2, "no": 2}
    assert counts["test"] == {"_silence_": 1, "_unknown_": 1, "yes": 1, "no": 1}
    for split in data.SPLITS:
        assert corpus.clips[split].shape[1:] == (16000,)
        assert corpus.clips[split].dtype == np.int16
    assert corpus.background.shape == (1, 48000)


def test_unknown_and_silence_fractions_scale_their_counts(tmp_path):
    root = _folder(tmp_path / "sc", clips_per_word=6)
    corpus = data.load_corpus(
        _config(f"folder:{root}", unknown_fraction=2.0, silence_fraction=0.5)
    )
    # train holds clips 0, 3, 4, 5 of each word: 4 per command word.
    assert corpus.counts()["train"] == {
        "_silence_": 2,
        "_unknown_": 8,
        "yes": 4,
        "no": 4,
    }
    # Evaluation splits stay balanced whatever the training fractions.
    assert corpus.counts()["test"] == {
        "_silence_": 1,
        "_unknown_": 1,
        "yes": 1,
        "no": 1,
    }


def test_missing_split_list_is_a_clear_error(tmp_path):
    root = _folder(tmp_path / "sc")
    (root / "testing_list.txt").unlink()
    with pytest.raises(ValueError, match="testing_list.txt is missing"):
        data.load_corpus(_config(f"folder:{root}"))


def test_missing_word_folder_is_a_clear_error(tmp_path):
    root = _folder(tmp_path / "sc")
    config = SpeechConfig(
        data=DataConfig(source=f"folder:{root}", words=("yes", "stop"))
    )
    with pytest.raises(ValueError, match="Word folders missing.*stop"):
        data.load_corpus(config)


def test_missing_folder_is_a_file_not_found_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        data.load_corpus(_config(f"folder:{tmp_path / 'nowhere'}"))


def test_corrupt_clip_in_a_folder_is_a_clear_error(tmp_path):
    root = _folder(tmp_path / "sc")
    (root / "yes" / "speaker3_nohash_0.wav").write_bytes(b"RIFF\x00\x00garbage")
    with pytest.raises(ValueError, match="speaker3_nohash_0.wav"):
        data.load_corpus(_config(f"folder:{root}"))


def test_tfds_source_fails_fast_offline(tmp_path):
    start = time.monotonic()
    config = _config("tfds:speech_commands", data_dir=str(tmp_path))
    with pytest.raises(ValueError, match="not prepared locally"):
        data.load_corpus(config)
    assert time.monotonic() - start < 30


def test_bad_source_is_rejected():
    with pytest.raises(ValueError, match="source must be"):
        DataConfig(source="http://example.com/data")


def test_training_batches_are_augmented_and_evaluation_batches_are_not(tmp_path):
    root = _folder(tmp_path / "sc")
    config = _config(
        f"folder:{root}", background_probability=1.0, background_volume=0.2
    )
    corpus = data.load_corpus(config)
    stored = corpus.clips["train"].astype(np.float32) / 32768.0
    evaluation = np.concatenate([x.numpy() for x, _ in data.make_dataset(
        corpus, "train", config, training=False)])  # fmt: skip
    np.testing.assert_array_equal(evaluation, stored)
    first, second = (
        [
            x.numpy()
            for x, _ in data.make_dataset(corpus, "train", config, training=True)
        ]
        for _ in range(2)
    )
    batch = np.concatenate(first)
    assert batch.shape == stored.shape and np.abs(batch).max() <= 1.0
    # Every clip changed (noise always on); the same seed gives the same batches.
    assert not np.any(
        np.all(np.isclose(np.sort(batch, axis=0), np.sort(stored, axis=0)), axis=1)
    )
    np.testing.assert_array_equal(np.concatenate(second), batch)


def test_time_shift_moves_the_clip_by_at_most_the_configured_amount(tmp_path):
    root = _folder(tmp_path / "sc")
    config = _config(f"folder:{root}", background_probability=0.0, time_shift_ms=50.0)
    impulse = np.zeros((8, 16000), np.float32)
    impulse[:, 8000] = 0.5
    seed = tf.constant([1, 2], tf.int64)
    shifted = data._augment(
        tf.constant(impulse), seed, np.zeros((1, 16000), np.float32), config
    )
    positions = np.argmax(shifted.numpy(), axis=1)
    assert np.all(np.abs(positions - 8000) <= 800) and len(set(positions)) > 1


def test_background_noise_is_one_second_of_one_noise_file_at_a_random_gain():
    config = _config(
        "builtin", time_shift_ms=0.0, background_probability=1.0, background_volume=0.3
    )
    rng = np.random.default_rng(0)
    background = rng.standard_normal((3, 20000)).astype(np.float32)
    mixed = data._augment(
        tf.zeros([16, 16000]), tf.constant([3, 4], tf.int64), background, config
    ).numpy()
    # Oracle: each clip, scaled to a peak of 1, is a 1 s slice of one noise
    # row scaled the same way; find that slice by its first samples.
    window = np.lib.stride_tricks.sliding_window_view
    peaks = window(np.abs(background), 16000, axis=1).max(axis=2)  # [row, start]
    firsts = window(background, 4, axis=1)[:, : peaks.shape[1]] / peaks[..., None]
    found = set()
    for clip in mixed:
        gain = np.abs(clip).max()
        assert 0 < gain <= 0.3
        shape = clip / gain
        starts = np.argwhere(np.all(np.abs(firsts - shape[:4]) < 1e-5, axis=2))
        assert len(starts) == 1
        row, start = starts[0]
        segment = background[row, start : start + 16000]
        np.testing.assert_allclose(shape, segment / np.abs(segment).max(), atol=1e-5)
        found.add(int(row))
    assert len(found) > 1  # rows are drawn per clip


def test_tiny_preset_builtin_corpus_is_generated_and_cached(tmp_path):
    tiny = PRESETS["tiny"]
    config = dataclasses.replace(
        tiny, data=dataclasses.replace(tiny.data, cache_dir=str(tmp_path))
    )
    corpus = data.load_corpus(config)
    assert corpus.source == "builtin"
    assert set(corpus.counts()["test"]) == {"_silence_", "_unknown_", "yes", "no"}
    assert all(count > 0 for count in corpus.counts()["train"].values())


def test_builtin_corpus_options_reach_the_generator(monkeypatch, tmp_path):
    seen = {}

    def fake_build(config, cache_dir=None):
        seen["config"] = config
        raise RuntimeError("stop here")

    monkeypatch.setattr(data.speech_synth, "build", fake_build)
    config = SpeechConfig(
        data=DataConfig(
            extra_unknown=("top", "cat"), level=(0.5, 0.5), speed=(1, 1),
            noise_probability=0.0, snr_db=(10, 40),
        )
    )  # fmt: skip
    with pytest.raises(RuntimeError, match="stop here"):
        data.load_corpus(config)
    synth = seen["config"]
    assert synth.level == (0.5, 0.5) and synth.speed == (1.0, 1.0)
    assert synth.noise_probability == 0.0 and synth.snr_db == (10.0, 40.0)
    # "cat" is already a Speech Commands word: not added twice.
    assert synth.unknown_words.count("cat") == 1 and "top" in synth.unknown_pool
    assert "yes" not in synth.unknown_pool


def test_speed_and_level_need_two_values():
    with pytest.raises(ValueError, match="'data.speed' expects a list of 2 items"):
        DataConfig(speed=(1.0,))
    with pytest.raises(ValueError, match=r"data.snr_db must be \[low, high\]"):
        DataConfig(snr_db=(40.0, 10.0))
