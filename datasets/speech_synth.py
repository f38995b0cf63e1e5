"""A synthetic Speech Commands corpus spoken by eSpeak NG.

No package ships recordings of the command words, so the built-in speech data
is generated on the user's machine. `espeakng-loader` bundles the eSpeak NG
library and its voice data, loaded here with ctypes (no root, no compiler).

A *speaker* is one (accent, voice variant) pair, e.g. `en-gb-scotland+f3`,
with its own base speed, pitch, pitch range and loudness; every clip jitters
those a little. Speakers are split into train, validation and test, so the
test speakers are never heard in training (speaker-independent, like the real
dataset, whose file names carry a speaker hash before `_nohash_`).

The corpus is written once in the standard Speech Commands folder layout::

    ROOT/yes/3fa2c1d0_nohash_0.wav      # 16 kHz mono int16, exactly 1 s
    ROOT/<other words>/...               # the `_unknown_` pool
    ROOT/_background_noise_/*.wav        # white, pink, brown noise, mains hum
    ROOT/validation_list.txt             # relative paths, one a line
    ROOT/testing_list.txt
    ROOT/speakers.tsv                    # speaker hash -> voice and split
    ROOT/.complete                       # JSON of the config; marks a finished corpus

Example:

    root = speech_synth.build(speech_synth.SynthConfig(words=("yes", "no")))
"""

from __future__ import annotations

import ctypes
import dataclasses
import hashlib
import json
import multiprocessing
import os
import pathlib
import shutil
import tempfile

import numpy as np
import soundfile

SAMPLE_RATE = 16000
CLIP_SAMPLES = SAMPLE_RATE  # one second
COMPLETE_MARKER = ".complete"
# Bump when the generated audio changes, so stale caches are not re-used.
GENERATOR_VERSION = 1

COMMAND_WORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
# The other words of Speech Commands v2: the `_unknown_` pool.
OTHER_WORDS = (
    "backward", "bed", "bird", "cat", "dog", "eight", "five", "follow",
    "forward", "four", "happy", "house", "learn", "marvin", "nine", "one",
    "seven", "sheila", "six", "three", "tree", "two", "visual", "wow", "zero",
)  # fmt: skip
ENGLISH_ACCENTS = (
    "en-us", "en", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan",
    "en-gb-x-gbcwmd", "en-029", "en-us-nyc",
)  # fmt: skip
# `en` is eSpeak's British English. Other languages' voices reading English
# spelling give strong foreign accents.
FOREIGN_ACCENTS = ("de", "nl", "sv", "da", "nb", "fr", "es", "it", "pl", "cs")
NOISE_KINDS = ("white", "pink", "brown", "hum")

_ESPEAK_SAMPLE_RATE = 22050
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POSITION_CHARACTER = 1
_PARAMETER_RATE, _PARAMETER_VOLUME, _PARAMETER_PITCH, _PARAMETER_RANGE = 1, 2, 3, 4


@dataclasses.dataclass(frozen=True)
class SynthConfig:
    """What to generate; the cache key is derived from every field.

    Attributes:
        words: the command words (one folder each).
        unknown_words: other words, the `_unknown_` pool; words also in
            `words` are dropped from it.
        num_speakers: number of distinct (accent, variant) speakers.
        repeats: clips of each command word per speaker.
        unknown_per_speaker: clips of randomly chosen unknown words per speaker.
        foreign_fraction: share of speakers using a non-English voice.
        validation_fraction: share of speakers in the validation split.
        test_fraction: share of speakers in the test split.
        noise_probability: chance that a clip gets background noise mixed in.
        snr_db: (low, high) signal-to-noise ratio range for that noise.
        background_seconds: length of each `_background_noise_` file.
        seed: random seed; the corpus is a pure function of the config.
    """

    words: tuple[str, ...] = COMMAND_WORDS
    unknown_words: tuple[str, ...] = OTHER_WORDS
    num_speakers: int = 400
    repeats: int = 2
    unknown_per_speaker: int = 4
    foreign_fraction: float = 0.15
    validation_fraction: float = 0.1
    test_fraction: float = 0.1
    noise_probability: float = 0.8
    snr_db: tuple[float, float] = (5.0, 35.0)
    background_seconds: int = 60
    seed: int = 0

    def __post_init__(self):
        object.__setattr__(self, "words", tuple(self.words))
        object.__setattr__(self, "unknown_words", tuple(self.unknown_words))
        object.__setattr__(self, "snr_db", tuple(float(v) for v in self.snr_db))
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
        payload = json.dumps(
            {"version": GENERATOR_VERSION, **dataclasses.asdict(self)}, sort_keys=True
        )
        return hashlib.sha1(payload.encode()).hexdigest()[:12]


