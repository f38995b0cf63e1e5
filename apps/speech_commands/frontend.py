"""Audio features inside the model: log-mel or MFCC written with `tf.signal`.

Framing is causal: `frame_length - frame_step` zeros are prepended, so frame
`i` covers samples `[i * step - (length - step), i * step + step)`. A clip of
16000 samples gives 16000 / step frames, and a stream fed `step` samples at a
time, with the last `length - step` samples carried over, yields exactly the
same frames (see `LogMelFrontend.step`).
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf


def mel_weight_matrix(
    num_spectrogram_bins: int,
    sample_rate: int,
    num_mel_bins: int,
    lower_edge_hertz: float,
    upper_edge_hertz: float,
) -> np.ndarray:
    """HTK-mel triangular filters, `[num_spectrogram_bins, num_mel_bins]`.

    Triangles are linear in Hz between mel-spaced edges, without area
    normalization: `librosa.filters.mel(htk=True, norm=None)` transposed.
    (`tf.signal.linear_to_mel_weight_matrix` builds its triangles in mel
    space, so it differs from librosa in the low bins.)
    """

    def hertz_to_mel(hertz):
        return 2595.0 * np.log10(1.0 + np.asarray(hertz, np.float64) / 700.0)

    def mel_to_hertz(mel):
        return 700.0 * (10.0 ** (np.asarray(mel, np.float64) / 2595.0) - 1.0)

    edges = mel_to_hertz(
        np.linspace(
            hertz_to_mel(lower_edge_hertz),
            hertz_to_mel(upper_edge_hertz),
            num_mel_bins + 2,
        )
    )
    bin_hertz = np.linspace(0, sample_rate / 2, num_spectrogram_bins)
    lower, center, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bin_hertz[None, :] - lower) / (center - lower)
    falling = (upper - bin_hertz[None, :]) / (upper - center)
    weights = np.maximum(0.0, np.minimum(rising, falling))  # [mel, bins]
    return weights.T.astype(np.float32)


@keras.saving.register_keras_serializable(package="speech_commands")
class LogMelFrontend(keras.layers.Layer):
    """Waveform `[batch, samples]` -> features `[batch, frames, features]`.

    Args:
        sample_rate: input sample rate in Hz.
        frame_length: analysis window in samples (Hann, periodic).
        frame_step: hop in samples; streaming chunks are multiples of it.
        fft_length: FFT size (>= frame_length; the frame is zero-padded).
        num_mel_bins: mel filters.
        lower_edge_hertz: lowest mel edge.
        upper_edge_hertz: highest mel edge.
        num_mfcc: 0 for log-mel features (`log(mel + log_offset)`); otherwise
            that many MFCCs: the orthonormal DCT-II of the mel power in dB.
        log_offset: added before the log of log-mel features.
        compression: `log` (log-mel or MFCC, as `num_mfcc` says) or `none`
            (the mel power itself, for `PCEN`).

    Call arguments:
        waveform: float32 `[batch, samples]`, samples in [-1, 1].

    Example:

        frontend = LogMelFrontend(num_mel_bins=40)
        features = frontend(tf.zeros([2, 16000]))  # [2, 50, 40]
    """

    def __init__(
        self,
        sample_rate: int = 16000,
        frame_length: int = 480,
        frame_step: int = 320,
        fft_length: int = 512,
        num_mel_bins: int = 40,
        lower_edge_hertz: float = 20.0,
        upper_edge_hertz: float = 7600.0,
        num_mfcc: int = 0,
        log_offset: float = 1e-6,
        compression: str = "log",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if compression not in ("log", "none"):
            raise ValueError(
                "LogMelFrontend compression must be 'log' or 'none'. "
                f"Received: {compression!r}."
            )
        if not 0 < frame_step <= frame_length <= fft_length:
            raise ValueError(
                "LogMelFrontend needs 0 < frame_step <= frame_length <= fft_length. "
                f"Received: frame_step={frame_step}, frame_length={frame_length}, "
                f"fft_length={fft_length}."
            )
        if not 0 <= lower_edge_hertz < upper_edge_hertz <= sample_rate / 2:
            raise ValueError(
                "LogMelFrontend mel edges must satisfy 0 <= lower < upper <= "
                f"sample_rate / 2. Received: {lower_edge_hertz}, {upper_edge_hertz}."
            )
        if not 0 <= num_mfcc <= num_mel_bins:
            raise ValueError(
                "LogMelFrontend num_mfcc must be in [0, num_mel_bins]. "
                f"Received: num_mfcc={num_mfcc}."
            )
        self.sample_rate = sample_rate
        self.frame_length = frame_length
        self.frame_step = frame_step
        self.fft_length = fft_length
        self.num_mel_bins = num_mel_bins
        self.lower_edge_hertz = lower_edge_hertz
        self.upper_edge_hertz = upper_edge_hertz
        self.num_mfcc = num_mfcc
        self.log_offset = log_offset
        self.compression = compression
        self._mel_weights = mel_weight_matrix(
            fft_length // 2 + 1,
            sample_rate,
            num_mel_bins,
            lower_edge_hertz,
            upper_edge_hertz,
        )

    @property
    def buffer_samples(self) -> int:
        """Samples a stream carries from one chunk to the next."""
        return self.frame_length - self.frame_step

    @property
    def num_features(self) -> int:
        return self.num_mfcc or self.num_mel_bins

    def num_frames(self, num_samples: int) -> int:
        return num_samples // self.frame_step

    def _features(self, padded):
        """Frames `padded` (already carrying its left context) into features."""
        stft = tf.signal.stft(
            padded,
            frame_length=self.frame_length,
            frame_step=self.frame_step,
            fft_length=self.fft_length,
            window_fn=tf.signal.hann_window,
        )  # [batch, frames, fft_length // 2 + 1]
        power = tf.math.square(tf.math.abs(stft))
        mel = tf.tensordot(power, tf.constant(self._mel_weights), axes=1)
        mel.set_shape(power.shape[:-1].concatenate([self.num_mel_bins]))
        if self.compression == "none":
            return mel
        if not self.num_mfcc:
            return tf.math.log(mel + self.log_offset)  # [batch, frames, mel]
        decibels = 10.0 * tf.math.log(tf.maximum(mel, 1e-10)) / tf.math.log(10.0)
        return tf.signal.dct(decibels, type=2, norm="ortho")[..., : self.num_mfcc]

    def call(self, waveform):
        waveform = tf.convert_to_tensor(waveform, tf.float32)
        padded = tf.pad(waveform, [[0, 0], [self.buffer_samples, 0]])
        return self._features(padded)

    def step(self, chunk, buffer):
        """Streams one chunk: returns (features, new buffer).

        Args:
            chunk: `[batch, k * frame_step]` new samples.
            buffer: `[batch, frame_length - frame_step]` previous samples
                (zeros at the start of a stream).

        Returns:
            `[batch, k, features]` and the new buffer.
        """
        joined = tf.concat([buffer, chunk], axis=1)
        return self._features(joined), joined[
            :, tf.shape(joined)[1] - self.buffer_samples :
        ]

    def compute_output_shape(self, input_shape):
        frames = None if input_shape[1] is None else self.num_frames(input_shape[1])
        return (input_shape[0], frames, self.num_features)

    def get_config(self):
        return {
            **super().get_config(),
            "sample_rate": self.sample_rate,
            "frame_length": self.frame_length,
            "frame_step": self.frame_step,
            "fft_length": self.fft_length,
            "num_mel_bins": self.num_mel_bins,
            "lower_edge_hertz": self.lower_edge_hertz,
            "upper_edge_hertz": self.upper_edge_hertz,
            "num_mfcc": self.num_mfcc,
            "log_offset": self.log_offset,
            "compression": self.compression,
        }


@keras.saving.register_keras_serializable(package="speech_commands")
class PCEN(keras.layers.Layer):
    """Per-channel energy normalization of mel power (Wang et al. 2017).

    `M[t] = (1 - b) M[t-1] + b E[t]` smooths each band over time, and
    `(E / (eps + M)^gain + bias)^power - bias^power` divides the energy by it:
    an automatic gain control per band, so the level of the recording and a
    fixed coloration of its channel (telephone, microphone) cancel, causally.
    `b` follows from `time_constant` as in `librosa.pcen`, which the tests
    compare against (with a zero initial `M`, the start of a stream).

    Args:
        time_constant: smoother time constant in seconds.
        frame_rate: frames per second of the input.
        gain: the exponent of `M` (`alpha`).
        bias: `delta`.
        power: `r`.
        eps: keeps the division finite.

    Call arguments:
        mel: float32 `[batch, frames, bins]` mel power.

    Example:

        features = PCEN(frame_rate=50)(mel_power)  # same shape
    """

    def __init__(
        self,
        time_constant: float = 0.4,
        frame_rate: float = 50.0,
        gain: float = 0.98,
        bias: float = 2.0,
        power: float = 0.5,
        eps: float = 1e-6,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if time_constant <= 0 or frame_rate <= 0:
            raise ValueError(
                "PCEN time_constant and frame_rate must be > 0. "
                f"Received: {time_constant}, {frame_rate}."
            )
        self.time_constant = time_constant
        self.frame_rate = frame_rate
        self.gain = gain
        self.bias = bias
        self.power = power
        self.eps = eps
        frames = time_constant * frame_rate
        self.smoothing = float((np.sqrt(1 + 4 * frames**2) - 1) / (2 * frames**2))

    def _smooth(self, mel, initial):
        """All `M[t]` of a chunk at once: a decaying lower-triangular sum."""
        b = self.smoothing
        frames = tf.shape(mel)[1]
        t = tf.cast(tf.range(frames), tf.float32)
        lag = t[:, None] - t[None, :]  # [t, s]
        weights = tf.where(lag >= 0, b * tf.pow(1.0 - b, tf.maximum(lag, 0.0)), 0.0)
        carried = tf.pow(1.0 - b, t + 1.0)[None, :, None] * initial[:, None, :]
        return tf.einsum("ts,bsf->btf", weights, mel) + carried

    def _compress(self, mel, smooth):
        return (
            mel / tf.pow(self.eps + smooth, self.gain) + self.bias
        ) ** self.power - (self.bias**self.power)

    def call(self, mel):
        mel = tf.convert_to_tensor(mel, tf.float32)
        smooth = self._smooth(mel, tf.zeros_like(mel[:, 0]))
        return self._compress(mel, smooth)

    def step(self, mel, smoother):
        """Streams frames: returns (features, new smoother state `[batch, bins]`)."""
        smooth = self._smooth(mel, smoother)
        return self._compress(mel, smooth), smooth[:, -1]

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "time_constant": self.time_constant,
            "frame_rate": self.frame_rate,
            "gain": self.gain,
            "bias": self.bias,
            "power": self.power,
            "eps": self.eps,
        }
