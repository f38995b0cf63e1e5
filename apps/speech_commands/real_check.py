"""The real-speech check: real people's recordings the model never trained on.

The synthetic test split only says how well the model knows unseen synthetic
voices. This check runs the held-out English recordings of Debian's
`alsa-utils`, `ktuberling-data`, `klettres-data` and `saytime`
(`speech_real`) through the model, as recorded and through a simulated
phone line. Each word is prepared as the export's `serve_wav` prepares the
WAV file `lstm-keras predict` sends (the blind check's files were WAV):
mono, resampled to 16 kHz by FFT, centred in 1 s if shorter, else its
loudest second. (Another resampler moved one of saytime's digits across
the decision: 0.42 against 0.59; padding at the end instead of centring,
up to three of ten.)

- word accuracy: recordings of a command word labelled with that word
  (for the 12 default labels: 3 "left" and 3 "right" said by the alsa-utils
  speaker, 2 "no" from klettres-data; few clips, so a coarse number; for
  the ten digits, saytime's 8 kHz telephone recordings of "zero" to "nine",
  the conditions of #13's blind check);
- false accepts: recordings of other words labelled as any command word
  (they should be `_unknown_`; `_silence_` counts as a rejection too).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf
from lstm_keras_datasets import speech_acoustics, speech_real

from .decision import decide
from .serving import CLIP_SAMPLES, fft_resample, loudest_second

CONDITIONS = ("recorded", "phone")


def check_clips(
    condition: str = "recorded",
) -> tuple[list[speech_real.Recording], np.ndarray]:
    """The held-out real recordings and their 1 s clips `[n, 16000]`."""
    if condition not in CONDITIONS:
        raise ValueError(
            f"condition must be one of {CONDITIONS}. Received: {condition!r}."
        )
    recordings = [r for r in speech_real.recordings() if r.held_out]
    clips = np.reshape(
        np.asarray([_as_served(*speech_real.read(r)) for r in recordings]),
        [-1, CLIP_SAMPLES],
    ).astype(np.float64)
    if condition == "phone":
        clips = speech_acoustics.telephone(clips)
    return recordings, clips.astype(np.float32)


def _as_served(samples: np.ndarray, rate: int) -> np.ndarray:
    """One word as `serve_wav` makes a WAV file of it into a 1 s clip."""
    return loudest_second(fft_resample(tf.constant(samples, tf.float32), rate)).numpy()


def real_speech_check(
    predict: Callable[[np.ndarray], np.ndarray],
    labels: tuple[str, ...],
    words: tuple[str, ...],
    tsv_path: str | None = None,
    command_threshold: float = 0.0,
    unknown_weight: float = 1.0,
) -> dict[str, Any]:
    """Word accuracy and false accepts on real speech, per condition.

    Args:
        predict: float32 waveforms `[n, 16000]` -> probabilities `[n, labels]`.
        labels: the model's labels (`_silence_`, `_unknown_`, words...).
        words: the command words.
        tsv_path: where to write every recording's prediction (optional).
        command_threshold, unknown_weight: see `decision.decide`.

    Returns:
        `{}` when no recording is installed; else counts and rates, e.g.
        `real/word_accuracy`, `real/false_accepts`, `real_phone/...`.
    """
    metrics: dict[str, Any] = {}
    rows = []
    for condition in CONDITIONS:
        recordings, clips = check_clips(condition)
        if not recordings:
            return {}
        predicted = decide(predict(clips), command_threshold, unknown_weight)
        prefix = "real" if condition == "recorded" else "real_phone"
        positive = np.array([r.word in words for r in recordings])
        said = [labels[i] for i in predicted]
        correct = np.array([s == r.word for s, r in zip(said, recordings, strict=True)])
        accepted = np.array([s in words for s in said])
        metrics[f"{prefix}/words"] = int(positive.sum())
        metrics[f"{prefix}/words_correct"] = int(correct[positive].sum())
        metrics[f"{prefix}/word_accuracy"] = (
            float(correct[positive].mean()) if positive.any() else None
        )
        metrics[f"{prefix}/other_words"] = int((~positive).sum())
        metrics[f"{prefix}/false_accepts"] = float(accepted[~positive].mean())
        for recording, label in zip(recordings, said, strict=True):
            rows.append(
                (condition, recording.package, recording.language, recording.word,
                 label, os.path.basename(recording.path))
            )  # fmt: skip
    if tsv_path:
        with open(tsv_path, "w", newline="") as table:
            writer = csv.writer(table, delimiter="\t")
            writer.writerow(
                ("condition", "package", "language", "word", "label", "file")
            )
            writer.writerows(rows)
    return metrics