@dataclasses.dataclass(frozen=True)
class Speaker:
    """One synthetic speaker: a voice plus its base prosody."""

    accent: str
    variant: str
    rate: int  # words per minute
    pitch: int  # 0-99
    pitch_range: int  # 0-99
    amplitude: int  # eSpeak volume, 100 is normal
    split: str

    @property
    def voice(self) -> str:
        return f"{self.accent}+{self.variant}"

    @property
    def speaker_hash(self) -> str:
        return hashlib.sha1(self.voice.encode()).hexdigest()[:8]


class ESpeak:
    """A ctypes binding of the few eSpeak NG calls the generator needs.

    eSpeak keeps global state, so there is one instance per process.
    """

    def __init__(self):
        import espeakng_loader

        self._lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib = self._lib
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_Initialize.argtypes = [
            ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int
        ]  # fmt: skip
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
            ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
        ]  # fmt: skip
        lib.espeak_Synth.restype = ctypes.c_int
        data_path = espeakng_loader.get_data_path().encode()
        sample_rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path, 0)
        if sample_rate != _ESPEAK_SAMPLE_RATE:
            raise RuntimeError(
                f"eSpeak NG initialization failed (returned {sample_rate})."
            )
        self._chunks: list[np.ndarray] = []
        callback_type = ctypes.CFUNCTYPE(
            ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
        )
        # Keep a reference: ctypes callbacks are freed with their Python object.
        self._callback = callback_type(self._receive)
        lib.espeak_SetSynthCallback(self._callback)
        self.data_path = espeakng_loader.get_data_path()

    def _receive(self, samples, num_samples, events):
        if samples and num_samples > 0:
            self._chunks.append(np.ctypeslib.as_array(samples, (num_samples,)).copy())
        return 0

    def has_voice(self, voice: str) -> bool:
        return self._lib.espeak_SetVoiceByName(voice.encode()) == 0

    def synthesize(
        self, text: str, voice: str, rate: int, pitch: int, pitch_range: int,
        amplitude: int,
    ) -> np.ndarray:  # fmt: skip
        """Speaks `text`; returns int16 samples at 22050 Hz."""
        if self._lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise ValueError(f"eSpeak NG has no voice {voice!r}.")
        lib = self._lib
        lib.espeak_SetParameter(_PARAMETER_RATE, int(rate), 0)
        lib.espeak_SetParameter(_PARAMETER_PITCH, int(pitch), 0)
        lib.espeak_SetParameter(_PARAMETER_RANGE, int(pitch_range), 0)
        lib.espeak_SetParameter(_PARAMETER_VOLUME, int(amplitude), 0)
        self._chunks = []
        encoded = text.encode() + b"\0"
        lib.espeak_Synth(
            encoded, len(encoded), 0, _POSITION_CHARACTER, 0, 0, None, None
        )
        lib.espeak_Synchronize()
        if not self._chunks:
            return np.zeros(0, np.int16)
        return np.concatenate(self._chunks)

    def variants(self) -> list[str]:
        """Voice variant names (m1-m8, f1-f5, klatt, whisper, croak...)."""
        folder = pathlib.Path(self.data_path) / "voices" / "!v"
        return sorted(p.name for p in folder.iterdir() if " " not in p.name)


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


def _speak_clip(
    espeak: ESpeak, word: str, speaker: Speaker, rng: np.random.Generator,
    config: SynthConfig,
) -> np.ndarray:  # fmt: skip
    """One 1 s float32 clip at 16 kHz: the word at a random offset, maybe noisy."""
    # Here, not on top: `lstm-keras apps` imports this module (for the words).
    import scipy.signal

    rate = int(speaker.rate * rng.uniform(0.85, 1.15))
    speech = np.zeros(0)
    for _ in range(4):
        raw = espeak.synthesize(
            word,
            speaker.voice,
            rate=rate,
            pitch=int(np.clip(speaker.pitch + rng.integers(-8, 9), 0, 99)),
            pitch_range=int(
                np.clip(speaker.pitch_range + rng.integers(-10, 11), 0, 99)
            ),
            amplitude=int(speaker.amplitude * rng.uniform(0.8, 1.2)),
        )
        if raw.size == 0 or not np.any(raw):
            raise RuntimeError(
                f"eSpeak NG produced no audio for {word!r} ({speaker.voice})."
            )
        speech = scipy.signal.resample_poly(_trim(raw.astype(np.float64)), 320, 441)
        if speech.size <= CLIP_SAMPLES * 0.95:
            break
        rate = int(rate * 1.3)  # too long for one second: speak faster
    speech = speech[: int(CLIP_SAMPLES * 0.95)]
    speech = speech / (np.abs(speech).max() + 1e-12)
    clip = np.zeros(CLIP_SAMPLES)
    offset = int(rng.integers(0, CLIP_SAMPLES - speech.size + 1))
    clip[offset : offset + speech.size] = speech
    if rng.uniform() < config.noise_probability:
        snr_db = rng.uniform(*config.snr_db)
        speech_rms = np.sqrt(np.mean(speech**2))
        noise = make_noise(str(rng.choice(NOISE_KINDS)), CLIP_SAMPLES, rng)
        clip = clip + noise * speech_rms * 10 ** (-snr_db / 20)
    peak = rng.uniform(0.1, 0.9)  # recording level
    return (clip * peak / (np.abs(clip).max() + 1e-12)).astype(np.float32)


