"""The export: a `tf.Module` with waveform, WAV-bytes and streaming signatures.

All preprocessing is in the graph, so TF Serving takes raw audio:

- `serving_default`: `waveform` float32 `[batch, 16000]` (16 kHz, [-1, 1]);
  any other length is an `InvalidArgumentError` naming the shape it got
  (`serve_wav` pads or cuts files to 1 s itself).
- `serve_wav`: `wav` string `[batch]`, each a 16-bit PCM WAV file's bytes at
  any sample rate and channel count (`tf.audio.decode_wav`; channels are
  averaged, other rates resampled by FFT, then cut or centred in 1 s of
  zeros: longer clips keep their loudest second).
- `stream_step`: `chunk` float32 `[batch, k * frame_step]` plus the model's
  states (`frontend_buffer`, `conv_*_frames`, `lstm_*_h`, `lstm_*_c`...);
  returns the probabilities so far and the new states under the same names.
  Start a stream with zeros of the shapes `stream_state_shapes` lists.

Waveform signatures return `label` (string: the most probable label, with
`_unknown_`'s probability first multiplied by the model's `unknown_weight`;
`_unknown_` where that is a command word whose probability is below the
model's `command_threshold`), `score` (the
label's probability) and `probabilities` `[batch, classes]` in `labels` order.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import tensorflow as tf

from lstm_keras.runner import ServingModule

from .decision import decide_tf

CLIP_SAMPLES = 16000
SAMPLE_RATE = 16000


def fft_resample(samples, rate, target_rate=SAMPLE_RATE):
    """Resamples a 1-D float32 signal by truncating or zero-padding its spectrum.

    The Fourier method of `scipy.signal.resample` (output length
    `round(n * target_rate / rate)`), in TF ops so it runs inside a
    SavedModel.
    """
    num_samples = tf.shape(samples)[0]
    rate = tf.cast(rate, tf.float64)
    target_length = tf.cast(
        tf.round(tf.cast(num_samples, tf.float64) * target_rate / rate), tf.int32
    )
    spectrum = tf.signal.rfft(samples)
    target_bins = target_length // 2 + 1
    bins = tf.shape(spectrum)[0]
    kept = spectrum[: tf.minimum(bins, target_bins)]
    padded = tf.pad(kept, [[0, tf.maximum(target_bins - bins, 0)]])
    # Like scipy: the shorter length's Nyquist bin, if it has one, is doubled
    # when downsampling (it stands for both signs) and halved when upsampling.
    shorter = tf.minimum(num_samples, target_length)
    nyquist_factor = tf.where(target_length < num_samples, 2.0, 0.5)
    nyquist_factor = tf.where(shorter % 2 == 0, nyquist_factor, 1.0)
    factors = tf.tensor_scatter_nd_update(
        tf.ones([target_bins]), [[shorter // 2]], [nyquist_factor]
    )
    padded *= tf.cast(factors, padded.dtype)
    scale = tf.cast(target_length, tf.float32) / tf.cast(num_samples, tf.float32)
    resampled = tf.signal.irfft(padded, fft_length=[target_length]) * scale
    return tf.cond(
        tf.equal(target_length, num_samples), lambda: samples, lambda: resampled
    )


def loudest_second(samples):
    """Centres a clip under 1 s in 1 s of zeros, or keeps a longer clip's
    1 s window with the most energy.

    Centred, not padded at its end: the corpus places each word anywhere in
    its second, so a word at the very start is the edge of what the model
    heard. A tightly cut recording padded at its end put a real speaker's
    digits there and lost up to three of ten (README, "Short clips").
    """
    missing = tf.maximum(CLIP_SAMPLES - tf.shape(samples)[0], 0)
    padded = tf.pad(samples, [[missing // 2, missing - missing // 2]])
    energy = tf.concat([[0.0], tf.cumsum(tf.square(padded))], axis=0)
    window_energy = energy[CLIP_SAMPLES:] - energy[:-CLIP_SAMPLES]
    start = tf.argmax(window_energy, output_type=tf.int32)
    return padded[start : start + CLIP_SAMPLES]


class SpeechServingModule(ServingModule):
    """Holds a trained `SpeechModel` and its three serving functions.

    Args:
        model: a built `SpeechModel`.
        labels: class names in output order.
        command_threshold: a command word's probability below this makes
            the `label` `_unknown_` (0: the most probable label).
        unknown_weight: `_unknown_`'s probability is multiplied by this
            before the argmax (`decision.decide`).
    """

    def __init__(self, model, labels, command_threshold=0.0, unknown_weight=1.0):
        super().__init__(name="speech_commands")
        self.model = model
        self.command_threshold = float(command_threshold)
        self.unknown_weight = float(unknown_weight)
        self.labels = tf.constant(list(labels))
        self.frame_step = model.frontend.frame_step
        state_shapes = model.state_shapes()
        self.state_names = tuple(state_shapes)
        self.serve_waveform = self.add_signature(
            "serving_default",
            self._serve_waveform,
            [tf.TensorSpec([None, CLIP_SAMPLES], tf.float32, name="waveform")],
        )
        self.serve_wav = self.add_signature(
            "serve_wav",
            self._serve_wav,
            [tf.TensorSpec([None], tf.string, name="wav")],
        )
        self.stream_step = self.add_signature(
            "stream_step",
            self._stream_step,
            chunk=tf.TensorSpec([None, None], tf.float32, name="chunk"),
            **{
                name: tf.TensorSpec([None, *shape], tf.float32, name=name)
                for name, shape in state_shapes.items()
            },
        )

    def _outputs(self, probabilities):
        index = decide_tf(probabilities, self.command_threshold, self.unknown_weight)
        return {
            "label": tf.gather(self.labels, index),
            # The probability of the label given.
            "score": tf.gather(probabilities, index, batch_dims=1),
            "probabilities": probabilities,
        }

    def _serve_waveform(self, waveform):
        # TF Serving does not check shapes against the signature: a clip of
        # another length would run (or fail deep inside) without this.
        shape = tf.concat([tf.shape(waveform), [-1, -1]], axis=0)
        right_shape = tf.logical_and(
            tf.equal(tf.rank(waveform), 2), tf.equal(shape[1], CLIP_SAMPLES)
        )
        check = tf.debugging.Assert(
            right_shape,
            [
                f"waveform must have shape [batch, {CLIP_SAMPLES}] (1 s at "
                f"{SAMPLE_RATE} Hz; serve_wav pads or cuts files itself); got",
                tf.shape(waveform),
            ],
        )
        with tf.control_dependencies([check]):
            waveform = tf.debugging.assert_all_finite(
                waveform, "waveform holds NaN or Inf samples"
            )
        return self._outputs(self.model(waveform, training=False))

    def _decode_one(self, contents):
        audio, rate = tf.audio.decode_wav(contents)  # [samples, channels], []
        mono = tf.reduce_mean(audio, axis=1)
        tf.debugging.assert_positive(tf.shape(mono)[0], "WAV file holds no samples")
        return loudest_second(fft_resample(mono, rate))

    def _serve_wav(self, wav):
        waveform = tf.map_fn(
            self._decode_one,
            wav,
            fn_output_signature=tf.TensorSpec([CLIP_SAMPLES], tf.float32),
        )
        return self._serve_waveform(waveform)

    def _stream_step(self, chunk, **states):
        tf.debugging.assert_equal(
            tf.shape(chunk)[1] % self.frame_step,
            0,
            message=f"chunk length must be a multiple of {self.frame_step} samples",
        )
        tf.debugging.assert_positive(tf.shape(chunk)[1], "chunk holds no samples")
        chunk = tf.debugging.assert_all_finite(chunk, "chunk holds NaN or Inf samples")
        probabilities, new_states = self.model.stream_step(chunk, states)
        # Static state shapes in the signature, as the inputs have.
        new_states = {
            name: tf.ensure_shape(new_states[name], states[name].shape)
            for name in self.state_names
        }
        return {**self._outputs(probabilities), **new_states}


def run_probabilities(run_dir: str):
    """A function from float32 waveforms `[n, 16000]` to the probabilities
    `[n, labels]` of a run's newest export (in batches of 256)."""
    exports = os.path.join(run_dir, "export", "speech")
    version = max(os.listdir(exports), key=int)
    serve = tf.saved_model.load(os.path.join(exports, version)).signatures[
        "serving_default"
    ]

    def predict(clips):
        return np.concatenate([
            serve(waveform=tf.constant(clips[i : i + 256]))["probabilities"].numpy()
            for i in range(0, len(clips), 256)
        ])  # fmt: skip

    return predict


