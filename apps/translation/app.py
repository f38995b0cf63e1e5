"""The translation app for the shared `lstm-keras` CLI (`APP`).

    lstm-keras train translation --preset default --output runs/translation
    lstm-keras predict translation --model runs/translation/export \\
        "In the beginning was the Word."
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from lstm_keras.runner import App, AppData

from . import data as data_lib
from .config import PRESETS, TranslationConfig
from .tokenizer import Tokenizers

# Sentences per request in `predict`.
_PREDICT_BATCH = 64


class TranslationApp(App):
    """Sentence-to-sentence translation with an attention LSTM encoder-decoder."""

    name = "translation"
    config_class = TranslationConfig
    presets = PRESETS
    serving_imports = ("tensorflow_text",)
    headline_model = "beam"
    baseline_model = "greedy"
    headline_metric = "bleu"
    input_suffixes = (".txt", ".tsv")

    def load_data(self, config: Any, work_dir: str | None = None) -> AppData:
        data_config = config.data
        splits, cleaning = data_lib.load_splits(data_config)
        tokenizer_dir = os.path.join(work_dir, "tokenizer") if work_dir else None
        if tokenizer_dir and os.path.isfile(
            os.path.join(tokenizer_dir, "target.model")
        ):
            # A resumed or re-evaluated run keeps the ids its weights were trained on.
            tokenizers = Tokenizers.load(tokenizer_dir)
        else:
            tokenizers = Tokenizers.train(
                splits["train"],
                data_config.vocabulary_size,
                data_config.tokenizer_type,
                data_config.shared_vocabulary,
            )
            if tokenizer_dir:
                tokenizers.save(tokenizer_dir)

        def dataset(name, shuffle):
            pairs = splits[name]
            return data_lib.make_dataset(
                tokenizers.encode_source(
                    [source for source, _ in pairs], data_config.max_source_length
                ),
                tokenizers.encode_target(
                    [target for _, target in pairs], data_config.max_target_length
                ),
                config.train.batch_size,
                shuffle=shuffle,
                seed=config.train.seed,
                # Validation keeps plain batches: its loss stays comparable.
                batch_tokens=data_config.batch_tokens if shuffle else 0,
            )

        train = dataset("train", True)
        train_batches = None
        if config.train.decay_fraction > 0:
            # Length buckets make the batch count per epoch data-dependent:
            # count one epoch's batches (seconds) instead of estimating them.
            train_batches = int(train.reduce(0, lambda count, _: count + 1))
        return AppData(
            train=train,
            validation=dataset("validation", False),
            test=splits["test"],
            info=data_lib.TranslationInfo(
                tokenizers=tokenizers,
                cleaning=cleaning,
                split_sizes={name: len(pairs) for name, pairs in splits.items()},
                train_batches=train_batches,
            ),
        )

    def describe_data(self, data: AppData) -> dict[str, Any]:
        info = data.info
        return {
            "cleaning": info.cleaning,
            "splits": info.split_sizes,
            "source_vocabulary": info.tokenizers.source_vocabulary_size,
            "target_vocabulary": info.tokenizers.target_vocabulary_size,
            "examples": [
                {"source": source, "target": target} for source, target in data.test[:3]
            ],
        }

    def build_model(self, config: Any, data: AppData) -> Any:
        from .model import build_model

        return build_model(config, data.info)

    def evaluate(
        self, config: Any, data: AppData, model: Any, run: Any
    ) -> dict[str, dict[str, Any]]:
        from .evaluation import evaluate

        return evaluate(self.serving_module(config, data, model), data.test, run)

    def serving_module(self, config: Any, data: AppData, model: Any) -> Any:
        from .serving import TranslationServingModule

        return TranslationServingModule(model, data.info.tokenizers, config)

    def sample_requests(
        self, config: Any, data: AppData
    ) -> dict[str, dict[str, np.ndarray]]:
        sentences = [source for source, _ in data.test[:3]] + [""]
        request = {"sentences": np.array(sentences, dtype=object)}
        return {"serving_default": request, "translate_greedy": request}

    def predict(self, export_dir: str, inputs: list[str]) -> Iterable[dict[str, Any]]:
        import tensorflow as tf

        # Loads the ops SentencePiece needs, as TF Serving links them.
        import tensorflow_text  # noqa: F401

        translate = tf.saved_model.load(export_dir).signatures["serving_default"]
        sentences = list(_read_sentences(inputs))
        for start in range(0, len(sentences), _PREDICT_BATCH):
            batch = sentences[start : start + _PREDICT_BATCH]
            outputs = translate(sentences=tf.constant(batch, tf.string))
            for sentence, translation, score in zip(
                batch,
                outputs["translations"].numpy(),
                outputs["scores"].numpy(),
                strict=True,
            ):
                yield {
                    "input": sentence,
                    "translation": translation.decode("utf-8"),
                    "score": round(float(score), 4),
                }


def _read_sentences(inputs: list[str]) -> Iterator[str]:
    """Sentences from arguments: `-` reads stdin, a `.txt`/`.tsv` path or an
    existing file is read line by line (a TSV's first column), anything else is
    a sentence. Lines are translated as they are (an empty line too)."""
    for item in inputs:
        if item == "-":
            yield from (line.rstrip("\n") for line in sys.stdin)
        elif os.path.isfile(item) or item.lower().endswith((".txt", ".tsv")):
            try:
                with open(item, encoding="utf-8") as file:
                    lines = file.read().splitlines()
            except FileNotFoundError:
                raise FileNotFoundError(f"no such input file: {item}") from None
            except UnicodeDecodeError:
                raise ValueError(f"{item} is not valid UTF-8.") from None
            is_tsv = item.lower().endswith(".tsv")
            yield from (line.split("\t")[0] if is_tsv else line for line in lines)
        else:
            yield item


APP = TranslationApp()
