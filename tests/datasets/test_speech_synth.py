"""The synthetic Speech Commands corpus: layout, audio format, voice split, cache."""

import csv
import dataclasses
import hashlib
import json
import pathlib
import shutil

import numpy as np
import pytest
import scipy.signal
import soundfile
from lstm_keras_datasets import speech_real, speech_synth

TINY = speech_synth.SynthConfig(
    words=("yes", "no"),
    unknown_words=("cat", "dog", "yes"),  # "yes" is a command: dropped from the pool
    num_speakers=8,
    engines=("espeak",),
    real_unknown=0,
    repeats=2,
    unknown_per_speaker=1,
    validation_fraction=0.25,
    test_fraction=0.25,
    background_seconds=2,
)
# Every engine, real negatives and babble, rooms and channels on every clip.
MIXED = speech_synth.SynthConfig(
    words=("left",),
    unknown_words=("cat",),
    num_speakers=3,
    flite_speakers=5,
    piper_speakers=2,
    real_unknown=4,
    repeats=1,
    unknown_per_speaker=0,
    room_probability=1.0,
    telephone_probability=0.5,
    microphone_probability=0.5,
    background_seconds=2,
)
needs_debian = pytest.mark.skipif(
    shutil.which("flite") is None
    or set(speech_real.installed_packages()) != set(speech_real.PACKAGES),
    reason="needs Debian flite, alsa-utils, ktuberling-data, klettres-data, "
    "saytime (make system-packages)",
)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    cache = tmp_path_factory.mktemp("speech_synth")
    return speech_synth.build(TINY, cache_dir=cache, workers=2, progress=False)


def _speakers(root):
    with open(root / "speakers.tsv") as table:
        return {row["speaker"]: row for row in csv.DictReader(table, delimiter="\t")}


def _split_of(root):
    validation = set((root / "validation_list.txt").read_text().split())
    testing = set((root / "testing_list.txt").read_text().split())
    splits = {}
    for path in sorted(root.glob("*/*.wav")):
        if path.parent.name == "_background_noise_":
            continue
        relative = f"{path.parent.name}/{path.name}"
        splits[relative] = (
            "test" if relative in testing else "validation" if relative in validation
            else "train"
        )  # fmt: skip
    return splits


def test_build_writes_the_speech_commands_layout(corpus):
    folders = {p.name for p in corpus.iterdir() if p.is_dir()}
    assert folders == {"yes", "no", "cat", "dog", "_background_noise_"}
    for name in ("validation_list.txt", "testing_list.txt", "speakers.tsv"):
        assert (corpus / name).is_file()
    assert speech_synth.is_complete(corpus)
    noise = sorted(p.name for p in (corpus / "_background_noise_").glob("*.wav"))
    assert noise == sorted(f"{kind}_noise.wav" for kind in speech_synth.NOISE_KINDS)
    # Every speaker says each command word `repeats` times.
    assert len(list((corpus / "yes").glob("*.wav"))) == TINY.num_speakers * TINY.repeats
    names = [p.name for p in corpus.glob("yes/*.wav")]
    assert all("_nohash_" in name for name in names)


def test_clips_are_one_second_16khz_mono_pcm16_with_speech(corpus):
    paths = [p for p in corpus.glob("*/*.wav") if p.parent.name != "_background_noise_"]
    assert len(paths) == TINY.num_speakers * (2 * TINY.repeats + 1)
    for path in paths:
        info = soundfile.info(str(path))
        assert (info.samplerate, info.channels, info.frames) == (16000, 1, 16000)
        assert info.subtype == "PCM_16"
        samples, _ = soundfile.read(str(path))
        assert 0.05 < np.abs(samples).max() <= 0.91
        assert np.sqrt(np.mean(samples**2)) > 0.005


def test_test_and_validation_voices_never_occur_in_training(corpus):
    speakers = _speakers(corpus)
    splits = _split_of(corpus)
    voices = {"train": set(), "validation": set(), "test": set()}
    for relative, split in splits.items():
        speaker = speakers[relative.split("/")[1].split("_nohash_")[0]]
        assert speaker["split"] == split, relative
        voices[split].add(speaker["voice"])
    assert all(voices.values())
    assert not voices["train"] & voices["test"]
    assert not voices["train"] & voices["validation"]
    assert not voices["validation"] & voices["test"]
    # One speaker is one voice: no voice under two speaker hashes.
    all_voices = [row["voice"] for row in speakers.values()]
    assert len(all_voices) == len(set(all_voices)) == TINY.num_speakers


