"""Tests for SentencePiece training and in-graph tokenization parity."""

import pytest
import sentencepiece
import tensorflow as tf

from apps.translation import data, tokenizer
from apps.translation.config import DataConfig


@pytest.fixture(scope="module")
def train_pairs():
    splits, _ = data.load_splits(DataConfig(max_examples=1500))
    return splits["train"]


@pytest.mark.parametrize("model_type", ["unigram", "bpe"])
def test_graph_tokenizer_ids_equal_sentencepiece_library(train_pairs, model_type):
    model = tokenizer.train_sentencepiece(
        [source for source, _ in train_pairs], 500, model_type
    )
    library = sentencepiece.SentencePieceProcessor(model_proto=model)
    sample = [source for source, _ in train_pairs[:200]] + [
        "",
        "Zeichen, die nie vorkamen: 漢字 ☃ ǅ",
        "  Leerzeichen   überall  ",
        "Ein sehr langer Satz " * 40,
    ]
    graph_ids = tokenizer.graph_tokenizer(model).tokenize(tf.constant(sample))
    assert graph_ids.to_list() == library.encode(sample)
    detokenized = tokenizer.graph_tokenizer(model).detokenize(graph_ids).numpy()
    assert [text.decode() for text in detokenized] == library.decode(
        library.encode(sample)
    )


def test_special_ids_are_fixed(train_pairs):
    model = tokenizer.train_sentencepiece([s for s, _ in train_pairs], 300)
    library = sentencepiece.SentencePieceProcessor(model_proto=model)
    assert (library.pad_id(), library.unk_id(), library.bos_id(), library.eos_id()) == (
        tokenizer.PAD_ID,
        tokenizer.UNK_ID,
        tokenizer.BOS_ID,
        tokenizer.EOS_ID,
    )
    assert library.encode("☃")[-1] == tokenizer.UNK_ID


def test_shared_and_separate_models_and_save_load(train_pairs, tmp_path):
    shared = tokenizer.Tokenizers.train(train_pairs, 400, shared=True)
    assert shared.source_model == shared.target_model
    separate = tokenizer.Tokenizers.train(train_pairs, 400, "bpe", shared=False)
    assert separate.source_model != separate.target_model
    separate.save(str(tmp_path))
    loaded = tokenizer.Tokenizers.load(str(tmp_path))
    assert loaded.source_model == separate.source_model
    assert loaded.target_model == separate.target_model


def test_encode_truncates_and_ends_sources_with_eos(train_pairs):
    tokenizers = tokenizer.Tokenizers.train(train_pairs, 300)
    long_sentence = "Das ist ein sehr langer Satz. " * 20
    (source,) = tokenizers.encode_source([long_sentence], max_length=10)
    assert len(source) == 10 and source[-1] == tokenizer.EOS_ID
    (empty,) = tokenizers.encode_source([""], max_length=10)
    assert empty == [tokenizer.EOS_ID]
    (target,) = tokenizers.encode_target([long_sentence], max_length=10)
    assert len(target) == 9 and tokenizer.EOS_ID not in target
    text = train_pairs[0][1]
    ids = tokenizers.encode_target([text], max_length=200)
    assert tokenizers.decode_target([ids[0] + [tokenizer.EOS_ID, 0, 0]]) == [
        tokenizers._target.decode(ids[0])
    ]


def test_unknown_tokenizer_type_is_rejected():
    with pytest.raises(ValueError, match="tokenizer_type"):
        tokenizer.train_sentencepiece(["a b c"], 10, "word")
