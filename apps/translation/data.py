"""Parallel text for the translation app: sources, cleaning, deterministic split.

Sources (`data.source`):
    builtin       English->Spanish Bible verses, World English Bible ->
                  Reina-Valera 1909, aligned by verse (shipped).
    freedict      FreeDict German->English example sentences (shipped).
    tsv:PATH      UTF-8, column 1 source, column 2 target, extra columns ignored.
    folder:PATH   TFDS TranslateFolder layout: `de.train.txt`, `en.train.txt`,
                  ... one sentence a line; all splits are pooled and re-split.
    tfds:NAME     a prepared TFDS translation dataset such as
                  `ted_hrlr_translate/pt_to_en` (never downloaded: offline it
                  fails within seconds); all splits pooled and re-split.
"""

from __future__ import annotations

import dataclasses
import hashlib
import html
import math
import os
import re
import unicodedata
from collections.abc import Iterable
from typing import TYPE_CHECKING

from .config import BUILTIN_SOURCES, DICTIONARY_EXAMPLE_KINDS

if TYPE_CHECKING:
    from .tokenizer import Tokenizers

_TAG = re.compile(r"</?[A-Za-z][^<>]*>")
_ENTITY = re.compile(r"&(?:[A-Za-z]+|#\d+|#x[0-9A-Fa-f]+);")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_NON_WORD = re.compile(r"\W+")

Pair = tuple[str, str]
# Word-set Jaccard similarity from which two sentences count as near-duplicates.
NEAR_DUPLICATE_JACCARD = 0.8


@dataclasses.dataclass
class TranslationInfo:
    """What the model, evaluation and serving need besides the datasets."""

    tokenizers: Tokenizers
    cleaning: dict[str, int]
    split_sizes: dict[str, int]
    # Training batches per epoch, counted when a learning-rate schedule
    # needs them (`train.decay_fraction` > 0).
    train_batches: int | None = None


def read_pairs(data_config) -> list[Pair]:
    """Reads raw (source, target) pairs named by `data_config.source`."""
    source = data_config.source
    if source == "builtin":
        from lstm_keras_datasets import bible_eng_spa

        pairs = bible_eng_spa.load()
    elif source == "freedict":
        from lstm_keras_datasets import freedict_deu_eng

        pairs = freedict_deu_eng.load()
    elif source.startswith("tsv:"):
        pairs = read_tsv(source[len("tsv:") :])
    elif source.startswith("folder:"):
        pairs = read_translate_folder(
            source[len("folder:") :],
            data_config.source_language,
            data_config.target_language,
        )
    elif source.startswith("tfds:"):
        pairs = read_tfds(source[len("tfds:") :])
    else:
        raise ValueError(
            f"Unknown data.source {source!r}; expected builtin, freedict, tsv:PATH, "
            "folder:PATH or tfds:NAME."
        )
    if data_config.reverse:
        pairs = [(target, source_text) for source_text, target in pairs]
    return pairs


