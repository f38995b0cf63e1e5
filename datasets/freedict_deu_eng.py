"""German->English example sentences from the FreeDict German-English dictionary.

The Debian package `dict-freedict-deu-eng` ships the Ding/FreeDict dictionary
in dictd format: an index (`headword TAB offset TAB length`, base64 numbers)
and a dictzip (gzip-compatible) file of entries. Most entries are words and
phrases; about 11k have a German sentence as headword and its human English
translation as first definition line. `extract_pairs` keeps those, cleaning
dictionary markup (part-of-speech tags, region labels, optional parts, listed
alternatives).

Entries also quote usage examples on indented lines,
`"German sentence."  - English sentence.`: about 37k more pairs, sentences and
phrases, that are not headwords. `extract_examples` keeps those as extra
training data (`load_examples`), each marked `sentence` or `phrase`.

The extracted pairs ship as `freedict_deu_eng.tsv.gz` and
`freedict_deu_eng_examples.tsv.gz` (GPL, see `LICENSES/freedict-deu-eng.md`),
so the demo needs neither the package nor root. Rebuild them with
`python -m lstm_keras_datasets.freedict_deu_eng` when the package is installed.

Example:

    from lstm_keras_datasets import freedict_deu_eng
    pairs = freedict_deu_eng.load()  # [(german, english), ...]
    extra = freedict_deu_eng.load_examples()  # [(german, english, kind), ...]
"""

from __future__ import annotations

import argparse
import gzip
import importlib.resources
import os
import re
from collections.abc import Iterable, Iterator

DICT_PATH = "/usr/share/dictd/freedict-deu-eng.dict.dz"
INDEX_PATH = "/usr/share/dictd/freedict-deu-eng.index"
CORPUS_FILE = "freedict_deu_eng.tsv.gz"
EXAMPLES_FILE = "freedict_deu_eng_examples.tsv.gz"
# Pairs the shipped files hold; `tests/datasets` checks them.
CORPUS_PAIRS = 10638
EXAMPLE_PAIRS = {"sentence": 6718, "phrase": 25978}

_BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
# Headword line: text, optional /IPA/ pronunciation, optional <pos> tag.
_HEADWORD = re.compile(r"^(.*?)(?:\s+/[^/]*/)?(?:\s+<[^>]*>)*\s*$")
_SENTENCE_END = re.compile(r"[.!?][\"'\u201d\u2019]?$")
# Dictionary placeholders mark phrases, not sentences.
_PLACEHOLDERS = re.compile(r"\b(?:etw|jdm|jdn|jds|jd|sth|sb|sb's)\.")
# English alternatives are listed after the first sentence: "A!, B."
_ALTERNATIVE_SPLIT = re.compile(r"(?<=[.!?])\s*,\s+(?=\S)")
_LABEL = re.compile(r"\s*\[[^\]]*\]")  # [Br.], [coll.], [fig.] ...
_POS_TAG = re.compile(r"\s*<[^>]*>")  # <int>, <v>, <n> ...
_OPTIONAL = re.compile(r"\s*\([^()]*\)")  # optional words: "ensure (that)"
_WORD_ALTERNATIVE = re.compile(r"([\w'-]+)(?:/[\w'-]+)+")  # "about/around"
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,.!?;:])")
# A quoted usage example on an indented line: `  "Deutsch."  - English.`
_EXAMPLE = re.compile(r'^\s+"(.+)"\s+-\s+(.+?)\s*$')


def decode_base64_number(text: str) -> int:
    """Decodes a dictd index number (base64 digits, most significant first)."""
    value = 0
    for character in text:
        digit = _BASE64.find(character)
        if digit < 0:
            raise ValueError(f"Invalid dictd base64 number: {text!r}")
        value = value * 64 + digit
    return value


def read_entries(dict_bytes: bytes, index_lines: Iterable[str]) -> Iterator[str]:
    """Yields each distinct dictionary entry text once, in index order."""
    seen = set()
    for line in index_lines:
        fields = line.rstrip("\n").split("\t")
        if len(fields) != 3:
            continue
        span = (decode_base64_number(fields[1]), decode_base64_number(fields[2]))
        if span in seen:
            continue
        seen.add(span)
        start, length = span
        yield dict_bytes[start : start + length].decode("utf-8")


def _clean_text(text: str) -> str:
    text = _POS_TAG.sub("", _LABEL.sub("", text))
    # Parentheses may nest once: "(a (b))"; remove inner first.
    for _ in range(2):
        text = _OPTIONAL.sub("", text)
    text = _WORD_ALTERNATIVE.sub(r"\1", text)
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", " ".join(text.split()))
    return text.strip()


def _is_sentence(text: str) -> bool:
    return (
        len(text.split()) >= 2
        and text[:1].isupper()
        and bool(_SENTENCE_END.search(text))
        and not _PLACEHOLDERS.search(text)
        and not any(mark in text for mark in ("/", "…", "...", "(", ")", "<", ">"))
    )


def parse_entry(entry: str) -> tuple[str, str] | None:
    """Returns (german, english) when the entry is an example sentence, else None.

    The first line is the German headword; the following unindented lines are
    translations (indented lines are synonyms, notes and cross references).
    """
    lines = entry.split("\n")
    match = _HEADWORD.match(lines[0])
    german_raw = match.group(1).strip() if match else ""
    # Sentences only: at least three words in the raw headword, capitalized.
    if len(german_raw.split()) < 3 or "/" in german_raw:
        return None
    translation = []
    for line in lines[1:]:
        if not line.strip() or line[0].isspace():
            break
        translation.append(line.strip())
    if not translation:
        return None
    # Labels first: "go! [Br.] , Ready, set, go!" hides the alternatives' comma.
    english_all = _POS_TAG.sub("", _LABEL.sub("", " ".join(translation)))
    english_raw = _ALTERNATIVE_SPLIT.split(english_all)[0]
    if " / " in english_raw:  # whole-phrase alternatives: no single reading
        return None
    german, english = _clean_text(german_raw), _clean_text(english_raw)
    if not (_is_sentence(german) and _is_sentence(english)):
        return None
    return german, english