@needs_debian
def test_every_engine_speaks_and_only_espeak_voices_are_held_out(tmp_path):
    root = speech_synth.build(MIXED, cache_dir=tmp_path, workers=2, progress=False)
    speakers = _speakers(root)
    engines = {row["engine"] for row in speakers.values()}
    assert engines == {"espeak", "flite", "piper"}
    # flite's five voices each once; all flite and Piper speakers train.
    flite = [row for row in speakers.values() if row["engine"] == "flite"]
    assert {row["voice"] for row in flite} == {
        f"flite+{voice}" for voice in speech_synth.FLITE_VOICES
    }
    splits = _split_of(root)
    for relative, split in splits.items():
        if relative.startswith(speech_synth.REAL_FOLDER + "/"):
            assert split == "train"  # real negatives never validate or test
            continue
        speaker = speakers[relative.split("/")[1].split("_nohash_")[0]]
        assert speaker["split"] == split
        if speaker["engine"] != "espeak":
            assert split == "train"
    real = sorted((root / speech_synth.REAL_FOLDER).glob("*.wav"))
    assert len(real) == MIXED.real_unknown
    # Real negatives are other languages, never the held-out English ones.
    assert not any(p.name.startswith(("en-", "en_GB-")) for p in real)
    assert (root / "_background_noise_" / speech_synth.BABBLE_FILE).is_file()
    for path in real + sorted(root.glob("left/*.wav")):
        samples, rate = soundfile.read(str(path))
        assert rate == 16000 and samples.shape == (16000,)
        assert np.sqrt(np.mean(samples**2)) > 0.005


def test_real_negatives_skip_command_words_and_fail_clearly_when_missing(
    monkeypatch,
):
    monkeypatch.setattr(speech_real, "recordings", lambda: [])
    with pytest.raises(RuntimeError, match="real_unknown"):
        speech_synth.real_negatives(MIXED)
    recordings = [
        speech_real.Recording("a.ogg", "no", "es", "klettres-data"),
        speech_real.Recording("b.ogg", "gato", "es", "ktuberling-data"),
        speech_real.Recording("c.ogg", "hat", "en", "ktuberling-data"),
    ]
    monkeypatch.setattr(speech_real, "recordings", lambda: recordings)
    config = speech_synth.SynthConfig(words=("no",), real_unknown=10)
    assert [r.word for r in speech_synth.real_negatives(config)] == ["gato"]


def test_build_reuses_a_completed_corpus(corpus):
    before = {p: p.stat().st_mtime_ns for p in corpus.glob("yes/*.wav")}
    again = speech_synth.build(TINY, cache_dir=corpus.parent, progress=False)
    assert again == corpus
    assert {p: p.stat().st_mtime_ns for p in corpus.glob("yes/*.wav")} == before


def test_build_replaces_an_unfinished_corpus(tmp_path):
    config = speech_synth.SynthConfig(
        words=("go",), unknown_words=("up",), num_speakers=3, repeats=1,
        unknown_per_speaker=0, background_seconds=1, engines=("espeak",),
        real_unknown=0,
    )  # fmt: skip
    stale = tmp_path / config.cache_key()
    (stale / "go").mkdir(parents=True)
    (stale / "go" / "partial.wav").write_bytes(b"RIFF")
    root = speech_synth.build(config, cache_dir=tmp_path, workers=1, progress=False)
    assert root == stale and speech_synth.is_complete(root)
    assert not (root / "go" / "partial.wav").exists()
    assert len(list(root.glob("go/*.wav"))) == 3


def test_cache_key_changes_with_the_config():
    other = speech_synth.SynthConfig(words=("yes", "no"), num_speakers=9)
    assert TINY.cache_key() != other.cache_key()
    assert TINY.cache_key() == speech_synth.SynthConfig(**TINY.__dict__).cache_key()


def test_cache_key_of_a_later_field_counts_only_when_set():
    # A config leaving `level` at its default keys as before it existed.
    fields = {"version": speech_synth.GENERATOR_VERSION, **dataclasses.asdict(TINY)}
    del fields["level"]
    payload = json.dumps(fields, sort_keys=True).encode()
    assert TINY.cache_key() == hashlib.sha1(payload).hexdigest()[:12]
    assert dataclasses.replace(TINY, level=(0.5, 0.5)).cache_key() != TINY.cache_key()


DRY = dict(room_probability=0.0, telephone_probability=0.0, microphone_probability=0.0)


def test_fixed_level_and_no_noise_record_clean_clips_at_that_peak():
    config = dataclasses.replace(TINY, level=(0.5, 0.5), noise_probability=0.0, **DRY)
    speech = np.sin(np.linspace(0, 200 * np.pi, 8000))
    rng = np.random.default_rng(0)
    for _ in range(5):
        clip = speech_synth._record(speech, rng, config, None, training=True)
        assert np.abs(clip).max() == pytest.approx(0.5, rel=1e-6)
        # Nothing but the placed speech: zeros outside it.
        assert np.count_nonzero(clip) <= speech.size