def predict_files(export_dir: str, paths: Iterable[str]) -> Iterator[dict[str, Any]]:
    """Labels audio files with an exported model, as a TF Serving client would.

    A WAV file (RIFF header or `.wav` name) goes as its bytes through
    `serve_wav`, so a file the export rejects (truncated, not 16-bit PCM, not
    a WAV at all) is a `ValueError` here too; other formats (FLAC, OGG) are
    decoded with libsndfile and sent as a 1 s waveform (the loudest second of
    a longer file) through `serving_default`.
    """
    from .audio import load_clip

    loaded = tf.saved_model.load(export_dir)
    for path in paths:
        with open(path, "rb") as file:
            contents = file.read()
        if contents[:4] == b"RIFF" or path.lower().endswith(".wav"):
            signature = "serve_wav"
            inputs = {"wav": tf.constant([contents])}
        else:
            signature = "serving_default"
            clip = load_clip(path, long_clips="loudest")
            inputs = {"waveform": tf.constant(clip[None])}
        try:
            outputs = loaded.signatures[signature](**inputs)
        except tf.errors.InvalidArgumentError as error:
            raise ValueError(
                f"Not a readable WAV file: {path}: the export's {signature} "
                f"rejects it ({_reason(error)})"
            ) from None
        yield {
            "file": path,
            "label": outputs["label"].numpy()[0].decode(),
            "score": round(float(outputs["score"].numpy()[0]), 6),
            "signature": signature,
        }


_HINTS = {
    "Data too short": "the file is truncated",
    "Can only read 16-bit": "serve_wav takes 16-bit PCM WAV: convert the file, "
    "e.g. `sox IN.wav -b 16 OUT.wav`",
    "Bad audio format": "serve_wav takes 16-bit PCM WAV: convert the file, "
    "e.g. `sox IN.wav -b 16 OUT.wav`",
    "Header mismatch": "not a WAV file",
}


def _reason(error: tf.errors.OpError) -> str:
    """TensorFlow's own sentence, without the graph and node decorations."""
    lines = [
        line.strip()
        for line in error.message.splitlines()
        if line.strip()
        and not line.strip().startswith(
            ("Graph execution error", "Detected at node", "<stack traces", "[[")
        )
    ]
    text = re.sub(r"\{\{[^}]*\}\}|\[Op:[^\]]*\]", "", " ".join(lines))
    text = " ".join(text.split())
    hints = [hint for key, hint in _HINTS.items() if key in text]
    return "; ".join([text, *hints])
