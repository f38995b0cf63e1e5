"""Real human speech that Debian packages ship, read where it is installed.

No package ships the Speech Commands words spoken by many people, but four
ship real recordings under open licences (each package's licence text is in
`/usr/share/doc/<package>/copyright`; nothing is copied into this project):

- `alsa-utils` (GPL-2): one man saying "Front Left", "Rear Right", "Side
  Left", "Front Center", ... (48 kHz). `split_phrase` cuts each phrase at its
  pause, which gives real "left" and "right" clips.
- `ktuberling-data` (GPL-2+): 72 English words ("ball", "hat", "eye", ...)
  and about 70 words in each of 20 more languages, Ogg.
- `klettres-data` (GPL-2+): letters and syllables ("no", "dog", "sky", ...)
  spoken in 20+ languages, Ogg.
- `saytime` (its sound files GPL, by David C Dawson, 2004): one man saying
  the numbers zero to twenty, thirty, forty, fifty and the words of a
  spoken clock ("hour", "minutes", "exactly", ...), headerless 8 kHz
  mu-law: telephone audio, as #13's blind check of the ten digits was.

`recordings()` lists them as `Recording`s. English recordings (`en`,
`en_GB`, alsa, saytime) form the *real-speech check*: they are never
trained on. The other languages' recordings are real negatives
(`_unknown_`) and real background babble for training.

Example:

    check = [r for r in speech_real.recordings() if r.held_out]
    samples = speech_real.load(check[0])  # float32, 16 kHz mono
"""

from __future__ import annotations

import dataclasses
import pathlib

import numpy as np

SAMPLE_RATE = 16000
PACKAGES = ("alsa-utils", "ktuberling-data", "klettres-data", "saytime")
ALSA_FOLDER = pathlib.Path("/usr/share/sounds/alsa")
KTUBERLING_FOLDER = pathlib.Path("/usr/share/ktuberling/sounds")
KLETTRES_FOLDER = pathlib.Path("/usr/share/klettres")
SAYTIME_FOLDER = pathlib.Path("/usr/share/saytime")
# saytime's files are named by what they say: 7.au, oclock.au, the_time_is.au.
_SAYTIME_NUMBERS = (
    "zero one two three four five six seven eight nine ten eleven twelve "
    "thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty"
).split()
_SAYTIME_WORDS = {
    **{str(n): word for n, word in enumerate(_SAYTIME_NUMBERS)},
    "30": "thirty",
    "40": "forty",
    "50": "fifty",
    "oclock": "o'clock",
    "the_time_is": "the time is",
}
# Headerless audio as saytime hands it to sox (`-t .ul -r 8000`).
_SAYTIME_FORMAT = {
    "format": "RAW",
    "subtype": "ULAW",
    "samplerate": 8000,
    "channels": 1,
}
# The languages of the real-speech check (never trained on).
HELD_OUT_LANGUAGES = ("en", "en_GB")


@dataclasses.dataclass(frozen=True)
class Recording:
    """One real recording of one word (or one word of a phrase)."""

    path: str
    word: str  # lower case, as spoken
    language: str  # the package's folder name: en, en_GB, de, ...
    package: str
    part: int = -1  # alsa phrases: 0 = first word, 1 = second; -1 = whole file

    @property
    def held_out(self) -> bool:
        return self.language in HELD_OUT_LANGUAGES

    @property
    def licence_file(self) -> str:
        return f"/usr/share/doc/{self.package}/copyright"


def installed_packages() -> tuple[str, ...]:
    """The packages of `PACKAGES` whose recordings are present."""
    present = []
    if list(ALSA_FOLDER.glob("*_*.wav")):
        present.append("alsa-utils")
    if list(KTUBERLING_FOLDER.glob("*/*.ogg")):
        present.append("ktuberling-data")
    if list(KLETTRES_FOLDER.glob("*/*/*.ogg")):
        present.append("klettres-data")
    if list(SAYTIME_FOLDER.glob("*.au")):
        present.append("saytime")
    return tuple(present)


def _alsa() -> list[Recording]:
    found = []
    for path in sorted(ALSA_FOLDER.glob("*_*.wav")):
        words = path.stem.lower().split("_")  # Front_Left -> front, left
        if len(words) != 2:
            continue
        for part, word in enumerate(words):
            found.append(Recording(str(path), word, "en", "alsa-utils", part))
    return found


def _ktuberling() -> list[Recording]:
    found = []
    for path in sorted(KTUBERLING_FOLDER.glob("*/*.ogg")):
        # Theme prefixes name the scene, not the word: egypt_camel -> camel.
        word = path.stem.split("_")[-1].lower()
        found.append(Recording(str(path), word, path.parent.name, "ktuberling-data"))
    return found


def _klettres() -> list[Recording]:
    found = []
    for path in sorted(KLETTRES_FOLDER.glob("*/*/*.ogg")):
        language = path.parent.parent.name
        found.append(Recording(str(path), path.stem.lower(), language, "klettres-data"))
    return found


def _saytime() -> list[Recording]:
    return [
        Recording(str(path), _SAYTIME_WORDS.get(path.stem, path.stem), "en", "saytime")
        for path in sorted(SAYTIME_FOLDER.glob("*.au"))
    ]


def recordings() -> list[Recording]:
    """Every installed recording (empty when none of the packages is there)."""
    return _alsa() + _ktuberling() + _klettres() + _saytime()


def split_phrase(samples: np.ndarray, sample_rate: int) -> tuple[int, int]:
    """Where a two-word phrase pauses: (end of word 1, start of word 2).

    The pause is the longest run of 10 ms frames 45 dB below the loudest
    frame between the first and last loud frames.
    """
    hop = sample_rate // 100
    frames = samples[: samples.size // hop * hop].reshape(-1, hop)
    level = 20 * np.log10(np.sqrt(np.mean(frames**2, axis=1)) + 1e-9)
    quiet = level < level.max() - 45
    loud = np.flatnonzero(~quiet)
    best, start = (0, 0), None
    for index in range(loud[0], loud[-1] + 1):
        if quiet[index] and start is None:
            start = index
        elif not quiet[index] and start is not None:
            if index - start > best[1] - best[0]:
                best = (start, index)
            start = None
    if best[1] - best[0] < 5:
        raise ValueError("No pause of 50 ms or more between two words.")
    return best[0] * hop, best[1] * hop


def read(recording: Recording) -> tuple[np.ndarray, int]:
    """The recording (its word, for phrases) as float64 mono at its own rate."""
    import soundfile

    raw = _SAYTIME_FORMAT if recording.package == "saytime" else {}
    samples, rate = soundfile.read(
        recording.path, dtype="float64", always_2d=True, **raw
    )
    samples = samples.mean(axis=1)
    if recording.part >= 0:
        end, start = split_phrase(samples, rate)
        samples = samples[:end] if recording.part == 0 else samples[start:]
    return samples, rate


def load(recording: Recording) -> np.ndarray:
    """The recording (its word, for phrases) as float32 16 kHz mono."""
    import math

    import scipy.signal

    samples, rate = read(recording)
    if rate != SAMPLE_RATE:
        divisor = math.gcd(rate, SAMPLE_RATE)
        samples = scipy.signal.resample_poly(
            samples, SAMPLE_RATE // divisor, rate // divisor
        )
    return samples.astype(np.float32)
