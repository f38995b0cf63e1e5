"""Configuration of the translation app: frozen dataclasses and named presets."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Literal

from lstm_keras.runner import TrainConfig
from lstm_keras.runner.config_types import (
    AtLeast,
    ConfigSection,
    Fraction,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    Probability,
)

# The shipped corpora; `data.builtin_max_words` applies to them only.
BUILTIN_SOURCES = ("builtin", "freedict")

# data.dictionary_examples -> the kinds of shipped usage examples it adds.
DICTIONARY_EXAMPLE_KINDS = {
    "none": (),
    "sentences": ("sentence",),
    "sentences+phrases": ("sentence", "phrase"),
}

# Token counts: a sequence needs room for its start or end token.
_TokenCount = Annotated[int, AtLeast(2)]


@dataclasses.dataclass(frozen=True)
class DataConfig(ConfigSection):
    """Where the parallel text comes from, how it is cleaned, split and tokenized.

    Attributes:
        source: `builtin` (31k English->Spanish Bible verses, World English
            Bible -> Reina-Valera 1909), `freedict` (FreeDict German->English
            example sentences),
            `tsv:PATH` (column 1 source, column 2 target, UTF-8),
            `folder:PATH` (TFDS TranslateFolder layout: `de.train.txt`,
            `en.train.txt`, ...) or `tfds:NAME` (e.g.
            `ted_hrlr_translate/pt_to_en`, prepared locally).
        source_language: source file prefix for `folder:` sources.
        target_language: target file prefix for `folder:` sources.
        reverse: swap source and target after loading.
        max_examples: keep only the first N pairs after cleaning (0: all).
        builtin_max_words: the built-in corpora only (`builtin`, `freedict`):
            keep pairs whose sides have at most N words each (0: all). A
            preset's choice about the shipped data: a `tsv:`, `folder:` or
            `tfds:` corpus is never cut by it.
        dictionary_examples: extra TRAINING pairs from the FreeDict entries'
            quoted usage examples (`freedict` source only; never in validation
            or test): `none`, `sentences` (6.7k sentence pairs) or
            `sentences+phrases` (plus 26k short phrase pairs).
        unicode_normalization: `NFC`, `NFKC` or `none`.
        max_length_ratio: drop pairs whose character lengths differ more than
            this factor (misaligned pairs).
        validation_fraction: share of pairs in the validation split.
        test_fraction: share of pairs in the test split.
        split_seed: seed of the deterministic split.
        tokenizer_type: SentencePiece model type, `unigram` or `bpe`.
        vocabulary_size: SentencePiece vocabulary size (per model).
        shared_vocabulary: one SentencePiece model for both languages.
        batch_tokens: 0 batches `train.batch_size` training pairs; N > 0
            batches short training pairs in larger batches of about N pieces
            (at least `train.batch_size` pairs; validation is unchanged).
        max_source_length: source tokens kept (longer input is truncated).
        max_target_length: target tokens trained on and decoded at most.
    """

    section_key = "data"

    source: str = "builtin"
    source_language: str = "de"
    target_language: str = "en"
    reverse: bool = False
    max_examples: NonNegativeInt = 0
    builtin_max_words: NonNegativeInt = 0
    dictionary_examples: Literal["none", "sentences", "sentences+phrases"] = "none"
    unicode_normalization: Literal["NFC", "NFKC", "none"] = "NFC"
    max_length_ratio: Annotated[float, AtLeast(1)] = 3.0
    validation_fraction: float = 0.05
    test_fraction: float = 0.05
    split_seed: int = 1234
    tokenizer_type: Literal["unigram", "bpe"] = "unigram"
    vocabulary_size: Annotated[int, AtLeast(8)] = 4000
    shared_vocabulary: bool = True
    batch_tokens: NonNegativeInt = 0
    max_source_length: _TokenCount = 48
    max_target_length: _TokenCount = 48

    def check(self):
        if self.dictionary_examples != "none" and self.source != "freedict":
            raise ValueError(
                "data.dictionary_examples adds FreeDict German-English pairs and "
                f"needs data.source=freedict; got data.source={self.source!r}"
            )


@dataclasses.dataclass(frozen=True)
class ModelConfig(ConfigSection):
    """Encoder-decoder sizes, attention, loss and decoding settings.

    Attributes:
        embedding_dim: token embedding size (both sides).
        units: LSTM units per direction in the encoder and in the decoder.
        encoder_layers: stacked bidirectional encoder layers.
        decoder_layers: stacked decoder layers.
        attention: `luong` (multiplicative, "general") or `bahdanau`
            (additive).
        dropout: dropout on embeddings and between layers.
        label_smoothing: label smoothing of the masked cross-entropy.
        beam_size: beam width of the exported decoder (1 means greedy).
        length_penalty: GNMT length penalty exponent alpha (0: none).
        max_decode_length: most target tokens a translation may have.
        tie_embeddings: reuse the target embedding matrix as the output
            projection (fewer parameters; Press & Wolf 2017).
        use_cudnn: True lets `lstm_keras.LSTM` pick cuDNN on a GPU at run time
            (`use_cudnn="auto"`); False always runs the portable fused path
            (what "auto" runs on a CPU anyway).
    """

    section_key = "model"

    embedding_dim: PositiveInt = 256
    units: PositiveInt = 256
    encoder_layers: PositiveInt = 1
    decoder_layers: PositiveInt = 1
    attention: Literal["luong", "bahdanau"] = "luong"
    dropout: Fraction = 0.2
    label_smoothing: Fraction = 0.1
    beam_size: PositiveInt = 5
    length_penalty: float = 0.6
    max_decode_length: PositiveInt = 48
    tie_embeddings: bool = True
    use_cudnn: bool = True


@dataclasses.dataclass(frozen=True)
class TranslationTrainConfig(TrainConfig):
    """`train.*`: the shared training settings plus a learning-rate decay.

    Attributes:
        decay_fraction: the last share of the training steps (of
            `train.epochs`) over which the learning rate falls linearly from
            `train.learning_rate` to `decay_to` times it; 0 keeps it constant.
        decay_to: the learning rate at the end of training, as a share of
            `train.learning_rate`.
        adam_epsilon: Adam's epsilon (Keras' default is 1e-7).
    """

    decay_fraction: Probability = 0.0
    decay_to: Probability = 0.1
    adam_epsilon: PositiveFloat = 1e-7


@dataclasses.dataclass(frozen=True)
class TranslationConfig(ConfigSection):
    """The translation app's full configuration (`data.*`, `model.*`, `train.*`)."""

    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    train: TranslationTrainConfig = TranslationTrainConfig()


