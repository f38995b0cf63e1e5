"""Tests for the translation app's data sources, cleaning and split."""

import dataclasses
import time

import pytest

from apps.translation import data
from apps.translation.config import DataConfig


def test_clean_pairs_counts_each_problem():
    pairs = [
        ("Guten Morgen.", "Good morning."),
        ("Guten Morgen.", "Good morning."),  # duplicate
        ("", "Empty source."),  # empty side
        ("Hallo <b>Welt</b>!", "Hello &amp; <i>world</i>!"),  # markup
        ("Ja.", "Yes, and a very long explanation nobody asked for here."),  # ratio
        ("  Viele   Leerzeichen. ", "Many spaces."),
        ("<br/>", "Only markup."),  # markup, then empty
    ]
    kept, counts = data.clean_pairs(pairs, "NFC", max_length_ratio=3.0)
    assert kept == [
        ("Guten Morgen.", "Good morning."),
        ("Hallo Welt !", "Hello & world !"),
        ("Viele Leerzeichen.", "Many spaces."),
    ]
    assert counts == {
        "input": 7,
        "normalized": 0,
        "markup": 2,
        "empty": 2,
        "length_ratio": 1,
        "duplicates": 1,
        "kept": 3,
    }


@pytest.mark.parametrize(
    ("normalization", "expected", "changed"),
    [
        ("NFC", "Gr\u00fc\u00dfe \ufb01n.", 1),  # composes u + diaeresis only
        ("NFKC", "Gr\u00fc\u00dfe fin.", 1),  # also folds the fi ligature
        ("none", "Gru\u0308\u00dfe \ufb01n.", 0),
    ],
)
def test_clean_pairs_applies_unicode_normalization(normalization, expected, changed):
    kept, counts = data.clean_pairs(
        [("Gru\u0308\u00dfe \ufb01n.", "Greetings.")], normalization
    )
    assert kept[0][0] == expected
    assert counts["normalized"] == changed


def test_clean_pairs_rejects_unknown_normalization():
    with pytest.raises(ValueError, match="unicode_normalization"):
        data.clean_pairs([("a", "b")], "NFD")


def test_split_is_deterministic_and_groups_a_source_sentence():
    pairs = [(f"Satz {i}.", f"Sentence {i}.") for i in range(2000)]
    pairs += [("Satz 7.", "Clause 7."), ("Satz 7.", "Sentence seven.")]
    first = data.split_pairs(pairs, 0.1, 0.1, seed=3)
    again = data.split_pairs(list(reversed(pairs)), 0.1, 0.1, seed=3)
    assert {k: sorted(v) for k, v in first.items()} == {
        k: sorted(v) for k, v in again.items()
    }
    assert sum(len(v) for v in first.values()) == len(pairs)
    assert 120 < len(first["test"]) < 280 and 120 < len(first["validation"]) < 280
    homes = {name for name, split in first.items() for s, _ in split if s == "Satz 7."}
    assert len(homes) == 1
    other_seed = data.split_pairs(pairs, 0.1, 0.1, seed=4)
    assert sorted(other_seed["test"]) != sorted(first["test"])


def test_split_rejects_bad_fractions():
    with pytest.raises(ValueError, match="must be < 1"):
        data.split_pairs([("a", "b")], 0.5, 0.5, seed=0)


