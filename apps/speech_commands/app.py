"""The speech commands app as the shared CLI sees it (`lstm-keras ... speech`)."""

from __future__ import annotations

import io
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from apps.speech_commands.config import PRESETS, SpeechConfig
from lstm_keras.app import App, AppData

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

# TensorFlow, Keras and the modules that use them load in the methods that
# need them, so `lstm-keras apps` and `config` answer without TensorFlow.

# Clips of the training split used for the frontend's normalization statistics.
_STATISTICS_CLIPS = 256


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


def wav_bytes(waveform: np.ndarray, sample_rate: int | None = None) -> bytes:
    """A 16-bit PCM WAV file's bytes (what `serve_wav` takes); 16 kHz unless
    `sample_rate` says otherwise."""
    import soundfile

    from apps.speech_commands.audio import SAMPLE_RATE

    sample_rate = sample_rate or SAMPLE_RATE
    buffer = io.BytesIO()
    soundfile.write(buffer, waveform, sample_rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


class SpeechCommandsApp(App):
    """Keyword recognition from raw 16 kHz audio with a streaming export."""

    name = "speech"
    config_class = SpeechConfig
    presets = PRESETS
    baseline_model = "majority"
    headline_metric = "accuracy"
    # The fresh-process check compares float32 probabilities.
    export_tolerance = 1e-4

    def load_data(self, config: SpeechConfig, work_dir: str | None = None) -> AppData:
        from apps.speech_commands import data as speech_data

        corpus = speech_data.load_corpus(config)
        info = speech_data.SpeechInfo(
            labels=corpus.labels,
            counts=corpus.counts(),
            source=corpus.source,
            root=corpus.root,
            samples={
                "train": speech_data.sample_clips(corpus, "train", _STATISTICS_CLIPS),
                "test": speech_data.sample_clips(corpus, "test", 4),
            },
            summary=speech_data.summary(corpus),
            majority_label=int(np.argmax(np.bincount(corpus.targets["train"]))),
        )
        return AppData(
            train=speech_data.make_dataset(corpus, "train", config, training=True),
            validation=speech_data.make_dataset(
                corpus, "validation", config, training=False
            ),
            test=speech_data.make_dataset(corpus, "test", config, training=False),
            info=info,
        )

    def describe_data(self, data: AppData) -> dict[str, Any]:
        return data.info.summary

    def build_model(self, config: SpeechConfig, data: AppData) -> keras.Model:
        import keras

        from apps.speech_commands.model import build_speech_model

        model = build_speech_model(
            config, len(data.info.labels), data.info.samples["train"]
        )
        steps_per_epoch = -(
            -sum(data.info.counts["train"].values()) // config.train.batch_size
        )
        schedule = keras.optimizers.schedules.CosineDecay(
            config.train.learning_rate,
            decay_steps=max(1, steps_per_epoch * config.train.epochs),
            alpha=0.05,
        )
        model.compile(
            optimizer=keras.optimizers.Adam(schedule),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
            # The LSTM layers opt out of XLA (cuDNN is chosen at run time);
            # say so rather than have Keras warn.
            jit_compile=False,
        )
        return model

    def evaluate(
        self, config: SpeechConfig, data: AppData, model: keras.Model, output_dir: str
    ) -> dict[str, dict[str, Any]]:
        from lstm_keras_datasets.speech_acoustics import telephone

        from apps.speech_commands.decision import decide
        from apps.speech_commands.real_check import real_speech_check

        labels = data.info.labels
        threshold = config.model.command_threshold
        probabilities = model.predict(data.test, verbose=0)
        targets = np.concatenate([y.numpy() for _, y in data.test])
        predictions = decide(probabilities, threshold)
        metrics, confusion = evaluation_metrics(labels, targets, predictions)
        plots = os.path.join(output_dir, "plots")
        os.makedirs(plots, exist_ok=True)
        plot_confusion(
            labels,
            confusion,
            os.path.join(plots, "confusion_matrix.png"),
            f"{model.name}: test accuracy {metrics['accuracy']:.3f} "
            f"({len(targets)} clips)",
        )
        majority = np.full_like(targets, data.info.majority_label)
        baseline, _ = evaluation_metrics(labels, targets, majority)
        # The same test clips through an 8 kHz mu-law phone line.
        waveforms = np.concatenate([x.numpy() for x, _ in data.test])
        phone = np.stack([telephone(w.astype(np.float64)) for w in waveforms])
        phone_predictions = decide(
            model.predict(phone.astype(np.float32), batch_size=64, verbose=0),
            threshold,
        )
        metrics["accuracy_phone"] = float(np.mean(phone_predictions == targets))
        # Beside the synthetic test split: real people, never trained on.
        metrics.update(
            real_speech_check(
                lambda clips: model.predict(clips, batch_size=64, verbose=0),
                labels,
                config.data.words,
                os.path.join(output_dir, "real_speech_check.tsv"),
                command_threshold=threshold,
            )
        )
        return {model.name: metrics, "majority": {"accuracy": baseline["accuracy"]}}

    def headline(self, test_metrics):
        """Test accuracy, named for what it is, with the real-speech check."""
        row = super().headline(test_metrics)
        scores = test_metrics.get(row["model"], {})
        if row["metric"] == "accuracy":
            real = []
            if scores.get("real/words"):
                real.append(
                    f"{scores['real/words_correct']}/{scores['real/words']} real "
                    f"command words right"
                )
            if scores.get("real/other_words"):
                real.append(
                    f"{scores['real/false_accepts']:.1%} false accepts on "
                    f"{scores['real/other_words']} real other words"
                )
            row["metric"] = "accuracy, unseen synthetic voices" + (
                f" (real speech: {', '.join(real)})" if real else ""
            )
        return row

    def serving_module(self, config: SpeechConfig, data: AppData, model) -> tf.Module:
        from apps.speech_commands.serving import SpeechServingModule

        return SpeechServingModule(
            model, data.info.labels, config.model.command_threshold
        )

    def sample_requests(
        self, config: SpeechConfig, data: AppData
    ) -> dict[str, dict[str, np.ndarray]]:
        from apps.speech_commands.model import build_speech_model

        clips = data.info.samples["test"][:2]
        state_shapes = build_speech_model(
            config, len(data.info.labels), build=False
        ).state_shapes()
        step = config.model.frame_step
        return {
            "serving_default": {"waveform": clips},
            "serve_wav": {
                "wav": np.array([wav_bytes(clip) for clip in clips], dtype=object)
            },
            "stream_step": {
                "chunk": clips[:, :step],
                **{
                    name: np.zeros((len(clips), *shape), np.float32)
                    for name, shape in state_shapes.items()
                },
            },
        }

    def predict(self, export_dir: str, inputs: list[str]) -> Iterable[dict[str, Any]]:
        """Labels audio files with the export, as a TF Serving client would.

        WAV files go as bytes through `serve_wav` (a file it rejects, e.g.
        truncated, is a one-line error); other formats (FLAC, OGG) are decoded
        here and sent as a waveform through `serving_default`.
        """
        from apps.speech_commands.serving import predict_files

        return predict_files(export_dir, inputs)


APP = SpeechCommandsApp()