def parse_examples(entry: str) -> list[tuple[str, str, str]]:
    """Returns the entry's usage examples as (german, english, kind) triples.

    `kind` is `sentence` when both sides pass the sentence test the headword
    corpus uses, else `phrase`. Phrases keep the first listed English
    alternative; phrases with placeholders (`jdm.`, `sth.`) or leftover
    alternatives and ellipses are dropped: they never occur in real sentences.
    """
    examples = []
    for line in entry.split("\n")[1:]:
        match = _EXAMPLE.match(line)
        if not match:
            continue
        english_all = _POS_TAG.sub("", _LABEL.sub("", match.group(2)))
        english_raw = _ALTERNATIVE_SPLIT.split(english_all)[0]
        german, english = _clean_text(match.group(1)), _clean_text(english_raw)
        if _is_sentence(german) and _is_sentence(english):
            examples.append((german, english, "sentence"))
            continue
        if "," not in german:  # else the comma may belong to the phrase
            english = english.split(", ")[0]
        text = german + " " + english
        if (
            german
            and english
            and not _PLACEHOLDERS.search(text)
            and not any(mark in text for mark in ("/", "…", "...", "(", ")", "<"))
        ):
            examples.append((german, english, "phrase"))
    return examples


def extract_examples(dict_bytes: bytes, index_lines: Iterable[str]) -> list[tuple]:
    """All usage examples, in index order, exact duplicate pairs kept once."""
    examples, seen = [], set()
    for entry in read_entries(dict_bytes, index_lines):
        for example in parse_examples(entry):
            if example[:2] not in seen:
                seen.add(example[:2])
                examples.append(example)
    return examples


def extract_pairs(dict_bytes: bytes, index_lines: Iterable[str]) -> list[tuple]:
    """All example sentence pairs, in index order, exact duplicates kept once."""
    pairs, seen = [], set()
    for entry in read_entries(dict_bytes, index_lines):
        pair = parse_entry(entry)
        if pair is not None and pair not in seen:
            seen.add(pair)
            pairs.append(pair)
    return pairs


def build(
    dict_path: str = DICT_PATH, index_path: str = INDEX_PATH
) -> list[tuple[str, str]]:
    """Extracts the sentence pairs from the installed Debian package's files."""
    return extract_pairs(*_read_package(dict_path, index_path))


def build_examples(
    dict_path: str = DICT_PATH, index_path: str = INDEX_PATH
) -> list[tuple[str, str, str]]:
    """Extracts the usage examples from the installed Debian package's files."""
    return extract_examples(*_read_package(dict_path, index_path))


def _read_package(dict_path: str, index_path: str) -> tuple[bytes, list[str]]:
    try:
        with gzip.open(dict_path, "rb") as file:
            dict_bytes = file.read()
        with open(index_path, encoding="utf-8") as file:
            index_lines = file.readlines()
    except FileNotFoundError as error:
        raise FileNotFoundError(
            f"FreeDict dictionary not found ({error.filename}); install it with "
            "`apt-get install -y dict-freedict-deu-eng`."
        ) from None
    return dict_bytes, index_lines


def write_tsv_gz(rows: Iterable[tuple[str, ...]], path: str) -> None:
    """Writes rows as gzip-compressed UTF-8 tab-separated lines."""
    # mtime=0 keeps the file byte-identical between rebuilds.
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as z:
        for row in rows:
            z.write(("\t".join(row) + "\n").encode())


def _read_shipped(name: str) -> list[tuple[str, ...]]:
    resource = importlib.resources.files(__package__).joinpath(name)
    with resource.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as text:
        return [tuple(line.rstrip("\n").split("\t")) for line in text]


def load() -> list[tuple[str, str]]:
    """Reads the shipped corpus: a list of (german, english) pairs."""
    return _read_shipped(CORPUS_FILE)


def load_examples(kinds: Iterable[str] = ("sentence", "phrase")) -> list[tuple]:
    """Reads the shipped usage examples of the given kinds: (german, english, kind)."""
    kinds = tuple(kinds)
    unknown = set(kinds) - set(EXAMPLE_PAIRS)
    if unknown:
        raise ValueError(
            f"Unknown example kind {sorted(unknown)[0]!r}; expected one of "
            f"{', '.join(EXAMPLE_PAIRS)}."
        )
    return [row for row in _read_shipped(EXAMPLES_FILE) if row[2] in kinds]


def main(argv: list[str] | None = None) -> None:
    """Rebuilds the shipped files from the installed Debian package."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--output-dir", default=None, help="folder to write both TSV.gz files to"
    )
    args = parser.parse_args(argv)
    folder = args.output_dir or str(importlib.resources.files(__package__))
    package = _read_package(DICT_PATH, INDEX_PATH)
    pairs, examples = extract_pairs(*package), extract_examples(*package)
    write_tsv_gz(pairs, os.path.join(folder, CORPUS_FILE))
    write_tsv_gz(examples, os.path.join(folder, EXAMPLES_FILE))
    print(
        f"Wrote {len(pairs)} sentence pairs and {len(examples)} usage examples "
        f"to {folder}"
    )


if __name__ == "__main__":
    main()