def test_tsv_source_ignores_extra_columns_and_reverse_swaps(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text("Hallo.\tHello.\tnote\n\nTschüss.\tBye.\n", encoding="utf-8")
    config = DataConfig(source=f"tsv:{path}")
    assert data.read_pairs(config) == [("Hallo.", "Hello."), ("Tschüss.", "Bye.")]
    reversed_pairs = data.read_pairs(dataclasses.replace(config, reverse=True))
    assert reversed_pairs == [("Hello.", "Hallo."), ("Bye.", "Tschüss.")]


def test_tsv_with_one_column_is_a_one_line_error(tmp_path):
    path = tmp_path / "one.tsv"
    path.write_text("Hallo.\tHello.\nNur eine Spalte.\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"line 2 has 1 column") as error:
        data.read_tsv(str(path))
    assert "\n" not in str(error.value)


def test_tsv_with_broken_encoding_is_a_one_line_error(tmp_path):
    path = tmp_path / "latin1.tsv"
    path.write_bytes("Hallo.\tHello.\nGrüße.\tGreetings.\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"not valid UTF-8 \(line 2") as error:
        data.read_tsv(str(path))
    assert "\n" not in str(error.value)


def test_missing_tsv_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.tsv"):
        data.read_tsv(str(tmp_path / "missing.tsv"))


def test_folder_source_reads_translate_folder_layout(tmp_path):
    (tmp_path / "de.train.txt").write_text("Eins.\nZwei.\n", encoding="utf-8")
    (tmp_path / "en.train.txt").write_text("One.\nTwo.\n", encoding="utf-8")
    (tmp_path / "de.test.txt").write_text("Drei.\n", encoding="utf-8")
    (tmp_path / "en.test.txt").write_text("Three.\n", encoding="utf-8")
    pairs = data.read_pairs(DataConfig(source=f"folder:{tmp_path}"))
    assert sorted(pairs) == [("Drei.", "Three."), ("Eins.", "One."), ("Zwei.", "Two.")]


def test_folder_source_with_mismatched_files_names_them(tmp_path):
    (tmp_path / "de.train.txt").write_text("Eins.\nZwei.\n", encoding="utf-8")
    (tmp_path / "en.train.txt").write_text("One.\n", encoding="utf-8")
    with pytest.raises(ValueError, match="de.train.txt has 2 lines"):
        data.read_pairs(DataConfig(source=f"folder:{tmp_path}"))


def test_tfds_source_fails_fast_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path))
    start = time.monotonic()
    with pytest.raises(ValueError, match="not prepared locally") as error:
        data.read_pairs(DataConfig(source="tfds:ted_hrlr_translate/pt_to_en"))
    assert time.monotonic() - start < 60
    assert "\n" not in str(error.value)


def test_unknown_source_is_rejected():
    with pytest.raises(ValueError, match="Unknown data.source"):
        data.read_pairs(DataConfig(source="csv:x.csv"))


def test_builtin_corpus_loads_cleans_and_splits():
    splits, counts = data.load_splits(DataConfig())
    assert counts["input"] == 31077 and counts["kept"] > 30000
    assert sum(len(split) for split in splits.values()) == counts["kept"]
    assert len(splits["test"]) > 1400
    # English -> Spanish by default; data.reverse=true gives Spanish -> English.
    assert ("I am the bread of life.", "Yo soy el pan de vida.") in splits["train"]
    reverse, _ = data.load_splits(DataConfig(reverse=True))
    everything = {pair for split in splits.values() for pair in split}
    assert {(t, s) for split in reverse.values() for s, t in split} == everything


def test_freedict_corpus_stays_a_named_source():
    splits, counts = data.load_splits(DataConfig(source="freedict"))
    assert counts["input"] > 10000 and counts["kept"] > 10000
    assert len(splits["test"]) > 400


def test_builtin_max_words_cuts_only_the_builtin_corpora(tmp_path):
    splits, counts = data.load_splits(DataConfig(builtin_max_words=20))
    pairs = [pair for split in splits.values() for pair in split]
    assert max(len(side.split()) for pair in pairs for side in pair) == 20
    assert counts["builtin_max_words"] == counts["kept"] - len(pairs) > 10000
    path = tmp_path / "long.tsv"
    long_pair = " ".join(["word"] * 30)
    path.write_text("".join(f"{long_pair} {i}\t{long_pair} {i}\n" for i in range(40)))
    user, user_counts = data.load_splits(
        DataConfig(source=f"tsv:{path}", builtin_max_words=20, test_fraction=0.3)
    )
    assert sum(len(split) for split in user.values()) == 40
    assert "builtin_max_words" not in user_counts


def test_near_duplicates_are_counted_by_word_overlap():
    train = [
        "And the king said to him, Go in peace.",
        "Blessed are the meek, for they shall inherit the earth.",
    ]
    test = [
        "The king said to him, “Go in peace.”",  # same words but "and": 8/9
        "Blessed are the poor in spirit.",
        "Something else entirely.",
    ]
    assert data.count_near_duplicates(test, train) == 1
    assert data.count_near_duplicates(test, train, threshold=0.95) == 0
    assert data.count_near_duplicates(test, train + test[1:2]) == 2


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        (
            "tokenizer_type",
            "word",
            "'data.tokenizer_type' expects one of 'unigram', 'bpe'",
        ),
        ("unicode_normalization", "NFD", "data.unicode_normalization"),
        ("max_source_length", 1, "'data.max_source_length' expects an integer >= 2"),
    ],
)
def test_bad_data_config_values_are_one_line_errors(key, value, message):
    with pytest.raises(ValueError, match=message):
        DataConfig(**{key: value})


