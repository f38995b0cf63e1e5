"""The unseen-engine check: a trained run on voices of an engine it never heard.

The synthetic test split holds unseen eSpeak NG voices only, so it says how
well the model knows a kind of voice it trained on. Real people are another
kind. This check measures that gap on what can be made offline: train with
one engine left out (`--set 'data.engines=[espeak,flite]'`), then run the
export on clean clips of that engine's voices, each command word once per
speaker plus two other words, as recorded and through the phone line:

    python -m apps.speech_commands.engine_check RUN_DIR [ENGINE] [SPEAKERS] [WEIGHT]

ENGINE is `piper` (default: the neural voice, the most human-like) or
`flite`; SPEAKERS defaults to 60; WEIGHT is the `_unknown_` weight of the
decision (default: the run's `model.unknown_weight`; see `decision`). It
prints word accuracy, per-word counts and the commonest confusions, and
writes every answer to `RUN_DIR/engine_check_ENGINE.tsv`. A run that
trained on ENGINE is refused: its score would say nothing about unseen
voices.
"""

from __future__ import annotations

import collections
import csv
import os
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
from lstm_keras_datasets import speech_acoustics, speech_synth

from .config import UNKNOWN_LABEL
from .decision import decide
from .real_check import CONDITIONS

OTHER_WORDS_PER_SPEAKER = 2


def engine_clips(
    engine: str, words: tuple[str, ...], unknown_pool: tuple[str, ...], speakers: int
) -> tuple[list[tuple[str, int, str]], np.ndarray]:
    """Rows `(voice, speaker number, word)` and their clean clips `[n, 16000]`."""
    rng = np.random.default_rng(0)
    rows, clips = [], []
    for number, speaker in enumerate(speech_synth.unseen_speakers(engine, speakers)):
        # The same clips on every call (Piper's noise would otherwise start
        # from a seed onnxruntime draws per process).
        speech_synth.fresh_engine(engine, np.random.default_rng([0, number]))
        others = (
            rng.choice(unknown_pool, OTHER_WORDS_PER_SPEAKER) if unknown_pool else []
        )
        for word in [*words, *(str(w) for w in others)]:
            rows.append((speaker.variant, speaker.number, word))
            clips.append(speech_synth.clean_clip(word, speaker, rng))
    return rows, np.asarray(clips, np.float32).reshape(-1, speech_synth.CLIP_SAMPLES)


def engine_check(
    predict: Callable[[np.ndarray], np.ndarray],
    labels: tuple[str, ...],
    words: tuple[str, ...],
    rows: list[tuple[str, int, str]],
    clips: np.ndarray,
    command_threshold: float = 0.0,
    tsv_path: str | None = None,
    unknown_weight: float = 1.0,
) -> dict[str, Any]:
    """Per condition: word accuracy, rejections of other words, confusions."""
    metrics: dict[str, Any] = {}
    table = []
    spoken = np.array([word for _, _, word in rows])
    command = np.isin(spoken, words)
    expected = np.where(command, spoken, UNKNOWN_LABEL)
    for condition in CONDITIONS:
        if condition == "phone":
            clips = speech_acoustics.telephone(clips.astype(np.float64))
        said = [
            labels[i]
            for i in decide(
                predict(clips.astype(np.float32)), command_threshold, unknown_weight
            )
        ]
        right = np.asarray(said) == expected
        metrics[condition] = {
            "word_accuracy": float(right[command].mean()),
            "words_correct": f"{right[command].sum()}/{command.sum()}",
            "other_words_rejected": f"{right[~command].sum()}/{(~command).sum()}",
            "per_word": {
                w: f"{right[spoken == w].sum()}/{(spoken == w).sum()}" for w in words
            },
            "confusions": collections.Counter(
                (str(e), s)
                for s, e, ok in zip(said, expected, right, strict=True)
                if not ok
            ).most_common(8),
        }
        table += [(condition, *row, s) for row, s in zip(rows, said, strict=True)]
    if tsv_path:
        with open(tsv_path, "w", newline="") as file:
            writer = csv.writer(file, delimiter="\t")
            writer.writerow(("condition", "voice", "speaker", "word", "label"))
            writer.writerows(table)
    return metrics


def main(argv: list[str]) -> None:
    if not 1 <= len(argv) <= 4:
        raise SystemExit(__doc__)
    from lstm_keras.runner.config import resolve_config

    from .app import APP
    from .serving import run_probabilities

    run = argv[0]
    engine = argv[1] if len(argv) > 1 else "piper"
    speakers = int(argv[2]) if len(argv) > 2 else 60
    config = resolve_config(APP, config_file=os.path.join(run, "config.yaml"))
    if engine in config.data.engines:
        others = ",".join(e for e in config.data.engines if e != engine)
        raise SystemExit(
            f"{run} trained on {engine} voices: retrain with it left out, "
            f"e.g. --set 'data.engines=[{others}]'."
        )
    predict = run_probabilities(run)

    words = tuple(config.data.words)
    pool = speech_synth.SynthConfig(words=words).unknown_pool
    rows, clips = engine_clips(engine, words, pool, speakers)
    metrics = engine_check(
        predict, config.data.labels, words, rows, clips,
        config.model.command_threshold,
        os.path.join(run, f"engine_check_{engine}.tsv"),
        float(argv[3]) if len(argv) > 3 else config.model.unknown_weight,
    )  # fmt: skip
    for condition, result in metrics.items():
        print(
            f"{condition}: {result['word_accuracy']:.1%} of command words "
            f"({result['words_correct']}), other words rejected "
            f"{result['other_words_rejected']}"
        )
        print("  " + ", ".join(f"{w} {n}" for w, n in result["per_word"].items()))
        print("  confusions:", result["confusions"])


if __name__ == "__main__":
    main(sys.argv[1:])
