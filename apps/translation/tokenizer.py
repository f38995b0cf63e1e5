"""SentencePiece subword models: trained on the training split, saved with the run.

Ids are fixed across models: 0 padding, 1 unknown, 2 begin, 3 end of sentence.
Python code encodes with the `sentencepiece` library; the exported graph uses
the same model bytes through `tensorflow_text.SentencepieceTokenizer`, which
produces identical ids (tested).
"""

from __future__ import annotations

import dataclasses
import io
import os

import sentencepiece

PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3


def train_sentencepiece(
    sentences: list[str], vocabulary_size: int, model_type: str = "unigram"
) -> bytes:
    """Trains a SentencePiece model on `sentences`; returns the serialized model."""
    if model_type not in ("unigram", "bpe"):
        raise ValueError(
            f"data.tokenizer_type must be unigram or bpe. Received: {model_type!r}"
        )
    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences),
        model_writer=model,
        model_type=model_type,
        vocab_size=vocabulary_size,
        # Small corpora cannot always fill the requested vocabulary.
        hard_vocab_limit=False,
        character_coverage=1.0,
        pad_id=PAD_ID,
        unk_id=UNK_ID,
        bos_id=BOS_ID,
        eos_id=EOS_ID,
        num_threads=2,
        minloglevel=2,
    )
    return model.getvalue()


@dataclasses.dataclass
class Tokenizers:
    """The source and target SentencePiece models (the same bytes when shared)."""

    source_model: bytes
    target_model: bytes

    def __post_init__(self):
        self._source = sentencepiece.SentencePieceProcessor(
            model_proto=self.source_model
        )
        self._target = sentencepiece.SentencePieceProcessor(
            model_proto=self.target_model
        )

    @property
    def source_vocabulary_size(self) -> int:
        return self._source.get_piece_size()

    @property
    def target_vocabulary_size(self) -> int:
        return self._target.get_piece_size()

    def encode_source(self, sentences: list[str], max_length: int) -> list[list[int]]:
        """Source ids ending in EOS, truncated to `max_length` (EOS kept)."""
        return [
            ids[: max_length - 1] + [EOS_ID]
            for ids in self._source.encode(list(sentences))
        ]

    def encode_target(self, sentences: list[str], max_length: int) -> list[list[int]]:
        """Target ids without BOS/EOS, truncated to `max_length - 1` tokens."""
        return [ids[: max_length - 1] for ids in self._target.encode(list(sentences))]

    def decode_target(self, ids: list[list[int]]) -> list[str]:
        """Detokenizes target ids, ignoring padding, BOS and EOS."""
        special = (PAD_ID, BOS_ID, EOS_ID)
        return self._target.decode(
            [[i for i in row if i not in special] for row in ids]
        )

    def save(self, directory: str) -> None:
        """Writes `source.model` and `target.model` into `directory`."""
        os.makedirs(directory, exist_ok=True)
        for name, model in (
            ("source", self.source_model),
            ("target", self.target_model),
        ):
            with open(os.path.join(directory, f"{name}.model"), "wb") as file:
                file.write(model)

    @classmethod
    def load(cls, directory: str) -> Tokenizers:
        """Reads the models written by `save`."""
        models = []
        for name in ("source", "target"):
            with open(os.path.join(directory, f"{name}.model"), "rb") as file:
                models.append(file.read())
        return cls(*models)

    @classmethod
    def train(
        cls,
        pairs: list[tuple[str, str]],
        vocabulary_size: int,
        model_type: str = "unigram",
        shared: bool = True,
    ) -> Tokenizers:
        """Trains on training pairs: one shared model or one per language."""
        sources = [source for source, _ in pairs]
        targets = [target for _, target in pairs]
        if shared:
            model = train_sentencepiece(sources + targets, vocabulary_size, model_type)
            return cls(model, model)
        return cls(
            train_sentencepiece(sources, vocabulary_size, model_type),
            train_sentencepiece(targets, vocabulary_size, model_type),
        )


def graph_tokenizer(model: bytes):
    """The in-graph tokenizer for `model` (`tensorflow_text`, int32 ids)."""
    import tensorflow as tf
    import tensorflow_text

    return tensorflow_text.SentencepieceTokenizer(model=model, out_type=tf.int32)