PRESETS = {
    # Seconds on a CPU: a slice of the built-in corpus and a toy model.
    "tiny": TranslationConfig(
        data=DataConfig(
            max_examples=400,
            builtin_max_words=16,
            vocabulary_size=300,
            max_source_length=24,
            max_target_length=24,
            validation_fraction=0.1,
            test_fraction=0.1,
        ),
        model=ModelConfig(
            embedding_dim=16,
            units=16,
            dropout=0.0,
            beam_size=3,
            max_decode_length=24,
        ),
        train=TranslationTrainConfig(epochs=1, batch_size=32, learning_rate=5e-3),
    ),
    # The demo: built-in English->Spanish Bible verses on 2 CPU cores.
    "default": TranslationConfig(
        # Verses of at most 20 words a side fit the 20-minute budget; a small
        # vocabulary suits a ~12k-pair corpus (Sennrich & Zhang 2019).
        data=DataConfig(vocabulary_size=2000, builtin_max_words=20),
        model=ModelConfig(dropout=0.3),
        # Epochs fit the demo's 20-minute budget on 2 CPU cores; 4e-3 learned
        # faster per epoch and per second than 2e-3 or batches of 32 (README).
        # Adam's epsilon 1e-9 (Keras: 1e-7): the attention's key projection
        # starts with gradients near 1e-10, which epsilon 1e-7 damps ~1000x,
        # and attention then locked on only after 9-13 epochs (README).
        train=TranslationTrainConfig(
            epochs=14,
            batch_size=64,
            learning_rate=4e-3,
            early_stopping_patience=4,
            decay_fraction=0.3,
            adam_epsilon=1e-9,
        ),
    ),
    # The built-in corpus to convergence on 2 CPU cores within 2 hours: 22.7k
    # verses of up to 30 words a side with the default's recipe (learning
    # rate 4e-3, Adam epsilon 1e-9), more epochs and a longer decay at the
    # end. Measured: beam BLEU 27.08 in 37 minutes (README).
    "full": TranslationConfig(
        data=DataConfig(
            vocabulary_size=2000,
            builtin_max_words=30,
            max_source_length=64,
            max_target_length=64,
        ),
        model=ModelConfig(dropout=0.3, max_decode_length=64),
        train=TranslationTrainConfig(
            epochs=24,
            batch_size=64,
            learning_rate=4e-3,
            early_stopping_patience=5,
            decay_fraction=0.4,
            adam_epsilon=1e-9,
        ),
    ),
    # Real corpora (tfds:, larger TSVs) on a GPU.
    "large": TranslationConfig(
        data=DataConfig(
            vocabulary_size=16000, max_source_length=80, max_target_length=80
        ),
        model=ModelConfig(
            embedding_dim=512,
            units=512,
            encoder_layers=2,
            decoder_layers=2,
            dropout=0.3,
            beam_size=10,
            length_penalty=1.0,
            max_decode_length=80,
        ),
        train=TranslationTrainConfig(epochs=20, batch_size=128, learning_rate=1e-3),
    ),
}
