"""German->English example sentences from the FreeDict German-English dictionary.

The Debian package `dict-freedict-deu-eng` ships the Ding/FreeDict dictionary
in dictd format: an index (`headword TAB offset TAB length`, base64 numbers)
and a dictzip (gzip-compatible) file of entries. Most entries are words and
phrases; about 11k have a German sentence as headword and its human English
translation as first definition line. `extract_pairs` keeps those, cleaning
dictionary markup (part-of-speech tags, region labels, optional parts, listed
alternatives).

The extracted corpus ships as `freedict_deu_eng.tsv.gz` (GPL, see
`LICENSES/freedict-deu-eng.md`), so the demo needs neither the package nor
root. Rebuild it with `python -m lstm_keras_datasets.freedict_deu_eng` when the
package is installed.

Example:

    from lstm_keras_datasets import freedict_deu_eng
    pairs = freedict_deu_eng.load()  # [(german, english), ...]
"""

from __future__ import annotations

import argparse
import gzip
import importlib.resources
import re
from collections.abc import Iterable, Iterator

DICT_PATH = "/usr/share/dictd/freedict-deu-eng.dict.dz"
INDEX_PATH = "/usr/share/dictd/freedict-deu-eng.index"
CORPUS_FILE = "freedict_deu_eng.tsv.gz"
# Pairs the shipped file holds; `tests/datasets` checks it.
CORPUS_PAIRS = 10638

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
    """Extracts the pairs from the installed Debian package's files."""
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
    return extract_pairs(dict_bytes, index_lines)


def write_tsv_gz(pairs: Iterable[tuple[str, str]], path: str) -> None:
    """Writes pairs as gzip-compressed UTF-8 `german TAB english` lines."""
    # mtime=0 keeps the file byte-identical between rebuilds.
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as z:
        for german, english in pairs:
            z.write(f"{german}\t{english}\n".encode())


def load() -> list[tuple[str, str]]:
    """Reads the shipped corpus: a list of (german, english) pairs."""
    resource = importlib.resources.files(__package__).joinpath(CORPUS_FILE)
    with resource.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as text:
        return [tuple(line.rstrip("\n").split("\t")) for line in text]


def main(argv: list[str] | None = None) -> None:
    """Rebuilds the shipped corpus from the installed Debian package."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=None, help="TSV.gz to write")
    args = parser.parse_args(argv)
    pairs = build()
    output = args.output or str(
        importlib.resources.files(__package__).joinpath(CORPUS_FILE)
    )
    write_tsv_gz(pairs, output)
    print(f"Wrote {len(pairs)} sentence pairs to {output}")


if __name__ == "__main__":
    main()
