"""What a command threshold trades: accuracy against real false accepts.

Runs a trained run's export once over its validation and test splits and
the real-speech check, and prints, for each threshold, the accuracy and the
real-speech numbers the same model gives with `model.command_threshold` set
to it (no retraining: the threshold only changes the decision):

    python -m apps.speech_commands.threshold_sweep RUN_DIR [DATA_RUN_DIR]

With DATA_RUN_DIR, the validation and test splits are that run's corpus
(e.g. a model trained without noise, tested on the noisy default corpus).

Pick a threshold by the validation column (the test and real columns are
for reporting); serve it with `--set model.command_threshold=...`.
"""

from __future__ import annotations

import os
import sys

import numpy as np

THRESHOLDS = (0.0, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def sweep(probabilities, targets, real, words, labels, thresholds=THRESHOLDS):
    """Rows of accuracy per split and real-speech counts per threshold.

    Args:
        probabilities: split name -> `[n, labels]`.
        targets: split name -> `[n]` label indices.
        real: condition -> (recordings, `[n, labels]` probabilities).
        words: the command words.
        labels: the model's labels.
        thresholds: the thresholds to try.
    """
    from .decision import decide

    rows = []
    for threshold in thresholds:
        row = {"threshold": threshold}
        for split, split_probabilities in probabilities.items():
            predicted = decide(split_probabilities, threshold)
            row[split] = float(np.mean(predicted == targets[split]))
        for condition, (recordings, real_probabilities) in real.items():
            said = [labels[i] for i in decide(real_probabilities, threshold)]
            command = np.array([r.word in words for r in recordings])
            right = np.array(
                [s == r.word for s, r in zip(said, recordings, strict=True)]
            )
            accepted = np.array([s in words for s in said])
            row[f"{condition} words"] = f"{right[command].sum()}/{command.sum()}"
            row[f"{condition} false accepts"] = float(accepted[~command].mean())
        rows.append(row)
    return rows


def main(argv: list[str]) -> None:
    if len(argv) not in (1, 2):
        raise SystemExit(__doc__)
    from lstm_keras.runner.config import resolve_config

    from . import data as speech_data
    from .app import APP
    from .real_check import CONDITIONS, check_clips
    from .serving import run_probabilities

    run = argv[0]
    config = resolve_config(APP, config_file=os.path.join(argv[-1], "config.yaml"))
    predict = run_probabilities(run)

    corpus = speech_data.load_corpus(config)
    splits = ("validation", "test")
    probabilities = {
        s: predict(corpus.clips[s].astype(np.float32) / 32768.0) for s in splits
    }
    real = {}
    for condition in CONDITIONS:
        recordings, clips = check_clips(condition)
        real[condition] = (recordings, predict(clips))
    rows = sweep(probabilities, corpus.targets, real, config.data.words, corpus.labels)
    columns = list(rows[0])
    print("| " + " | ".join(columns) + " |")
    print("|" + " --- |" * len(columns))
    for row in rows:
        cells = [
            f"{v:.1%}" if isinstance(v, float) and k != "threshold" else str(v)
            for k, v in row.items()
        ]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
