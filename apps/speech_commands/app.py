"""The speech commands app as the shared CLI sees it (`lstm-keras ... speech`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from lstm_keras.runner import App, AppData

from .config import PRESETS, SpeechConfig

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

# TensorFlow, Keras and the modules that use them load in the methods that
# need them, so `lstm-keras apps` and `config` answer without TensorFlow.

# Clips of the training split used for the frontend's normalization statistics.
_STATISTICS_CLIPS = 256


class SpeechCommandsApp(App):
    """Keyword recognition from raw 16 kHz audio with a streaming export."""

    name = "speech"
    config_class = SpeechConfig
    presets = PRESETS
    baseline_model = "majority"
    headline_metric = "accuracy"
    # The fresh-process check compares float32 probabilities.
    export_tolerance = 1e-4
    input_suffixes = (".wav", ".flac", ".ogg")

    def load_data(self, config: SpeechConfig, work_dir: str | None = None) -> AppData:
        from . import data as speech_data

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
        from .model import build_model

        return build_model(config, data.info)

    def evaluate(
        self, config: SpeechConfig, data: AppData, model: keras.Model, run
    ) -> dict[str, dict[str, Any]]:
        from .evaluation import evaluate

        return evaluate(config, data.test, data.info, model, run)

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
        from .serving import SpeechServingModule

        return SpeechServingModule(
            model,
            data.info.labels,
            config.model.command_threshold,
            config.model.unknown_weight,
        )

    def sample_requests(
        self, config: SpeechConfig, data: AppData
    ) -> dict[str, dict[str, np.ndarray]]:
        from .audio import wav_bytes
        from .model import build_speech_model

        clips = data.info.samples["test"][:2]
        requests = {
            "serving_default": {"waveform": clips},
            "serve_wav": {
                "wav": np.array([wav_bytes(clip) for clip in clips], dtype=object)
            },
        }
        state_shapes = build_speech_model(
            config, len(data.info.labels), build=False
        ).state_shapes()
        requests["stream_step"] = {
            "chunk": clips[:, : config.model.frame_step],
            **{
                name: np.zeros((len(clips), *shape), np.float32)
                for name, shape in state_shapes.items()
            },
        }
        return requests

    def predict(self, export_dir: str, inputs: list[str]) -> Iterable[dict[str, Any]]:
        """Labels audio files with the export, as a TF Serving client would.

        WAV files go as bytes through `serve_wav` (a file it rejects, e.g.
        truncated, is a one-line error); other formats (FLAC, OGG) are decoded
        here and sent as a waveform through `serving_default`.
        """
        from .serving import predict_files

        return predict_files(export_dir, inputs)


APP = SpeechCommandsApp()
