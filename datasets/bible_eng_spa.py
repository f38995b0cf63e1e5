"""English->Spanish Bible verses: World English Bible -> Reina-Valera 1909.

Both translations are public domain and packaged by Debian as SWORD modules:
`sword-text-web` (module `engWEB2015eb`, NRSVA versification, with the
Deuterocanon) and `sword-text-sparv` (module `spaRV1909eb`, KJV
versification). `mod2imp` from `libsword-utils` exports a module's raw OSIS
text one verse at a time (`$$$Genesis 1:1` then the verse's markup); the
builder parses both exports, aligns verses by book, chapter and verse number,
drops verses present on one side only (the Deuterocanon, versification
differences) and strips the markup: Strong's numbers (`<w lemma=...>`),
footnotes and cross references (`<note>`, with their text), section headings
and speaker labels (non-canonical `<title>`, `<speaker>`), red-letter quotes,
poetry lines and paragraph milestones (tags only), stray spacing. Canonical
psalm titles ("A Psalm by David.") are kept: the Reina-Valera prints them as
part of verse 1. The Reina-Valera's capitalized chapter openings ("Y FUERON
acabados") are lowercased ("Y fueron acabados").

The aligned verses ship as `bible_eng_spa.tsv.gz` (`english TAB spanish TAB
reference` lines, canonical order; provenance and public-domain statements in
`LICENSES/bible-eng-spa.md`), so the demo needs neither the packages nor
root. Rebuild it with `python -m lstm_keras_datasets.bible_eng_spa` when the
packages are installed.

Example:

    from lstm_keras_datasets import bible_eng_spa
    pairs = bible_eng_spa.load()  # [(english, spanish), ...]
    rows = bible_eng_spa.load_with_references()  # [(english, spanish, "John 3:16")]
"""

from __future__ import annotations

import argparse
import gzip
import html
import importlib.resources
import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Iterator

ENGLISH_MODULE = "engWEB2015eb"
SPANISH_MODULE = "spaRV1909eb"
DEBIAN_PACKAGES = ("libsword-utils", "sword-text-web", "sword-text-sparv")
CORPUS_FILE = "bible_eng_spa.tsv.gz"
# Verse pairs the shipped file holds; `tests/datasets` checks it.
CORPUS_PAIRS = 31077

_VERSE_KEY = re.compile(r"^\$\$\$(.+) (\d+):(\d+)$")
# Elements dropped with their text: notes (footnotes, cross references),
# headings that are not part of the text, speaker labels (Song of Songs).
_NOTE = re.compile(r"<note\b[^>]*>.*?</note>", re.S)
_HEADING = re.compile(r"<title\b(?![^>]*canonical=\"true\")[^>]*>.*?</title>", re.S)
_SPEAKER = re.compile(r"<speaker\b[^>]*>.*?</speaker>", re.S)
# Structural tags between words become a space; inline tags (words with
# Strong's numbers, quotes, added words) vanish without one.
_BREAK_TAG = re.compile(r"</?(?:l|lg|lb|div|milestone|p|chapter|list|item)\b[^>]*>")
_TAG = re.compile(r"<[^<>]*>")
_SPACE_BEFORE = re.compile(r"\s+([,.;:!?\u201d\u2019\u00bb)\]])")
_SPACE_AFTER = re.compile(r"([\u201c\u2018\u00ab\u00bf\u00a1(\[])\s+")


def read_module(module: str, mod2imp: str | None = None) -> Iterator[tuple]:
    """Yields `(book, chapter, verse, raw_markup)` from `mod2imp MODULE`."""
    program = shutil.which(mod2imp or "mod2imp")
    if program is None:
        raise FileNotFoundError(
            "mod2imp not found: install the Debian packages "
            f"{' '.join(DEBIAN_PACKAGES)} (apt-get install {' '.join(DEBIAN_PACKAGES)})"
        )
    result = subprocess.run(
        [program, module], capture_output=True, text=True, check=False
    )
    if result.returncode != 0 or not result.stdout.startswith("$$$"):
        raise FileNotFoundError(
            f"SWORD module {module} not found by mod2imp: install the Debian "
            f"packages {' '.join(DEBIAN_PACKAGES)}"
        )
    yield from parse_imp(result.stdout)


