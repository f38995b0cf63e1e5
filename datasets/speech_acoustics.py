"""The acoustic world of real recordings, applied to clean synthetic speech.

Synthetic voices are recorded by nobody: no room, no microphone, no phone
line. Each function here adds one of those, on float 16 kHz mono samples:

- `speed_perturb`: playback at another speed (tempo, pitch and formants move
  together, like a shorter or longer vocal tract; Ko et al. 2015).
- `room_impulse_responses` / `reverberate`: shoebox rooms simulated by the
  image source method (`pyroomacoustics`), convolved with the speech.
- `telephone`: the narrowband phone channel: 300-3400 Hz, 8 kHz sampling and
  8-bit mu-law (G.711) coding, then back to 16 kHz as a user's file would be.
- `microphone`: a cheap microphone's band limits and spectral tilt.

Example:

    rirs = speech_acoustics.room_impulse_responses(8, rng)
    wet = speech_acoustics.reverberate(clean, rirs[0])
    phone = speech_acoustics.telephone(wet, rng)
"""

from __future__ import annotations

import fractions

import numpy as np

SAMPLE_RATE = 16000
TELEPHONE_RATE = 8000
TELEPHONE_BAND = (300.0, 3400.0)


def speed_perturb(samples: np.ndarray, factor: float) -> np.ndarray:
    """Plays `samples` `factor` times faster (> 1: shorter and higher)."""
    import scipy.signal  # here: `lstm-keras apps` imports this module

    if factor <= 0:
        raise ValueError(f"speed factor must be > 0. Received: {factor}.")
    ratio = fractions.Fraction(1 / factor).limit_denominator(40)
    if ratio == 1:
        return samples
    return scipy.signal.resample_poly(samples, ratio.numerator, ratio.denominator)


def room_impulse_responses(
    count: int,
    rng: np.random.Generator,
    rt60: tuple[float, float] = (0.15, 0.7),
    max_order: int = 30,
    distance: tuple[float, float] = (0.3, 3.0),
) -> list[np.ndarray]:
    """`count` impulse responses of random shoebox rooms at 16 kHz.

    Rooms from 3 x 3 x 2.4 m to 10 x 8 x 4 m, reverberation time uniform in
    `rt60` (wall absorption from Sabine's formula), the talker anywhere at
    least 0.5 m from the walls and the microphone `distance` metres away
    (a phone at the mouth to a device across the table), inside the room.
    Each response is scaled to unit energy and starts at its direct path
    (the speech keeps its timing).
    """
    import pyroomacoustics

    responses = []
    for _ in range(count):
        dims = rng.uniform([3.0, 3.0, 2.4], [10.0, 8.0, 4.0])
        target = rng.uniform(*rt60)
        absorption, order = pyroomacoustics.inverse_sabine(target, dims)
        room = pyroomacoustics.ShoeBox(
            dims,
            fs=SAMPLE_RATE,
            materials=pyroomacoustics.Material(absorption),
            max_order=min(order, max_order),
        )
        source = rng.uniform(0.5, dims - 0.5)
        direction = rng.standard_normal(3)
        direction *= rng.uniform(*distance) / np.linalg.norm(direction)
        room.add_source(source)
        room.add_microphone(np.clip(source + direction, 0.2, dims - 0.2))
        room.compute_rir()
        response = np.asarray(room.rir[0][0], np.float64)
        response = response[int(np.argmax(np.abs(response))) :]
        responses.append(response / np.sqrt(np.sum(response**2)))
    return responses


def reverberate(samples: np.ndarray, response: np.ndarray) -> np.ndarray:
    """`samples` as heard in the room: convolved, same length, same peak."""
    import scipy.signal  # here: `lstm-keras apps` imports this module

    wet = scipy.signal.fftconvolve(samples, response)[: samples.size]
    return wet * (np.abs(samples).max() / (np.abs(wet).max() + 1e-12))


def mu_law(samples: np.ndarray, mu: int = 255) -> np.ndarray:
    """8-bit mu-law coding and decoding (G.711's companding), as floats; each
    clip (the last axis) scaled by its own peak."""
    import librosa

    peak = np.abs(samples).max(axis=-1, keepdims=True) + 1e-12
    codes = librosa.mu_compress(samples / peak, mu=mu, quantize=True)
    return librosa.mu_expand(codes, mu=mu, quantize=True) * peak


def telephone(samples: np.ndarray) -> np.ndarray:
    """A narrowband phone call: band-pass, 8 kHz, mu-law, back to 16 kHz.

    `samples` is one clip or a batch `[..., time]`, each clip on its own.
    """
    import scipy.signal  # here: `lstm-keras apps` imports this module

    band = scipy.signal.butter(
        4, TELEPHONE_BAND, btype="bandpass", fs=SAMPLE_RATE, output="sos"
    )
    narrow = scipy.signal.sosfilt(band, samples, axis=-1)
    narrow = scipy.signal.resample_poly(narrow, TELEPHONE_RATE, SAMPLE_RATE, axis=-1)
    narrow = mu_law(narrow)
    return scipy.signal.resample_poly(narrow, SAMPLE_RATE, TELEPHONE_RATE, axis=-1)[
        ..., : samples.shape[-1]
    ]


def microphone(samples: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random microphone: high-pass 50-300 Hz, low-pass 3.5-7.5 kHz, tilt."""
    import scipy.signal  # here: `lstm-keras apps` imports this module

    high = scipy.signal.butter(
        2, rng.uniform(50, 300), btype="highpass", fs=SAMPLE_RATE, output="sos"
    )
    low = scipy.signal.butter(
        4, rng.uniform(3500, 7500), btype="lowpass", fs=SAMPLE_RATE, output="sos"
    )
    filtered = scipy.signal.sosfilt(low, scipy.signal.sosfilt(high, samples))
    # A first-order tilt: pre-emphasis (> 0) brightens, de-emphasis darkens.
    tilt = rng.uniform(-0.5, 0.5)
    return scipy.signal.lfilter([1.0, -tilt], [1.0], filtered)