def test_bad_model_config_values_are_one_line_errors():
    from apps.translation.config import ModelConfig

    with pytest.raises(ValueError, match="'model.attention' expects one of"):
        ModelConfig(attention="dot")
    with pytest.raises(ValueError, match="'model.beam_size' expects an integer >= 1"):
        ModelConfig(beam_size=0)


def test_add_training_pairs_holds_out_anything_matching_evaluation_pairs():
    splits = {
        "train": [("Guten Tag.", "Good day.")],
        "validation": [("Ich hasse dich!", "I hate you!")],
        "test": [("Was ist los?", "What is wrong?")],
    }
    evaluation = {name: list(splits[name]) for name in ("validation", "test")}
    extra = [
        ("Ich hasse dich.", "I loathe you."),  # source as validation, but for "."
        ("Was ist denn los?", "what is WRONG"),  # target as test, case aside
        ("Guten Tag.", "Good day."),  # already in training
        ("Danke.", "Thanks."),
        ("Danke.", "Thanks."),
    ]
    assert data.add_training_pairs(splits, extra) == (1, 2)
    assert splits["train"] == [("Guten Tag.", "Good day."), ("Danke.", "Thanks.")]
    assert {name: splits[name] for name in evaluation} == evaluation


def test_dictionary_examples_grow_only_the_train_split():
    plain, plain_counts = data.load_splits(DataConfig(source="freedict"))
    extended, counts = data.load_splits(
        DataConfig(source="freedict", dictionary_examples="sentences")
    )
    assert extended["validation"] == plain["validation"]
    assert extended["test"] == plain["test"]
    assert extended["train"][: len(plain["train"])] == plain["train"]
    added = counts["dictionary_examples"]
    assert added > 6000 and counts["dictionary_examples_held_out"] > 0
    assert len(extended["train"]) == len(plain["train"]) + added
    assert "dictionary_examples" not in plain_counts


def test_dictionary_examples_need_the_freedict_source():
    with pytest.raises(ValueError, match="needs data.source=freedict"):
        DataConfig(source="tsv:x.tsv", dictionary_examples="sentences")
    with pytest.raises(ValueError, match="'data.dictionary_examples' expects one of"):
        DataConfig(dictionary_examples="words")


def test_bucket_batch_sizes_give_short_pairs_larger_batches():
    assert data.bucket_batch_sizes(64) == [64] * 7
    # Buckets hold pairs of at most 7, 11, 15, 19, 25, 33 pieces, then longer.
    assert data.bucket_batch_sizes(64, 1540) == [220, 140, 102, 81, 64, 64, 64]
    with pytest.raises(ValueError, match="data.batch_tokens must be >= 0"):
        data.bucket_batch_sizes(64, -1)


def test_token_batches_hold_more_short_pairs_and_cover_every_pair():
    short = [[5] * 3 for _ in range(100)]  # 4 pieces with EOS: first bucket
    long = [[6] * 20 for _ in range(10)]  # 21 pieces: fifth bucket
    sources, targets = short + long, short + long
    plain = list(data.make_dataset(sources, targets, batch_size=8))
    token = list(data.make_dataset(sources, targets, batch_size=8, batch_tokens=70))
    sizes = sorted(len(labels) for _, labels in token)
    assert sorted(len(labels) for _, labels in plain) == [2, 4] + [8] * 13
    assert sizes == [2, 8] + [10] * 10  # 70 // 7 short pairs a batch
    assert sum(sizes) == len(sources)


@pytest.mark.parametrize(
    "overrides",
    [
        ["data.source=tsv:my.tsv"],
        ["data.source=freedict", "data.dictionary_examples=sentences"],
        ["data.dictionary_examples=sentences", "data.source=freedict"],
    ],
)
def test_default_preset_takes_other_sources_in_any_override_order(overrides):
    from apps.translation.app import APP
    from lstm_keras.runner.config import resolve_config

    config = resolve_config(APP, "default", overrides=overrides)
    source = next(o for o in overrides if o.startswith("data.source="))
    assert config.data.source == source.split("=", 1)[1]
    assert config.data.builtin_max_words == 20  # ignored for tsv: (tested above)
    with pytest.raises(ValueError, match="needs data.source=freedict"):
        resolve_config(APP, "default", overrides=["data.dictionary_examples=sentences"])
