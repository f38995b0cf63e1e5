"""The translation app for the shared `lstm-keras` CLI (`APP`).

    lstm-keras train translation --preset default --output runs/translation
    lstm-keras predict translation --model runs/translation/export \\
        "In the beginning was the Word."
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from lstm_keras.app import App, AppData

from . import data as data_lib
from .config import PRESETS, TranslationConfig
from .tokenizer import Tokenizers

# Test sentences shown in metrics.json (and the first 4 in the attention plot).
_SAMPLES = 10
_EVALUATION_BATCH = 64


@dataclasses.dataclass
class TranslationInfo:
    """What the model, evaluation and serving need besides the datasets."""

    tokenizers: Tokenizers
    cleaning: dict[str, int]
    split_sizes: dict[str, int]


class TranslationApp(App):
    """Sentence-to-sentence translation with an attention LSTM encoder-decoder."""

    name = "translation"
    config_class = TranslationConfig
    presets = PRESETS
    serving_imports = ("tensorflow_text",)
    headline_model = "beam"
    baseline_model = "greedy"
    headline_metric = "bleu"

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

        return AppData(
            train=dataset("train", True),
            validation=dataset("validation", False),
            test=splits["test"],
            info=TranslationInfo(
                tokenizers=tokenizers,
                cleaning=cleaning,
                split_sizes={name: len(pairs) for name, pairs in splits.items()},
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
        from .model import LinearDecayAtEnd, build_translator, compile_translator

        tokenizers = data.info.tokenizers
        translator = build_translator(
            config.model,
            tokenizers.source_vocabulary_size,
            tokenizers.target_vocabulary_size,
        )
        train = config.train
        learning_rate = train.learning_rate
        if train.decay_fraction > 0:
            # Length buckets make the batch count per epoch data-dependent:
            # count one epoch's batches (seconds) instead of estimating them.
            steps = int(data.train.reduce(0, lambda count, _: count + 1))
            total = steps * train.epochs
            learning_rate = LinearDecayAtEnd(
                train.learning_rate,
                total,
                round(total * train.decay_fraction),
                train.decay_to,
            )
        return compile_translator(
            translator, config.model, learning_rate, train.adam_epsilon
        )

    def evaluate(
        self, config: Any, data: AppData, model: Any, output_dir: str
    ) -> dict[str, dict[str, Any]]:
        from .evaluation import attention_plot, paired_test, score_translations

        module = self.serving_module(config, data, model)
        sources = [source for source, _ in data.test]
        references = [target for _, target in data.test]
        results, outputs = {}, {}
        for name, function in (
            ("greedy", module.translate_greedy),
            ("beam", module.translate),
        ):
            hypotheses, scores = translate_in_batches(function, sources)
            outputs[name] = hypotheses
            results[name] = {
                **score_translations(hypotheses, references),
                "mean_log_prob": float(np.mean(scores)),
                "samples": [
                    {"source": s, "reference": r, "translation": h}
                    for s, r, h in zip(
                        sources[:_SAMPLES], references, hypotheses, strict=False
                    )
                ],
            }
        # Is beam search's gain over greedy more than test-set luck?
        results["beam"]["paired_test_vs_greedy"] = paired_test(
            outputs["greedy"], outputs["beam"], references
        )
        plots = os.path.join(output_dir, "plots")
        os.makedirs(plots, exist_ok=True)
        attention_plot(module, sources[:4], os.path.join(plots, "attention.png"))
        with open(os.path.join(output_dir, "test_translations.tsv"), "w") as file:
            file.write("source\treference\tgreedy\tbeam\n")
            rows = zip(
                sources, references, outputs["greedy"], outputs["beam"], strict=True
            )
            for row in rows:
                file.write("\t".join(" ".join(text.split()) for text in row) + "\n")
        return results

    def serving_module(self, config: Any, data: AppData, model: Any) -> Any:
        from .serving import TranslationModule

        return TranslationModule(model, data.info.tokenizers, config)

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
        for start in range(0, len(sentences), _EVALUATION_BATCH):
            batch = sentences[start : start + _EVALUATION_BATCH]
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


def translate_in_batches(function, sentences: list[str]) -> tuple[list[str], list]:
    """Runs a serving function over `sentences`; returns texts and scores."""
    import tensorflow as tf

    hypotheses, scores = [], []
    for start in range(0, len(sentences), _EVALUATION_BATCH):
        outputs = function(tf.constant(sentences[start : start + _EVALUATION_BATCH]))
        hypotheses += [t.decode("utf-8") for t in outputs["translations"].numpy()]
        scores += outputs["scores"].numpy().tolist()
    return hypotheses, scores


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
