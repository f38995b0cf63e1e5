"""Scoring a trained speech model: the synthetic test split, the same clips
through a phone line, and real human speech it never trained on."""

from __future__ import annotations

import os
from typing import Any

import numpy as np


def evaluate(config, test, info, model, run) -> dict[str, dict[str, Any]]:
    """`App.evaluate` for speech: `{model name: metrics, "majority": ...}`.

    Writes the confusion matrix plot to `run.plots` and the real-speech
    check's per-file answers to `run.root/real_speech_check.tsv`.
    """
    from lstm_keras_datasets.speech_acoustics import telephone

    from .decision import decide
    from .real_check import real_speech_check

    labels = info.labels
    rule = (config.model.command_threshold, config.model.unknown_weight)
    probabilities = model.predict(test, verbose=0)
    targets = np.concatenate([y.numpy() for _, y in test])
    predictions = decide(probabilities, *rule)
    metrics, confusion = evaluation_metrics(labels, targets, predictions)
    plot_confusion(
        labels,
        confusion,
        os.path.join(run.plots, "confusion_matrix.png"),
        f"{model.name}: test accuracy {metrics['accuracy']:.3f} ({len(targets)} clips)",
    )
    majority = np.full_like(targets, info.majority_label)
    baseline, _ = evaluation_metrics(labels, targets, majority)
    # The same test clips through an 8 kHz mu-law phone line.
    waveforms = np.concatenate([x.numpy() for x, _ in test])
    phone = telephone(waveforms.astype(np.float64))
    phone_predictions = decide(
        model.predict(phone.astype(np.float32), batch_size=64, verbose=0),
        *rule,
    )
    metrics["accuracy_phone"] = float(np.mean(phone_predictions == targets))
    # Beside the synthetic test split: real people, never trained on.
    metrics.update(
        real_speech_check(
            lambda clips: model.predict(clips, batch_size=64, verbose=0),
            labels,
            config.data.words,
            os.path.join(run.root, "real_speech_check.tsv"),
            *rule,
        )
    )
    return {model.name: metrics, "majority": {"accuracy": baseline["accuracy"]}}


def evaluation_metrics(
    labels: tuple[str, ...], targets: np.ndarray, predictions: np.ndarray
) -> tuple[dict[str, float], np.ndarray]:
    """Accuracy, per-class precision and recall, and the confusion matrix.

    `confusion[i, j]` counts clips of true class i predicted as j. A class
    never predicted has precision 0 (no correct predictions).
    """
    num_classes = len(labels)
    confusion = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(confusion, (targets, predictions), 1)
    metrics = {"accuracy": float(np.trace(confusion) / max(confusion.sum(), 1))}
    for index, label in enumerate(labels):
        correct = confusion[index, index]
        metrics[f"precision/{label}"] = float(
            correct / max(confusion[:, index].sum(), 1)
        )
        metrics[f"recall/{label}"] = float(correct / max(confusion[index].sum(), 1))
    return metrics, confusion


def plot_confusion(labels, confusion: np.ndarray, path: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 6))
    rates = confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1)
    image = axes.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    axes.set_xticks(range(len(labels)), labels, rotation=60, ha="right")
    axes.set_yticks(range(len(labels)), labels)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(title)
    for row in range(len(labels)):
        for column in range(len(labels)):
            if confusion[row, column]:
                color = "white" if rates[row, column] > 0.5 else "black"
                axes.text(column, row, confusion[row, column], ha="center", va="center",
                          fontsize=7, color=color)  # fmt: skip
    figure.colorbar(image, ax=axes, label="share of the true class")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