def test_test_clips_get_the_test_noise_whatever_the_training_noise():
    config = dataclasses.replace(TINY, noise_probability=0.0, snr_db=(60.0, 60.0))
    speech = np.sin(np.linspace(0, 200 * np.pi, 8000))
    rng = np.random.default_rng(0)
    clips = [
        speech_synth._record(speech, rng, config, None, training=False)
        for _ in range(40)
    ]
    noisy = np.mean([np.count_nonzero(c) > speech.size for c in clips])
    assert noisy == pytest.approx(speech_synth.TEST_NOISE_PROBABILITY, abs=0.2)
    assert config.cache_key() != dataclasses.replace(TINY).cache_key()


def test_training_noise_has_the_configured_snr(monkeypatch):
    def white(kind, num_samples, rng):
        noise = rng.standard_normal(num_samples)
        return (noise / np.sqrt(np.mean(noise**2))).astype(np.float32)

    monkeypatch.setattr(speech_synth, "make_noise", white)
    config = dataclasses.replace(
        TINY, noise_probability=1.0, snr_db=(20.0, 20.0), **DRY
    )
    speech = np.sin(np.linspace(0, 800 * np.pi, 8000))
    rng = np.random.default_rng(1)
    for _ in range(3):
        clip = speech_synth._record(speech, rng, config, None, training=True)
        # Find the speech by its sine: the loudest half-second window.
        energy = np.convolve(
            clip.astype(np.float64) ** 2, np.ones(speech.size), "valid"
        )
        start = int(np.argmax(energy))
        inside = clip[start : start + speech.size]
        outside = np.concatenate([clip[:start], clip[start + speech.size :]])
        noise_power = np.mean(outside.astype(np.float64) ** 2)
        speech_power = np.mean(inside.astype(np.float64) ** 2) - noise_power
        assert 10 * np.log10(speech_power / noise_power) == pytest.approx(20, abs=0.5)


def _spectral_slope(noise):
    frequencies, power = scipy.signal.welch(noise, fs=16000, nperseg=4096)
    band = (frequencies > 50) & (frequencies < 4000)
    return np.polyfit(np.log(frequencies[band]), np.log(power[band]), 1)[0]


@pytest.mark.parametrize(
    ("kind", "slope"), [("white", 0.0), ("pink", -1.0), ("brown", -2.0)]
)
def test_noise_has_the_named_spectrum(kind, slope):
    noise = speech_synth.make_noise(kind, 16000 * 8, np.random.default_rng(0))
    assert np.sqrt(np.mean(noise**2)) == pytest.approx(1.0, rel=1e-3)
    assert _spectral_slope(noise) == pytest.approx(slope, abs=0.15)


def test_hum_peaks_at_the_mains_frequency():
    noise = speech_synth.make_noise("hum", 16000 * 4, np.random.default_rng(1))
    spectrum = np.abs(np.fft.rfft(noise))
    peak_hertz = np.argmax(spectrum) * 16000 / noise.size
    assert min(abs(peak_hertz - 50), abs(peak_hertz - 60)) < 1


def test_the_corpus_is_a_pure_function_of_its_config(tmp_path):
    # Two clips per speaker of eSpeak NG and Piper, whose engines keep state
    # from one utterance to the next: generated speaker after speaker in this
    # process, and by two worker processes sharing the speakers out.
    config = dataclasses.replace(
        MIXED, engines=("espeak", "piper"), real_unknown=0, repeats=2,
        room_probability=0.0, telephone_probability=0.0,
        microphone_probability=0.0,
    )  # fmt: skip
    one = speech_synth.build(config, cache_dir=tmp_path / "one", workers=1)
    two = speech_synth.build(config, cache_dir=tmp_path / "two", workers=2)
    files = sorted(p.relative_to(one) for p in one.rglob("*.wav"))
    assert files == sorted(p.relative_to(two) for p in two.rglob("*.wav"))
    assert len([f for f in files if f.parent.name == "left"]) == 2 * (3 + 2)
    for relative in files:
        assert (one / relative).read_bytes() == (two / relative).read_bytes(), relative


@pytest.mark.parametrize(
    "kwargs",
    [{"words": ()}, {"words": ("yes", "yes")}, {"words": ("y3s",)}, {"num_speakers": 2},
     {"validation_fraction": 0.6, "test_fraction": 0.5}, {"engines": ("flite",)},
     {"engines": ("espeak", "sapi")}, {"speed": (1.2, 1.1)}, {"level": (0.5, 1.2)},
     {"level": (0.0, 0.5)}, {"noise_probability": 1.5}, {"snr_db": (30, 10)},
     {"telephone_probability": 0.7, "microphone_probability": 0.5}],
)  # fmt: skip
def test_config_rejects_bad_values(kwargs):
    with pytest.raises(ValueError):
        speech_synth.SynthConfig(**kwargs)


def test_default_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("LSTM_KERAS_DATA", str(tmp_path))
    assert speech_synth.default_cache_dir() == pathlib.Path(tmp_path) / "speech_synth"
