"""Reading audio files as 1 s, 16 kHz mono float32 clips.

One path for `lstm-keras predict` and the data pipeline: libsndfile reads
(through `soundfile`, the backend `librosa.load` tries first; calling it
directly keeps a bad file to one clear error instead of librosa's fallback to
the deprecated audioread), librosa resamples.
"""

from __future__ import annotations

import io
import os
import pathlib

import numpy as np
import soundfile

SAMPLE_RATE = 16000
CLIP_SAMPLES = SAMPLE_RATE


def resample(
    samples: np.ndarray, rate: int, target_rate: int = SAMPLE_RATE
) -> np.ndarray:
    """Resamples along the first axis with librosa (soxr, high quality)."""
    if rate == target_rate:
        return samples
    import librosa  # here: importing it takes a second, `lstm-keras apps` none

    return librosa.resample(
        np.asarray(samples, np.float32),
        orig_sr=int(rate),
        target_sr=int(target_rate),
        res_type="soxr_hq",
        axis=0,
    ).astype(np.float32)


def fit_to_clip(samples: np.ndarray, long_clips: str = "start") -> np.ndarray:
    """Pads with zeros at the end, or cuts, to exactly one second.

    Args:
        samples: mono float32 at 16 kHz.
        long_clips: for clips over 1 s, `start` keeps the first second (as in
            training data) and `loudest` keeps the 1 s window with the most
            energy (for user recordings with silence around the word).
    """
    if samples.size <= CLIP_SAMPLES:
        return np.pad(samples, (0, CLIP_SAMPLES - samples.size)).astype(np.float32)
    if long_clips == "start":
        return samples[:CLIP_SAMPLES].astype(np.float32)
    if long_clips != "loudest":
        raise ValueError(
            f"long_clips must be 'start' or 'loudest'. Received: {long_clips!r}."
        )
    energy = np.concatenate([[0.0], np.cumsum(samples.astype(np.float64) ** 2)])
    window_energy = energy[CLIP_SAMPLES:] - energy[:-CLIP_SAMPLES]
    start = int(np.argmax(window_energy))
    return samples[start : start + CLIP_SAMPLES].astype(np.float32)


def read_audio(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """Reads any file libsndfile knows (WAV, FLAC, OGG) as mono float32.

    Channels are averaged; the sample rate is returned unchanged.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is empty, not audio, truncated to nothing, or
            holds NaN/Inf samples.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Audio file not found: {path}")
    if path.stat().st_size == 0:
        raise ValueError(f"Audio file is empty (0 bytes): {path}")
    try:
        samples, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, EOFError) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ValueError(f"Not a readable WAV/audio file: {path} ({message})") from None
    if samples.shape[0] == 0:
        raise ValueError(f"Audio file holds no samples (empty or truncated): {path}")
    if not np.all(np.isfinite(samples)):
        raise ValueError(f"Audio file holds NaN or infinite samples: {path}")
    return samples.mean(axis=1), int(rate)


def load_clip(path: str | os.PathLike, long_clips: str = "start") -> np.ndarray:
    """One file as a 1 s clip at 16 kHz: mono mixdown, resampled, padded or cut."""
    samples, rate = read_audio(path)
    return fit_to_clip(resample(samples, rate), long_clips)


def wav_bytes(waveform: np.ndarray, sample_rate: int | None = None) -> bytes:
    """A 16-bit PCM WAV file's bytes (what `serve_wav` takes); 16 kHz unless
    `sample_rate` says otherwise."""
    sample_rate = sample_rate or SAMPLE_RATE
    buffer = io.BytesIO()
    soundfile.write(buffer, waveform, sample_rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()
