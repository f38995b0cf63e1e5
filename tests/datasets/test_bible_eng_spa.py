"""Tests for the English->Spanish Bible verse builder and shipped corpus."""
# The sample exports keep mod2imp's one line per verse.
# ruff: noqa: E501

import gzip
import os
import shutil
import stat

import pytest
from lstm_keras_datasets import bible_eng_spa

# mod2imp's raw export: module and chapter headings (verse 0), then verses in
# OSIS markup as the Debian modules hold it.
_ENGLISH = """$$$[ Module Heading ]

$$$Genesis 1:0
<chapter n="1" osisID="Gen.1" sID="Gen.1"/>
$$$Genesis 1:1
<w lemma="strong:H0430">In</w> <w lemma="strong:H0853">the</w> beginning, <w lemma="strong:H0430">God</w><note placement="foot"><reference type="annotateRef">1:1 </reference>The Hebrew word rendered “God” is “אֱלֹהִ֑ים”.</note><w lemma="strong:H1254">created</w> the heavens &amp; the earth.
$$$Psalms 3:1
<title canonical="true" type="psalm">A Psalm by David.</title> <lg sID="g1"/> <l level="1" sID="g2"/>Yahweh, how my adversaries have increased!<l eID="g2" level="1"/> <l level="2" sID="g3"/>Many rise up against me. <l eID="g3" level="2"/>
$$$Matthew 5:3
<title type="main">The Beatitudes</title><q marker="" who="Jesus">“<w>Blessed</w> <w>are</w> the poor in spirit,</q> <note type="crossReference"><reference>Isaiah 57:15</reference></note>  <l eID="x"/>
$$$Tobit 1:1
The book of the words of Tobit.
$$$Song of Solomon 1:2
<speaker>Beloved</speaker> Let him kiss me<lb/>with the kisses of his mouth.
"""
_SPANISH = """$$$Genesis 1:1
<w lemma="strong:H7225">EN el principio</w> <w>crió</w> <w>Dios</w> los cielos y la tierra.
$$$Genesis 2:1
<w>Y FUERON</w> acabados los cielos.
$$$Psalms 3:1
Salmo de David. ¡Oh Jehová, cuánto se han multiplicado mis enemigos!
$$$Matthew 5:3
<w>Bienaventurados</w> los <transChange type="added">pobres</transChange> en espíritu :
$$$Song of Solomon 1:2
¡Oh si él me besara con ósculos de su boca!
"""


def test_parse_strip_and_align_by_reference():
    english = list(bible_eng_spa.parse_imp(_ENGLISH))
    assert [row[:3] for row in english] == [
        ("Genesis", 1, 1),
        ("Psalms", 3, 1),
        ("Matthew", 5, 3),
        ("Tobit", 1, 1),
        ("Song of Solomon", 1, 2),
    ]
    rows = bible_eng_spa.align(english, bible_eng_spa.parse_imp(_SPANISH))
    assert rows == [
        (
            "In the beginning, God created the heavens & the earth.",
            "En el principio crió Dios los cielos y la tierra.",
            "Genesis 1:1",
        ),
        (
            "A Psalm by David. Yahweh, how my adversaries have increased! "
            "Many rise up against me.",
            "Salmo de David. ¡Oh Jehová, cuánto se han multiplicado mis enemigos!",
            "Psalms 3:1",
        ),
        (
            "“Blessed are the poor in spirit,",
            "Bienaventurados los pobres en espíritu:",
            "Matthew 5:3",
        ),
        (
            "Let him kiss me with the kisses of his mouth.",
            "¡Oh si él me besara con ósculos de su boca!",
            "Song of Solomon 1:2",
        ),
    ]  # Tobit (English only) and Genesis 2:1 (Spanish only) are dropped


def test_capital_chapter_openings_are_lowercased():
    strip = bible_eng_spa.strip_markup
    assert strip("<w>Y FUERON</w> acabados", verse=1) == "Y fueron acabados"
    assert strip("¡OH Jehová", verse=1) == "¡Oh Jehová"
    assert strip("Y dijo Dios", verse=1) == "Y dijo Dios"
    assert strip("Y FUERON acabados", verse=2) == "Y FUERON acabados"


def test_missing_mod2imp_or_module_names_the_debian_packages(tmp_path):
    with pytest.raises(FileNotFoundError, match="sword-text-web sword-text-sparv"):
        list(bible_eng_spa.read_module("engWEB2015eb", str(tmp_path / "mod2imp")))
    fake = tmp_path / "fake-mod2imp"
    fake.write_text('#!/bin/sh\necho "Couldn\'t find module: $1" >&2\nexit 1\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    with pytest.raises(FileNotFoundError, match="SWORD module engWEB2015eb") as error:
        list(bible_eng_spa.read_module("engWEB2015eb", str(fake)))
    assert "\n" not in str(error.value)


def test_shipped_corpus():
    rows = bible_eng_spa.load_with_references()
    assert len(rows) == bible_eng_spa.CORPUS_PAIRS
    assert rows[0] == (
        "In the beginning, God created the heavens and the earth.",
        "En el principio crió Dios los cielos y la tierra.",
        "Genesis 1:1",
    )
    text = "".join(english + spanish for english, spanish, _ in rows)
    assert "<" not in text and "strong:" not in text and "  " not in text
    assert len({reference for _, _, reference in rows}) == len(rows)
    assert bible_eng_spa.load()[0] == rows[0][:2]


@pytest.mark.skipif(
    shutil.which("mod2imp") is None
    or not os.path.isdir("/usr/share/sword/modules/texts/ztext/engWEB2015eb")
    or not os.path.isdir("/usr/share/sword/modules/texts/ztext/spaRV1909eb"),
    reason="needs Debian's libsword-utils, sword-text-web and sword-text-sparv",
)
def test_rebuild_from_the_debian_packages_matches_the_shipped_file(tmp_path):
    bible_eng_spa.main(["--output-dir", str(tmp_path)])
    with gzip.open(tmp_path / bible_eng_spa.CORPUS_FILE, "rt", encoding="utf-8") as f:
        rebuilt = [tuple(line.rstrip("\n").split("\t")) for line in f]
    assert rebuilt == bible_eng_spa.load_with_references()