def _write_wav(path: pathlib.Path, samples: np.ndarray) -> None:
    pcm = np.round(np.clip(samples, -1.0, 1.0) * 32767).astype(np.int16)
    soundfile.write(str(path), pcm, SAMPLE_RATE, subtype="PCM_16")


def _make_speakers(config: SynthConfig, espeak: ESpeak) -> list[Speaker]:
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
            )
        )
    return speakers


_WORKER_ESPEAK: ESpeak | None = None


def _worker_espeak() -> ESpeak:
    global _WORKER_ESPEAK  # one eSpeak per process: the library is not reentrant
    if _WORKER_ESPEAK is None:
        _WORKER_ESPEAK = ESpeak()
    return _WORKER_ESPEAK


def _speaker_clips(task) -> list[tuple[str, str]]:
    """Writes every clip of one speaker; returns (relative path, split) pairs."""
    root, config, index, speaker = task
    espeak = _worker_espeak()
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
            _speak_clip(espeak, word, speaker, rng, config),
        )
        written.append((relative, speaker.split))
    return written


def _write_background_noise(root: pathlib.Path, config: SynthConfig) -> None:
    folder = root / "_background_noise_"
    folder.mkdir()
    rng = np.random.default_rng([config.seed, 3])
    for kind in NOISE_KINDS:
        noise = make_noise(kind, SAMPLE_RATE * config.background_seconds, rng)
        _write_wav(folder / f"{kind}_noise.wav", 0.25 * noise / np.abs(noise).max())
    (folder / "README.md").write_text(
        "Generated noise (white, pink = 1/f, brown = 1/f^2, 50/60 Hz mains hum),\n"
        "16 kHz mono, used for `_silence_` clips and noise augmentation.\n"
    )


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


def _generate(root: pathlib.Path, config: SynthConfig, workers: int, progress: bool):
    from tqdm.auto import tqdm

    speakers = _make_speakers(config, _worker_espeak())
    for word in set(config.words) | set(config.unknown_pool):
        (root / word).mkdir()
    tasks = [
        (str(root), config, index, speaker) for index, speaker in enumerate(speakers)
    ]
    results = []
    bar = tqdm(
        total=len(tasks),
        desc="Speaking the corpus",
        unit="speaker",
        disable=not progress,
    )
    if workers > 1:
        # "spawn": a fork of a process that already runs TensorFlow threads can hang.
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            for written in pool.imap_unordered(_speaker_clips, tasks):
                results.extend(written)
                bar.update()
    else:
        for task in tasks:
            results.extend(_speaker_clips(task))
            bar.update()
    bar.close()
    _write_background_noise(root, config)
    results.sort()
    for split, name in (
        ("validation", "validation_list.txt"),
        ("test", "testing_list.txt"),
    ):
        lines = [path for path, clip_split in results if clip_split == split]
        (root / name).write_text("\n".join(lines) + "\n")
    with open(root / "speakers.tsv", "w") as table:
        table.write("speaker\tvoice\trate\tpitch\tpitch_range\tamplitude\tsplit\n")
        for s in speakers:
            table.write(
                f"{s.speaker_hash}\t{s.voice}\t{s.rate}\t{s.pitch}\t"
                f"{s.pitch_range}\t{s.amplitude}\t{s.split}\n"
            )
    (root / COMPLETE_MARKER).write_text(
        json.dumps(
            {"version": GENERATOR_VERSION, **dataclasses.asdict(config)}, indent=1
        )
    )
