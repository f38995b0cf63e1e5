"""Tests for the FreeDict German-English sentence-pair builder and shipped corpus."""

import base64
import gzip
import importlib.resources
import os

import pytest
from lstm_keras_datasets import freedict_deu_eng

# Entries in the package's own format: headword line (/IPA/, <pos>), translation
# lines, then indented synonyms and cross references.
_ENTRIES = [
    "Kinder ahmen oft nach, was sie im Fernsehen sehen. /kˈɪndɜ/\n"
    "Children often copy what they see on television.\n"
    " see: {etw. nachmachen}\n",
    "etw. nachmachen /ˈɛtf/ <v, trans>\ncopy sth. <v>\n   Synonym: {etw.}\n",
    "Achtung, fertig, los!\nReady, steady, go! [Br.] , Ready, set, go! [Am.]\n",
    "Alles Gute fürs Studium / beim Studium!\nGood luck with your studies!\n",
    "Das ist etwas für mich.\nThat's right up/down my alley. [Am.]\n",
    "Aufgabe der Polizei ist es, das zu tun.\nThe police ensure (that) it is done.\n",
    "Das nenne ich …!\nTalk about …! [coll.]\n",
    "Haus /haʊs/ <n>\nhouse <n>\n",
    # Usage examples: quoted German, two spaces, dash, English.
    "ungeklärt /ˈʊnɡəklˌɛɾt/ <adj>\nunaccounted for <adj>\n"
    '      "Eine Stunde blieb ungeklärt."  - An hour was left unaccounted for.\n'
    '      "Er hat ein blaues Auge."  - He has a black eye. [Br.] , A shiner.\n'
    '      "auf dem rechten Weg"  - on the right track\n'
    '      "radioaktiver Niederschlag"  - fall-out <n>, local fall-out\n'
    '      "jdm. etw. geben"  - give sb. sth.\n'
    '      "Sie ist/war da."  - She is/was there.\n'
    " see: {unklar}\n",
]


def _dictd_number(value):
    digits = ""
    while True:
        digits = freedict_deu_eng._BASE64[value % 64] + digits
        value //= 64
        if value == 0:
            return digits


def _write_dictd(directory):
    body, index, offset = b"", [], 0
    for entry in _ENTRIES:
        data = entry.encode("utf-8")
        headword = entry.split("\n")[0].split(" /")[0]
        index.append(f"{headword}\t{_dictd_number(offset)}\t{_dictd_number(len(data))}")
        # A second headword pointing at the same entry must not duplicate it.
        index.append(
            f"x{headword}\t{_dictd_number(offset)}\t{_dictd_number(len(data))}"
        )
        body += data
        offset += len(data)
    dict_path = os.path.join(directory, "sample.dict.dz")
    index_path = os.path.join(directory, "sample.index")
    with gzip.open(dict_path, "wb") as file:
        file.write(body)
    with open(index_path, "w", encoding="utf-8") as file:
        file.write("\n".join(index) + "\n")
    return dict_path, index_path


def test_decode_base64_number_matches_positional_base64():
    assert freedict_deu_eng.decode_base64_number("A") == 0
    assert freedict_deu_eng.decode_base64_number("B0") == 64 + 52
    assert freedict_deu_eng.decode_base64_number("GHAt") == (
        ((6 * 64 + 7) * 64 + 0) * 64 + 45
    )
    # Same digits as standard base64 of 3 bytes: "GHAt" encodes bytes 0x18 0x70 0x2d.
    assert freedict_deu_eng.decode_base64_number("GHAt") == int.from_bytes(
        base64.b64decode("GHAt"), "big"
    )
    with pytest.raises(ValueError, match="base64"):
        freedict_deu_eng.decode_base64_number("A-")


def test_build_parses_sentences_and_cleans_markup(tmp_path):
    pairs = freedict_deu_eng.build(*_write_dictd(tmp_path))
    assert pairs == [
        (
            "Kinder ahmen oft nach, was sie im Fernsehen sehen.",
            "Children often copy what they see on television.",
        ),
        ("Achtung, fertig, los!", "Ready, steady, go!"),
        ("Das ist etwas für mich.", "That's right up my alley."),
        ("Aufgabe der Polizei ist es, das zu tun.", "The police ensure it is done."),
    ]


def test_build_examples_keeps_quoted_usage_examples(tmp_path):
    examples = freedict_deu_eng.build_examples(*_write_dictd(tmp_path))
    assert examples == [
        (
            "Eine Stunde blieb ungeklärt.",
            "An hour was left unaccounted for.",
            "sentence",
        ),
        ("Er hat ein blaues Auge.", "He has a black eye.", "sentence"),
        ("auf dem rechten Weg", "on the right track", "phrase"),
        ("radioaktiver Niederschlag", "fall-out", "phrase"),
        ("Sie ist da.", "She is there.", "sentence"),
    ]


def test_load_examples_filters_kinds_and_rejects_unknown_ones():
    sentences = freedict_deu_eng.load_examples(["sentence"])
    assert {kind for _, _, kind in sentences} == {"sentence"}
    with pytest.raises(ValueError, match="Unknown example kind 'word'"):
        freedict_deu_eng.load_examples(["sentence", "word"])


def test_shipped_examples_are_intact():
    examples = freedict_deu_eng.load_examples()
    counts = {kind: 0 for kind in freedict_deu_eng.EXAMPLE_PAIRS}
    for example in examples:
        assert len(example) == 3 and all(side.strip() == side for side in example)
        assert example[0] and example[1]
        counts[example[2]] += 1
    assert counts == freedict_deu_eng.EXAMPLE_PAIRS
    assert len({example[:2] for example in examples}) == len(examples)


def test_build_without_package_names_the_install_command(tmp_path):
    with pytest.raises(FileNotFoundError, match="apt-get install"):
        freedict_deu_eng.build(str(tmp_path / "no.dict.dz"), str(tmp_path / "no"))


def test_shipped_corpus_is_intact():
    pairs = freedict_deu_eng.load()
    assert len(pairs) == freedict_deu_eng.CORPUS_PAIRS
    assert len(set(pairs)) == len(pairs)
    for pair in pairs:
        assert len(pair) == 2 and all(side.strip() == side and side for side in pair)
        assert "\t" not in pair[0] + pair[1]
    assert (
        "Kinder ahmen oft nach, was sie im Fernsehen sehen.",
        "Children often copy what they see on television.",
    ) in pairs


def test_shipped_corpus_license_and_provenance_ship_beside_it():
    import importlib.resources

    licenses = importlib.resources.files("lstm_keras_datasets") / "LICENSES"
    assert "GNU GENERAL PUBLIC LICENSE" in (
        licenses / "freedict-deu-eng-GPL-3.0.txt"
    ).read_text(encoding="utf-8")
    provenance = (licenses / "freedict-deu-eng.md").read_text(encoding="utf-8")
    assert "dict-freedict-deu-eng" in provenance


@pytest.mark.skipif(
    not os.path.exists(freedict_deu_eng.DICT_PATH),
    reason="Debian package dict-freedict-deu-eng not installed",
)
def test_rebuild_from_package_reproduces_shipped_files(tmp_path):
    freedict_deu_eng.main(["--output-dir", str(tmp_path)])
    for name in (freedict_deu_eng.CORPUS_FILE, freedict_deu_eng.EXAMPLES_FILE):
        shipped = importlib.resources.files("lstm_keras_datasets") / name
        assert (tmp_path / name).read_bytes() == shipped.read_bytes(), name
