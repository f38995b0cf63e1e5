"""Keyword models from raw audio: stacked LSTM and CRNN, both streamable.

`SpeechModel` takes float32 waveforms `[batch, 16000]` and returns class
probabilities. The frontend is inside, so an export takes raw audio. Every
part is causal, so `stream_step` can run the same weights on 20 ms chunks
with explicit state (frontend samples, convolution frames, LSTM `[h, c]`,
running sum of the `mean` head), and after the last chunk of a clip its
probabilities equal the whole-clip ones.

With `embedding_weight > 0` a second branch listens too: Google's speech
embedding, pretrained on real speech and frozen (`speech_embedding`), then an
LSTM and its own classifier. Each branch trains on its own loss, as two
models would (`train_step`); the answer is their weighted geometric mean,
`softmax((1 - w) log p_spectrogram + w log p_embedding)`. It streams too:
each chunk's frames fill a 76-frame window, and each window that ends runs
the embedding and one LSTM step (`SpeechEmbedding.step`).
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from lstm_keras import LSTM
from lstm_keras.runner import optimizer_options

from .config import SpeechConfig
from .frontend import PCEN, LogMelFrontend
from .speech_embedding import SpeechEmbedding

_CONV_KERNEL = (3, 3)  # (time, frequency)
_CONV_TIME_CONTEXT = _CONV_KERNEL[0] - 1  # past frames a causal conv needs
# The embedding branch's dropout before its classifier: the value it was
# measured with (README, "A second ear"); no other was tried.
_EMBEDDING_DROPOUT = 0.3
_LOG_FLOOR = 1e-7  # probabilities are floored before the log of the fusion


@keras.saving.register_keras_serializable(package="speech_commands")
class SpecAugment(keras.layers.Layer):
    """SpecAugment time and frequency masks on `[batch, frames, features]`.

    Active only when `training=True`; the identity otherwise (and in exports).

    Args:
        time_masks: masks per example along time.
        time_mask_frames: maximum mask width in frames.
        frequency_masks: masks per example along features.
        frequency_mask_bins: maximum mask width in feature bins.
        seed: random seed.
    """

    def __init__(
        self,
        time_masks=2,
        time_mask_frames=5,
        frequency_masks=2,
        frequency_mask_bins=5,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        for name, value in (
            ("time_masks", time_masks),
            ("time_mask_frames", time_mask_frames),
            ("frequency_masks", frequency_masks),
            ("frequency_mask_bins", frequency_mask_bins),
        ):
            if value < 0:
                raise ValueError(f"SpecAugment {name} must be >= 0. Received: {value}.")
        self.time_masks = time_masks
        self.time_mask_frames = time_mask_frames
        self.frequency_masks = frequency_masks
        self.frequency_mask_bins = frequency_mask_bins
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def _masks(self, batch, length, count, max_width):
        """`[batch, length]` float, 0 inside any of `count` random bands."""
        positions = tf.range(length)[None, :]
        keep = tf.ones([batch, length], tf.bool)
        for _ in range(count):
            width = keras.random.randint(
                [batch, 1], 0, max_width + 1, seed=self.seed_generator, dtype="int32"
            )
            room = tf.cast(tf.maximum(length - width, 0) + 1, tf.float32)
            fraction = keras.random.uniform([batch, 1], seed=self.seed_generator)
            start = tf.cast(tf.floor(fraction * room), tf.int32)
            keep &= ~((positions >= start) & (positions < start + width))
        return tf.cast(keep, self.compute_dtype)

    def call(self, features, training=False):
        if not training:
            return features
        batch, frames, bins = (
            tf.shape(features)[0],
            tf.shape(features)[1],
            tf.shape(features)[2],
        )
        time = self._masks(batch, frames, self.time_masks, self.time_mask_frames)
        frequency = self._masks(
            batch, bins, self.frequency_masks, self.frequency_mask_bins
        )
        return features * time[:, :, None] * frequency[:, None, :]

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "time_masks": self.time_masks,
            "time_mask_frames": self.time_mask_frames,
            "frequency_masks": self.frequency_masks,
            "frequency_mask_bins": self.frequency_mask_bins,
            "seed": self.seed,
        }


@keras.saving.register_keras_serializable(package="speech_commands")
class SpeechModel(keras.Model):
    """Waveform `[batch, 16000]` -> class probabilities `[batch, classes]`.

    Args:
        num_classes: output classes.
        frontend: `LogMelFrontend` keyword arguments.
        pcen: `PCEN` keyword arguments, applied to the frontend's mel power
            (the frontend then needs `compression="none"`); None: no PCEN.
        feature_mean: per-feature mean for normalization (None: 0).
        feature_variance: per-feature variance (None: 1).
        conv_filters: causal 3x3 convolutions (frequency stride 2) before the
            LSTMs; empty for a plain stacked LSTM.
        lstm_units: stacked `lstm_keras.LSTM` sizes.
        head: `last` (last LSTM output) or `mean` (mean over frames).
        dropout: dropout between LSTMs and before the classifier.
        spec_augment: `SpecAugment` keyword arguments.
        seed: seed for dropout and SpecAugment.
        embedding_weight: the speech-embedding branch's weight in the
            answer (0: no such branch).
        embedding_units: that branch's LSTM units.
        embedding_stride: frames (10 ms) between its embeddings.
        embedding_train_share: the share of each training batch (its first
            clips) that the embedding branch learns from; its frozen stack
            is most of a training step's cost.
    """

    def __init__(
        self,
        num_classes,
        frontend=None,
        pcen=None,
        feature_mean=None,
        feature_variance=None,
        conv_filters=(),
        lstm_units=(96,),
        head="last",
        dropout=0.1,
        spec_augment=None,
        seed=None,
        embedding_weight=0.0,
        embedding_units=128,
        embedding_stride=4,
        embedding_train_share=1.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if head not in ("last", "mean"):
            raise ValueError(
                f"SpeechModel head must be 'last' or 'mean'. Received: {head!r}."
            )
        if not 0 <= embedding_weight < 1:
            raise ValueError(
                "SpeechModel embedding_weight must be in [0, 1). "
                f"Received: {embedding_weight}."
            )
        self.num_classes = num_classes
        self.frontend_config = dict(frontend or {})
        self.pcen_config = None if pcen is None else dict(pcen)
        self.feature_mean = (
            None if feature_mean is None else [float(v) for v in feature_mean]
        )
        self.feature_variance = (
            None if feature_variance is None else [float(v) for v in feature_variance]
        )
        self.conv_filters = tuple(conv_filters)
        self.lstm_units = tuple(lstm_units)
        self.head = head
        self.dropout_rate = dropout
        self.spec_augment_config = dict(spec_augment or {})
        self.seed = seed
        self.embedding_weight = float(embedding_weight)
        self.embedding_units = embedding_units
        self.embedding_stride = embedding_stride
        if not 0 < embedding_train_share <= 1:
            raise ValueError(
                "SpeechModel embedding_train_share must be in (0, 1]. "
                f"Received: {embedding_train_share}."
            )
        self.embedding_train_share = float(embedding_train_share)

        self.frontend = LogMelFrontend(**self.frontend_config, name="frontend")
        self.pcen = None if pcen is None else PCEN(**self.pcen_config, name="pcen")
        num_features = self.frontend.num_features
        self.normalization = keras.layers.Normalization(
            axis=-1,
            mean=self.feature_mean
            if self.feature_mean is not None
            else np.zeros(num_features),
            variance=(
                self.feature_variance
                if self.feature_variance is not None
                else np.ones(num_features)
            ),
            name="normalization",
        )
        # Built now, eagerly: built lazily inside the model's first (symbolic)
        # call, its constant mean would belong to a discarded scratch graph.
        self.normalization.build((None, None, num_features))
        self.spec_augment = SpecAugment(
            **self.spec_augment_config, seed=seed, name="spec_augment"
        )
        self.convolutions, self.conv_norms, self.conv_bins = [], [], [num_features]
        for index, filters in enumerate(self.conv_filters):
            self.convolutions.append(
                keras.layers.Conv2D(
                    filters,
                    _CONV_KERNEL,
                    strides=(1, 2),
                    use_bias=False,
                    name=f"conv_{index}",
                )
            )
            self.conv_norms.append(
                keras.layers.BatchNormalization(name=f"conv_norm_{index}")
            )
            self.conv_bins.append((self.conv_bins[-1] - 1) // 2 + 1)
        self.lstms = [
            LSTM(units, return_sequences=True, name=f"lstm_{index}")
            for index, units in enumerate(self.lstm_units)
        ]
        self.dropouts = [
            keras.layers.Dropout(dropout, seed=seed, name=f"dropout_{index}")
            for index in range(len(self.lstm_units))
        ]
        self.classifier = keras.layers.Dense(
            num_classes, activation="softmax", dtype="float32", name="classifier"
        )
        self.embedding = None
        if self.embedding_weight:
            self.embedding = SpeechEmbedding(embedding_stride, name="speech_embedding")
            self.embedding_branch = [
                keras.layers.LayerNormalization(name="embedding_norm"),
                LSTM(embedding_units, name="embedding_lstm"),
                keras.layers.Dropout(
                    _EMBEDDING_DROPOUT, seed=seed, name="embedding_dropout"
                ),
                keras.layers.Dense(
                    num_classes,
                    activation="softmax",
                    dtype="float32",
                    name="embedding_classifier",
                ),
            ]

    # One function per stage, shared by `call` and `stream_step`, so the two
    # paths cannot drift apart.
    def _features(self, features, training):
        if self.pcen is not None:
            features = self.pcen(features)
        features = self.normalization(features)  # [batch, frames, features]
        return self.spec_augment(features, training=training)

    def _convolve(self, index, padded, training):
        """Conv `index` on frames already carrying their causal left context."""
        outputs = self.convolutions[index](padded)
        return keras.activations.relu(
            self.conv_norms[index](outputs, training=training)
        )

    def _flatten(self, frames):
        shape = tf.shape(
            frames
        )  # [batch, frames, bins, channels] -> [batch, frames, bins*ch]
        return tf.reshape(
            frames, [shape[0], shape[1], frames.shape[2] * frames.shape[3]]
        )

    def _classify(self, pooled, training):
        return self.classifier(self.dropouts[-1](pooled, training=training))

    def call(self, waveform, training=False):
        spectrogram = self._spectrogram_branch(waveform, training)
        if self.embedding is None:
            return spectrogram
        return self._fuse(spectrogram, self._embedding_branch(waveform, training))

    def _embedding_branch(self, waveform, training):
        x = self.embedding(waveform)  # [batch, steps, 96]
        for layer in self.embedding_branch:
            x = layer(x, training=training)
        return x

    def _fuse(self, spectrogram, embedding):
        """The branches' weighted geometric mean, renormalized."""
        return tf.nn.softmax(
            (1.0 - self.embedding_weight)
            * tf.math.log(tf.maximum(spectrogram, _LOG_FLOOR))
            + self.embedding_weight * tf.math.log(tf.maximum(embedding, _LOG_FLOOR))
        )

    def train_step(self, data):
        """Each branch learns from its own loss, as two separate models would
        (as the fusion was measured: README), the embedding branch from the
        first `embedding_train_share` of the batch; the metrics score the
        fused answer on those clips. Otherwise Keras's own step (loss
        scaling, distribution)."""
        if self.embedding is None:
            return super().train_step(data)
        waveform, labels = data[0], data[1]
        share = tf.shape(waveform)[0]
        if self.embedding_train_share < 1:
            share = tf.cast(
                tf.math.ceil(self.embedding_train_share * tf.cast(share, tf.float32)),
                tf.int32,
            )
        with tf.GradientTape() as tape:
            spectrogram = self._spectrogram_branch(waveform, training=True)
            embedding = self._embedding_branch(waveform[:share], training=True)
            # Each already divided by the number of replicas.
            loss = self.compute_loss(y=labels, y_pred=spectrogram) + self.compute_loss(
                y=labels[:share], y_pred=embedding
            )
            scaled = self.optimizer.scale_loss(loss)
        variables = self.trainable_variables
        self.optimizer.apply(tape.gradient(scaled, variables), variables)
        fused = self._fuse(spectrogram[:share], embedding)
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss * replicas)
            else:
                metric.update_state(labels[:share], fused)
        return {metric.name: metric.result() for metric in self.metrics}

    def _spectrogram_branch(self, waveform, training):
        x = self._features(self.frontend(waveform), training)
        if self.convolutions:
            x = x[..., None]  # [batch, frames, features, 1]
            for index in range(len(self.convolutions)):
                # Causal in time (past frames only), "same" in frequency.
                padded = tf.pad(x, [[0, 0], [_CONV_TIME_CONTEXT, 0], [1, 1], [0, 0]])
                x = self._convolve(index, padded, training)
            x = self._flatten(x)
        for index, lstm in enumerate(self.lstms):
            if index:
                x = self.dropouts[index - 1](x, training=training)
            x = lstm(x, training=training)  # [batch, frames, units]
        pooled = x[:, -1] if self.head == "last" else tf.reduce_mean(x, axis=1)
        return self._classify(pooled, training)

    def state_shapes(self) -> dict[str, tuple[int, ...]]:
        """Streaming state names and shapes without the batch dimension."""
        shapes = {"frontend_buffer": (self.frontend.buffer_samples,)}
        if self.pcen is not None:
            shapes["pcen_smoother"] = (self.frontend.num_mel_bins,)
        channels = [1, *self.conv_filters]
        for index in range(len(self.conv_filters)):
            shapes[f"conv_{index}_frames"] = (
                _CONV_TIME_CONTEXT,
                self.conv_bins[index] + 2,  # frequency padding included
                channels[index],
            )
        for index, units in enumerate(self.lstm_units):
            shapes[f"lstm_{index}_h"] = (units,)
            shapes[f"lstm_{index}_c"] = (units,)
        if self.head == "mean":
            shapes["head_sum"] = (self.lstm_units[-1],)
            shapes["head_frames"] = (1,)
        if self.embedding is not None:
            for name, shape in self.embedding.state_shapes().items():
                shapes[f"embedding_{name}"] = shape
            shapes["embedding_lstm_h"] = (self.embedding_units,)
            shapes["embedding_lstm_c"] = (self.embedding_units,)
        return shapes

    def initial_states(self, batch_size) -> dict[str, tf.Tensor]:
        """Zero states: the start of a stream."""
        return {
            name: tf.zeros([batch_size, *shape], self.compute_dtype)
            for name, shape in self.state_shapes().items()
        }

    def stream_step(self, chunk, states):
        """Runs `chunk` (`[batch, k * frame_step]` samples) with explicit state.

        Args:
            chunk: float32 samples; k whole frames (k >= 1).
            states: dict from `initial_states` or a previous call.

        Returns:
            `(probabilities [batch, classes], new states)`: the probabilities
            as if the stream so far were a whole clip ending now.
        """
        new_states = {}
        features, new_states["frontend_buffer"] = self.frontend.step(
            chunk, states["frontend_buffer"]
        )
        if self.pcen is not None:
            features, new_states["pcen_smoother"] = self.pcen.step(
                features, states["pcen_smoother"]
            )
        features = self.normalization(features)
        x = self.spec_augment(features, training=False)
        if self.convolutions:
            x = tf.pad(x[..., None], [[0, 0], [0, 0], [1, 1], [0, 0]])
            for index in range(len(self.convolutions)):
                name = f"conv_{index}_frames"
                joined = tf.concat([states[name], x], axis=1)
                new_states[name] = joined[:, -_CONV_TIME_CONTEXT:]
                x = self._convolve(index, joined, training=False)
                if index + 1 < len(self.convolutions):
                    x = tf.pad(x, [[0, 0], [0, 0], [1, 1], [0, 0]])
            x = self._flatten(x)
        for index, lstm in enumerate(self.lstms):
            x, (h, c) = lstm.step(
                x, [states[f"lstm_{index}_h"], states[f"lstm_{index}_c"]]
            )
            new_states[f"lstm_{index}_h"], new_states[f"lstm_{index}_c"] = h, c
        if self.head == "last":
            pooled = x[:, -1]
        else:
            new_states["head_sum"] = states["head_sum"] + tf.reduce_sum(x, axis=1)
            frames = tf.cast(tf.shape(x)[1], x.dtype)
            new_states["head_frames"] = states["head_frames"] + frames
            pooled = new_states["head_sum"] / new_states["head_frames"]
        probabilities = self._classify(pooled, training=False)
        if self.embedding is None:
            return probabilities, new_states
        embedding = self._embedding_stream_step(chunk, states, new_states)
        return self._fuse(probabilities, embedding), new_states

    def _embedding_stream_step(self, chunk, states, new_states):
        """The embedding branch's `stream_step`: fills `new_states`, returns
        its probabilities (before its first window: those of zero states)."""
        names = self.embedding.state_shapes()
        embeddings, mask, embedding_states = self.embedding.step(
            chunk, {name: states[f"embedding_{name}"] for name in names}
        )
        for name in names:
            new_states[f"embedding_{name}"] = embedding_states[name]
        norm, lstm, dropout, classifier = self.embedding_branch
        h, c = states["embedding_lstm_h"], states["embedding_lstm_c"]

        def run():
            _, (new_h, new_c) = lstm.step(norm(embeddings), [h, c], mask=mask)
            return new_h, new_c

        h, c = tf.cond(tf.reduce_any(mask), run, lambda: (h, c))
        new_states["embedding_lstm_h"], new_states["embedding_lstm_c"] = h, c
        return classifier(dropout(h, training=False))

    def get_config(self):
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "frontend": self.frontend_config,
            "pcen": self.pcen_config,
            "feature_mean": self.feature_mean,
            "feature_variance": self.feature_variance,
            "conv_filters": list(self.conv_filters),
            "lstm_units": list(self.lstm_units),
            "head": self.head,
            "dropout": self.dropout_rate,
            "spec_augment": self.spec_augment_config,
            "seed": self.seed,
            "embedding_weight": self.embedding_weight,
            "embedding_units": self.embedding_units,
            "embedding_stride": self.embedding_stride,
            "embedding_train_share": self.embedding_train_share,
        }


