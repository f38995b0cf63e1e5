"""The embedding branch's training views, embedded once (`embedding_views`)."""

import dataclasses

import numpy as np
import tensorflow as tf

from apps.speech_commands import data, embedding_views
from apps.speech_commands.config import PRESETS
from apps.speech_commands.speech_embedding import SpeechEmbedding


def _config(views):
    tiny = PRESETS["tiny"]
    return dataclasses.replace(
        tiny,
        data=dataclasses.replace(
            tiny.data, background_probability=1.0, background_volume=0.2
        ),
        model=dataclasses.replace(
            tiny.model, embedding_weight=0.3, embedding_stride=8, embedding_views=views
        ),
        train=dataclasses.replace(tiny.train, batch_size=3),
    )


def _corpus(clips=7):
    """Noise with a tone of its own in each clip; clip `i` has target `i`,
    so a batch row names its clip."""
    rng = np.random.default_rng(0)
    audio = 0.02 * rng.standard_normal((clips, 16000))
    tones = np.sin(np.arange(5000)[None, :] / (3.0 + np.arange(clips)[:, None]))
    audio[:, 5000:10000] += 0.5 * tones
    int16 = np.round(np.clip(audio, -1, 1) * 32767).astype(np.int16)
    return data.Corpus(
        labels=tuple(f"label{i}" for i in range(clips)),
        clips={split: int16 for split in data.SPLITS},
        targets={split: np.arange(clips, dtype=np.int32) for split in data.SPLITS},
        background=(0.1 * rng.standard_normal((2, 20000))).astype(np.float32),
        source="test",
    )


def test_views_are_the_frozen_stack_on_each_augmented_clip(monkeypatch):
    corpus, config = _corpus(), _config(views=2)
    clips = corpus.clips["train"]
    # Batches of 3 clips, so the views also cross batch boundaries.
    monkeypatch.setattr(embedding_views, "_BATCH", 3)
    layer = SpeechEmbedding(8)
    layer.load_pretrained_weights()
    # No augmentation: every view is the pretrained layer on the clip.
    plain = embedding_views.embed_views(clips, lambda w, seed: w, config)
    expected = layer(tf.constant(clips, tf.float32) / 32768.0).numpy()
    assert plain.shape == (2, 7, 4, 96)
    for view in plain:  # batches of 3 and of 7: float32 sums in other orders
        np.testing.assert_allclose(view, expected, atol=1e-5 * np.ptp(expected))
    # The pipeline's augmentation: views differ from the clip and each other,
    # and the same seed gives the same views.
    augmented = embedding_views.embed_views(
        clips,
        lambda w, seed: data._augment(w, seed, corpus.background, config),
        config,
    )
    assert not np.allclose(augmented[0], expected, atol=1e-2)
    assert not np.allclose(augmented[0], augmented[1], atol=1e-2)
    again = embedding_views.embed_views(
        clips,
        lambda w, seed: data._augment(w, seed, corpus.background, config),
        config,
    )
    np.testing.assert_array_equal(again, augmented)


def test_training_batches_carry_one_of_each_clips_views():
    corpus = _corpus()
    config = _config(views=3)
    views = embedding_views.embed_views(
        corpus.clips["train"],
        lambda w, seed: data._augment(w, seed, corpus.background, config),
        config,
    )
    with_views = data.make_dataset(corpus, "train", config, training=True)
    without = data.make_dataset(corpus, "train", _config(views=0), training=True)
    chosen = set()
    for _ in range(3):  # epochs
        for (inputs, labels), (waveforms, same_labels) in zip(
            with_views, without, strict=True
        ):
            # The spectrogram branch's waveforms: as without views.
            np.testing.assert_array_equal(labels, same_labels)
            np.testing.assert_array_equal(inputs["waveform"], waveforms)
            for row, clip in zip(
                inputs["embeddings"].numpy(), labels.numpy(), strict=True
            ):
                matches = [v for v in range(3) if np.array_equal(row, views[v, clip])]
                assert len(matches) == 1
                chosen.add((int(clip), matches[0]))
    # Over three epochs the clips took different views.
    assert len({view for _, view in chosen}) == 3
    assert len(chosen) > len(corpus.targets["train"])


def test_no_views_without_the_embedding_branch():
    corpus = _corpus()
    config = dataclasses.replace(
        _config(views=2),
        model=dataclasses.replace(_config(views=2).model, embedding_weight=0.0),
    )
    inputs, _ = next(iter(data.make_dataset(corpus, "train", config, training=True)))
    assert isinstance(inputs, tf.Tensor) and inputs.shape == (3, 16000)
