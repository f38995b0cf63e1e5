"""The embedding branch's training inputs, embedded once (`model.embedding_views`).

The speech embedding is frozen, yet running it is most of a two-branch
training step. With `embedding_views = V > 0` every training clip is
augmented V times before training (the input pipeline's own time shift and
background noise, with other seeds) and each version embedded once, as
openWakeWord trains its heads on features of augmented clips computed
ahead. Each epoch the embedding branch takes one of a clip's V views, at
random; the spectrogram branch still gets fresh augmentation every batch.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import tensorflow as tf

from .config import SpeechConfig
from .speech_embedding import SpeechEmbedding

_BATCH = 256  # clips embedded at once: the stack's cost per clip is flat above
# Second seed word of view v, batch b: v * _SEED_SPAN + b (fewer batches than
# this in any corpus here; the first word is train.seed).
_SEED_SPAN = 1_000_000


def embed_views(
    clips: np.ndarray,
    augment: Callable[[tf.Tensor, tf.Tensor], tf.Tensor],
    config: SpeechConfig,
) -> np.ndarray:
    """float32 `[views, clips, steps, 96]`: each clip's augmented versions
    through the pretrained, frozen stack.

    Args:
        clips: int16 `[clips, 16000]` (the training split).
        augment: `(float32 waveforms, int64 seed [2]) -> waveforms`, the
            input pipeline's training augmentation.
        config: the run's config (`model.embedding_views`,
            `model.embedding_stride`, `train.seed`).
    """
    from tqdm.auto import tqdm

    layer = SpeechEmbedding(config.model.embedding_stride)
    layer.load_pretrained_weights()

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, clips.shape[1]], tf.int16),
            tf.TensorSpec([2], tf.int64),
        ]
    )
    def embed(batch, seed):
        return layer(augment(tf.cast(batch, tf.float32) / 32768.0, seed))

    starts = range(0, len(clips), _BATCH)
    views = []
    with tqdm(
        total=config.model.embedding_views * len(starts),
        desc="Embedding training views",
    ) as bar:
        for view in range(config.model.embedding_views):
            parts = []
            for number, start in enumerate(starts):
                seed = tf.constant(
                    [config.train.seed, view * _SEED_SPAN + number], tf.int64
                )
                parts.append(embed(clips[start : start + _BATCH], seed).numpy())
                bar.update()
            views.append(np.concatenate(parts))
    return np.stack(views)