def frontend_kwargs(config: SpeechConfig) -> dict:
    model = config.model
    return {
        "frame_length": model.frame_length,
        "frame_step": model.frame_step,
        "fft_length": model.fft_length,
        "num_mel_bins": model.num_mel_bins,
        "num_mfcc": model.num_mfcc if model.features == "mfcc" else 0,
        "compression": "none" if model.features == "pcen" else "log",
    }


def pcen_kwargs(config: SpeechConfig) -> dict | None:
    model = config.model
    if model.features != "pcen":
        return None
    return {
        "time_constant": model.pcen_time_constant,
        "frame_rate": 16000 / model.frame_step,
    }


def feature_statistics(
    config: SpeechConfig, waveforms: np.ndarray
) -> tuple[list, list]:
    """Per-feature mean and variance of the frontend on training clips."""
    features = LogMelFrontend(**frontend_kwargs(config))(
        tf.constant(waveforms, tf.float32)
    )
    if pcen_kwargs(config) is not None:
        features = PCEN(**pcen_kwargs(config))(features)
    features = tf.reshape(features, [-1, features.shape[-1]]).numpy().astype(np.float64)
    return features.mean(axis=0).tolist(), np.maximum(
        features.var(axis=0), 1e-6
    ).tolist()


def build_speech_model(
    config: SpeechConfig,
    num_classes: int,
    train_waveforms: np.ndarray | None = None,
    build: bool = True,
) -> SpeechModel:
    """An uncompiled `SpeechModel` for `config`, built unless `build=False`.

    `train_waveforms` (float32 `[clips, 16000]`) give the feature
    normalization statistics.
    """
    model_config = config.model
    mean = variance = None
    if train_waveforms is not None and len(train_waveforms):
        mean, variance = feature_statistics(config, train_waveforms)
    model = SpeechModel(
        num_classes=num_classes,
        frontend=frontend_kwargs(config),
        pcen=pcen_kwargs(config),
        feature_mean=mean,
        feature_variance=variance,
        conv_filters=model_config.conv_filters
        if model_config.architecture == "crnn"
        else (),
        lstm_units=model_config.lstm_units,
        head=model_config.head,
        dropout=model_config.dropout,
        spec_augment={
            "time_masks": model_config.time_masks,
            "time_mask_frames": model_config.time_mask_frames,
            "frequency_masks": model_config.frequency_masks,
            "frequency_mask_bins": model_config.frequency_mask_bins,
        },
        seed=config.train.seed,
        embedding_weight=model_config.embedding_weight,
        embedding_units=model_config.embedding_units,
        embedding_stride=model_config.embedding_stride,
        embedding_train_share=model_config.embedding_train_share,
        name=model_config.architecture,
    )
    if build:
        model(tf.zeros([1, 16000]))
        if model.embedding is not None:
            model.embedding.load_pretrained_weights()
    return model


def build_model(config: SpeechConfig, info) -> SpeechModel:
    """The compiled model to train: `SpeechModel` with Adam on a cosine decay.

    Args:
        config: the resolved `SpeechConfig`.
        info: the data's `SpeechInfo` (labels, counts, training clips for the
            feature statistics).
    """
    model = build_speech_model(config, len(info.labels), info.samples["train"])
    steps_per_epoch = -(-sum(info.counts["train"].values()) // config.train.batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(
        config.train.learning_rate,
        decay_steps=max(1, steps_per_epoch * config.train.epochs),
        alpha=0.05,
    )
    model.compile(
        optimizer=keras.optimizers.Adam(schedule, **optimizer_options(config.train)),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        # The LSTM layers opt out of XLA (cuDNN is chosen at run time);
        # say so rather than have Keras warn.
        jit_compile=False,
    )
    return model