def read_tsv(path: str) -> list[Pair]:
    """Reads `source TAB target [TAB ...]` lines; blank lines are skipped."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"TSV file not found: {path}")
    with open(path, "rb") as file:
        raw = file.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise ValueError(
            f"{path} is not valid UTF-8 (line {line}, byte {error.start}); "
            "convert it with `iconv -t UTF-8`."
        ) from None
    pairs = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        columns = line.split("\t")
        if len(columns) < 2:
            raise ValueError(
                f"{path} line {number} has 1 column; expected source<TAB>target."
            )
        pairs.append((columns[0], columns[1]))
    if not pairs:
        raise ValueError(f"{path} holds no sentence pairs.")
    return pairs


def read_translate_folder(
    path: str, source_language: str, target_language: str
) -> list[Pair]:
    """Reads every split of a TFDS `TranslateFolder` directory."""
    if not os.path.isdir(path):
        raise FileNotFoundError(f"Translation folder not found: {path}")
    pairs = []
    for name in sorted(os.listdir(path)):
        prefix = source_language + "."
        if not (name.startswith(prefix) and name.endswith(".txt")):
            continue
        split = name[len(prefix) : -len(".txt")]
        target_path = os.path.join(path, f"{target_language}.{split}.txt")
        if not os.path.isfile(target_path):
            raise FileNotFoundError(
                f"{os.path.join(path, name)} has no target file {target_path}"
            )
        sources = _read_lines(os.path.join(path, name))
        targets = _read_lines(target_path)
        if len(sources) != len(targets):
            raise ValueError(
                f"{name} has {len(sources)} lines but "
                f"{os.path.basename(target_path)} has {len(targets)}."
            )
        pairs.extend(zip(sources, targets, strict=True))
    if not pairs:
        raise ValueError(
            f"{path} has no {source_language}.SPLIT.txt files (TranslateFolder "
            "layout: de.train.txt, en.train.txt, ...)."
        )
    return pairs


def _read_lines(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8") as file:
            return file.read().splitlines()
    except UnicodeDecodeError as error:
        raise ValueError(f"{path} is not valid UTF-8 ({error.reason}).") from None


def read_tfds(name: str) -> list[Pair]:
    """Reads a prepared TFDS translation dataset (never downloads)."""
    import tensorflow_datasets as tfds

    try:
        splits = tfds.load(name, as_supervised=True, download=False)
    except Exception as error:  # TFDS raises many types; the message is what counts
        first_line = str(error).strip().splitlines()[0] if str(error) else ""
        raise ValueError(
            f"TFDS dataset {name!r} is not prepared locally ({type(error).__name__}: "
            f"{first_line[:200]}); prepare it with `tfds build` where there is "
            "network, or use data.source=tsv:PATH."
        ) from None
    pairs = []
    for split in sorted(splits):
        for source, target in splits[split].as_numpy_iterator():
            pairs.append((source.decode("utf-8"), target.decode("utf-8")))
    return pairs


def clean_pairs(
    pairs: Iterable[Pair], normalization: str = "NFC", max_length_ratio: float = 3.0
) -> tuple[list[Pair], dict[str, int]]:
    """Normalizes and filters pairs; returns the kept pairs and what was done.

    Counts: `input`, `normalized` (pairs changed by Unicode normalization),
    `markup` (pairs with HTML/XML tags, entities or control characters
    removed), `empty` (a side empty after cleaning: dropped), `length_ratio`
    (character lengths differing more than `max_length_ratio` times:
    dropped), `duplicates` (exact repeated pairs: dropped), `kept`.
    """
    if normalization not in ("NFC", "NFKC", "none"):
        raise ValueError(
            f"data.unicode_normalization must be NFC, NFKC or none. "
            f"Received: {normalization!r}"
        )
    counts = dict.fromkeys(
        ("input", "normalized", "markup", "empty", "length_ratio", "duplicates"), 0
    )
    kept, seen = [], set()
    for pair in pairs:
        counts["input"] += 1
        if normalization != "none":
            normalized = tuple(unicodedata.normalize(normalization, s) for s in pair)
            counts["normalized"] += normalized != tuple(pair)
            pair = normalized
        stripped = tuple(_strip_markup(side) for side in pair)
        counts["markup"] += stripped != tuple(pair)
        source, target = (" ".join(side.split()) for side in stripped)
        if not source or not target:
            counts["empty"] += 1
            continue
        ratio = max(len(source), len(target)) / min(len(source), len(target))
        if ratio > max_length_ratio:
            counts["length_ratio"] += 1
            continue
        if (source, target) in seen:
            counts["duplicates"] += 1
            continue
        seen.add((source, target))
        kept.append((source, target))
    counts["kept"] = len(kept)
    return kept, counts


def _strip_markup(text: str) -> str:
    return _CONTROL.sub(" ", html.unescape(_TAG.sub(" ", text)))


def split_pairs(
    pairs: list[Pair],
    validation_fraction: float,
    test_fraction: float,
    seed: int,
) -> dict[str, list[Pair]]:
    """Deterministic train/validation/test split keyed on the source sentence.

    A pair's split depends only on a hash of its source text and the seed, so
    the split does not move when pairs are added or reordered, and a source
    sentence with several translations never straddles two splits (which
    would leak test sentences into training).
    """
    if not 0 <= validation_fraction < 1 or not 0 < test_fraction < 1:
        raise ValueError(
            "data.validation_fraction must be in [0, 1) and data.test_fraction in "
            f"(0, 1). Received: {validation_fraction}, {test_fraction}"
        )
    if validation_fraction + test_fraction >= 1:
        raise ValueError("data.validation_fraction + data.test_fraction must be < 1.")
    splits = {"train": [], "validation": [], "test": []}
    for pair in pairs:
        digest = hashlib.sha256(f"{seed}\t{pair[0]}".encode()).digest()
        position = int.from_bytes(digest[:8], "big") / 2**64  # uniform in [0, 1)
        if position < test_fraction:
            splits["test"].append(pair)
        elif position < test_fraction + validation_fraction:
            splits["validation"].append(pair)
        else:
            splits["train"].append(pair)
    return splits


def load_splits(data_config) -> tuple[dict[str, list[Pair]], dict[str, int]]:
    """Reads, cleans and splits the configured corpus; returns splits and counts."""
    pairs, counts = clean_pairs(
        read_pairs(data_config),
        data_config.unicode_normalization,
        data_config.max_length_ratio,
    )
    if data_config.builtin_max_words and data_config.source in BUILTIN_SOURCES:
        pairs = [
            pair
            for pair in pairs
            if max(len(side.split()) for side in pair) <= data_config.builtin_max_words
        ]
        counts["builtin_max_words"] = counts["kept"] - len(pairs)
    if data_config.max_examples:
        pairs = pairs[: data_config.max_examples]
    splits = split_pairs(
        pairs,
        data_config.validation_fraction,
        data_config.test_fraction,
        data_config.split_seed,
    )
    for name, split in splits.items():
        if not split:
            raise ValueError(
                f"The {name} split is empty ({len(pairs)} pairs after cleaning); "
                "use more data or larger split fractions."
            )
    counts["test_near_duplicates"] = count_near_duplicates(
        [source for source, _ in splits["test"]],
        [source for source, _ in splits["train"]],
    )
    kinds = DICTIONARY_EXAMPLE_KINDS[data_config.dictionary_examples]
    if kinds:
        from lstm_keras_datasets import freedict_deu_eng

        examples = [row[:2] for row in freedict_deu_eng.load_examples(kinds)]
        if data_config.reverse:
            examples = [(target, source) for source, target in examples]
        examples, _ = clean_pairs(
            examples, data_config.unicode_normalization, data_config.max_length_ratio
        )
        added, held_out = add_training_pairs(splits, examples)
        counts["dictionary_examples"] = added
        counts["dictionary_examples_held_out"] = held_out
    return splits, counts


def add_training_pairs(
    splits: dict[str, list[Pair]], extra: Iterable[Pair]
) -> tuple[int, int]:
    """Appends `extra` pairs to the train split only; returns (added, held out).

    A pair sharing its source or its target with a validation or test pair
    (ignoring case, spaces and punctuation: "I hate you." matches "I hate
    you!") is held out, and one already in training is skipped: the
    evaluation splits stay exactly what they were, none of them seen in
    training.
    """
    evaluation = splits["validation"] + splits["test"]
    sources = {_match_key(source) for source, _ in evaluation}
    targets = {_match_key(target) for _, target in evaluation}
    seen = set(splits["train"])
    added = held_out = 0
    for pair in extra:
        if _match_key(pair[0]) in sources or _match_key(pair[1]) in targets:
            held_out += 1
        elif pair not in seen:
            seen.add(pair)
            splits["train"].append(pair)
            added += 1
    return added, held_out


def count_near_duplicates(
    queries: list[str], corpus: list[str], threshold: float = NEAR_DUPLICATE_JACCARD
) -> int:
    """How many `queries` have a near-duplicate in `corpus`.

    Near-duplicate: the sets of casefolded words (punctuation ignored) have a
    Jaccard similarity >= `threshold` ("And the king said to him" vs "The king
    said to him"). Exact only up to the threshold, computed with prefix
    filtering (two sets that similar share one of the rarest words of each), so
    it takes seconds on tens of thousands of sentences.
    """
    corpus_sets = [frozenset(_NON_WORD.sub(" ", s.casefold()).split()) for s in corpus]
    frequency: dict[str, int] = {}
    for words in corpus_sets:
        for word in words:
            frequency[word] = frequency.get(word, 0) + 1

    def prefix(words):
        ordered = sorted(words, key=lambda word: (frequency.get(word, 0), word))
        return ordered[: len(ordered) - math.ceil(threshold * len(ordered)) + 1]

    index: dict[str, list[int]] = {}
    for position, words in enumerate(corpus_sets):
        for word in prefix(words):
            index.setdefault(word, []).append(position)
    found = 0
    for query in queries:
        words = frozenset(_NON_WORD.sub(" ", query.casefold()).split())
        candidates = {p for word in prefix(words) for p in index.get(word, ())}
        found += any(
            len(words & corpus_sets[p]) >= threshold * len(words | corpus_sets[p])
            for p in candidates
        )
    return found


def _match_key(text: str) -> str:
    return _NON_WORD.sub("", text.casefold())


# Length buckets: a bucket holds pairs shorter than its boundary (in pieces).
BUCKET_BOUNDARIES = (8, 12, 16, 20, 26, 34)


def bucket_batch_sizes(batch_size: int, batch_tokens: int = 0) -> list[int]:
    """Pairs per batch in each length bucket, shortest bucket first.

    `batch_tokens=0` gives every bucket `batch_size` pairs. Otherwise a bucket
    gets `batch_tokens // longest` pairs (at least `batch_size`), `longest`
    being its longest sequence: on a CPU a training step costs about as much
    for 5-piece phrases as for 20-piece sentences, so short pairs in larger
    batches take fewer steps per epoch (OpenNMT's token batching).
    """
    if batch_tokens < 0:
        raise ValueError(f"data.batch_tokens must be >= 0; got {batch_tokens}")
    longest = [boundary - 1 for boundary in BUCKET_BOUNDARIES]
    sizes = [max(batch_size, batch_tokens // length) for length in longest]
    return sizes + [batch_size]  # the open-ended last bucket


def make_dataset(
    source_ids: list[list[int]],
    target_ids: list[list[int]],
    batch_size: int,
    shuffle: bool = False,
    seed: int = 0,
    batch_tokens: int = 0,
):
    """Batched `((source, decoder_input), labels)` for teacher-forced training.

    Decoder inputs are BOS + target, labels target + EOS; batches group
    sentences of similar length (less padding, fewer wasted LSTM steps) and
    are padded with 0. With `batch_tokens`, each length bucket's batch is
    `bucket_batch_sizes(batch_size, batch_tokens)` pairs instead.
    """
    import tensorflow as tf

    from .tokenizer import BOS_ID, EOS_ID

    decoder_inputs = [[BOS_ID] + ids for ids in target_ids]
    labels = [ids + [EOS_ID] for ids in target_ids]
    examples = list(zip(source_ids, decoder_inputs, labels, strict=True))

    def generate():
        for source, decoder_input, label in examples:
            yield (source, decoder_input), label

    sequence = tf.TensorSpec([None], tf.int32)
    dataset = tf.data.Dataset.from_generator(
        generate, output_signature=((sequence, sequence), sequence)
    )
    # Cached so the generator runs once; shuffling happens after the cache.
    dataset = dataset.cache()
    if shuffle:
        dataset = dataset.shuffle(
            len(source_ids), seed=seed, reshuffle_each_iteration=True
        )
    dataset = dataset.bucket_by_sequence_length(
        lambda inputs, labels: tf.maximum(tf.shape(inputs[0])[0], tf.shape(labels)[0]),
        bucket_boundaries=list(BUCKET_BOUNDARIES),
        bucket_batch_sizes=bucket_batch_sizes(batch_size, batch_tokens),
    )
    return dataset.prefetch(tf.data.AUTOTUNE)