def parse_imp(text: str) -> Iterator[tuple[str, int, int, str]]:
    """Parses mod2imp's format; skips module, book and chapter headings (verse 0)."""
    key, lines = None, []
    for line in text.split("\n") + ["$$$[end]"]:
        if line.startswith("$$$"):
            if key is not None and key[1] > 0 and key[2] > 0:
                yield (*key, "\n".join(lines))
            match = _VERSE_KEY.match(line)
            key = (match[1], int(match[2]), int(match[3])) if match else None
            lines = []
        else:
            lines.append(line)


def strip_markup(markup: str, verse: int = 0) -> str:
    """OSIS verse markup -> plain text (see the module docstring)."""
    text = _SPEAKER.sub(" ", _HEADING.sub(" ", _NOTE.sub(" ", markup)))
    text = _TAG.sub("", _BREAK_TAG.sub(" ", text))
    text = " ".join(html.unescape(text).split())
    text = _SPACE_AFTER.sub(r"\1", _SPACE_BEFORE.sub(r"\1", text))
    if verse == 1:
        text = _lower_capital_opening(text)
    return text


def _lower_capital_opening(text: str) -> str:
    # The Reina-Valera opens each chapter in capitals: "Y FUERON acabados".
    words = text.split(" ")
    count = 0
    while count < len(words) and words[count].isupper():
        count += 1
    if not any(sum(c.isalpha() for c in word) > 1 for word in words[:count]):
        return text  # "Y" or "A": an ordinary capital
    opening = " ".join(words[:count])
    start = next(i for i, c in enumerate(opening) if c.isalpha())
    lowered = opening[: start + 1] + opening[start + 1 :].lower()
    return " ".join([lowered, *words[count:]])


def align(english: Iterable[tuple], spanish: Iterable[tuple]) -> list[tuple]:
    """`(english, spanish, "Book C:V")` for verses in both, in English order.

    Verses missing or empty on either side are dropped.
    """
    spanish_text = {
        (book, chapter, verse): strip_markup(markup, verse)
        for book, chapter, verse, markup in spanish
    }
    rows = []
    for book, chapter, verse, markup in english:
        other = spanish_text.get((book, chapter, verse))
        text = strip_markup(markup, verse)
        if other and text:
            rows.append((text, other, f"{book} {chapter}:{verse}"))
    return rows


def build(mod2imp: str | None = None) -> list[tuple[str, str, str]]:
    """Reads both installed modules and returns the aligned verse rows."""
    return align(
        read_module(ENGLISH_MODULE, mod2imp), read_module(SPANISH_MODULE, mod2imp)
    )


def write_tsv_gz(rows: Iterable[tuple[str, ...]], path: str) -> None:
    # mtime=0: the same rows give the same bytes.
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
        for row in rows:
            f.write(("\t".join(row) + "\n").encode("utf-8"))


def load_with_references() -> list[tuple[str, str, str]]:
    """The shipped verses: `(english, spanish, reference)`."""
    resource = importlib.resources.files(__package__).joinpath(CORPUS_FILE)
    with resource.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as file:
        return [tuple(line.rstrip("\n").split("\t")) for line in file]


def load() -> list[tuple[str, str]]:
    """The shipped verses as `(english, spanish)` pairs."""
    return [(english, spanish) for english, spanish, _ in load_with_references()]


def main(argv: list[str] | None = None) -> None:
    """Rebuilds the shipped TSV from the installed SWORD modules."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--output-dir", help="where to write the TSV (default: this package)"
    )
    args = parser.parse_args(argv)
    folder = args.output_dir or str(importlib.resources.files(__package__))
    rows = build()
    path = os.path.join(folder, CORPUS_FILE)
    write_tsv_gz(rows, path)
    print(f"{len(rows)} verse pairs -> {path}")


if __name__ == "__main__":
    main()
