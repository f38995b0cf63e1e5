"""LSTM encoder-decoder with attention, trained with teacher forcing.

Encoder: embedding, stacked bidirectional `lstm_keras.LSTM` layers. Decoder:
embedding, stacked `lstm_keras.LSTM` layers started from the encoder's final
states (through a dense bridge), then attention over the encoder outputs, an
attentional layer `tanh(W [context; h])` and the vocabulary projection
(Luong et al. 2015 without input feeding: the decoder LSTM does not read the
previous attentional vector, so training runs each decoder layer once over
the whole target, and decoding steps it with `LSTM.step`).
"""

from __future__ import annotations

import keras
import tensorflow as tf

import lstm_keras
from lstm_keras.runner import optimizer_options

from .tokenizer import PAD_ID

_PACKAGE = "lstm_keras_translation"


@keras.saving.register_keras_serializable(package=_PACKAGE)
class Attention(keras.layers.Layer):
    """Luong "general" (multiplicative, scaled by 1/sqrt(units)) or Bahdanau
    (additive) attention.

    Args:
        units: size of the projected keys (and of the additive hidden layer).
        mode: `luong` or `bahdanau`.

    Call arguments:
        query: `[batch, target_time, query_dim]` decoder outputs.
        keys: `[batch, source_time, units]` from `project_keys(memory)`.
        memory: `[batch, source_time, memory_dim]` encoder outputs.
        memory_mask: `[batch, source_time]` bool, True at real tokens.

    Returns `(context [batch, target_time, memory_dim], weights [batch,
    target_time, source_time])`.
    """

    def __init__(self, units, mode="luong", **kwargs):
        super().__init__(**kwargs)
        if mode not in ("luong", "bahdanau"):
            raise ValueError(
                f"model.attention must be luong or bahdanau. Received: mode={mode!r}"
            )
        self.units = units
        self.mode = mode
        # Masks arrive as an explicit argument; none is propagated further.
        self.supports_masking = True
        self.key_projection = keras.layers.Dense(units, use_bias=False, name="keys")
        if mode == "bahdanau":
            self.query_projection = keras.layers.Dense(units, name="query")
            self.score_vector = keras.layers.Dense(1, use_bias=False, name="score")

    def compute_mask(self, *args, **kwargs):
        return None

    def project_keys(self, memory):
        return self.key_projection(memory)

    def call(self, query, keys, memory, memory_mask):
        if self.mode == "luong":
            # Scaled like Transformer dot products: unscaled scores saturated the
            # softmax early in training and attention collapsed onto the first
            # source piece (seen on the built-in corpus).
            scores = tf.einsum("btu,bsu->bts", query, keys) * (self.units**-0.5)
        else:
            hidden = tf.tanh(
                self.query_projection(query)[:, :, None, :] + keys[:, None, :, :]
            )  # [batch, target_time, source_time, units]
            scores = tf.squeeze(self.score_vector(hidden), -1)
        scores = tf.where(
            memory_mask[:, None, :], scores, tf.cast(-1e9, scores.dtype)
        )  # [batch, target_time, source_time]
        weights = tf.nn.softmax(scores, axis=-1)
        context = tf.einsum("bts,bsd->btd", weights, tf.cast(memory, weights.dtype))
        return context, weights

    def get_config(self):
        return {**super().get_config(), "units": self.units, "mode": self.mode}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class TiedProjection(keras.layers.Layer):
    """Vocabulary logits from the target embedding matrix plus a bias.

    Tying the decoder's input embedding and output projection (Press & Wolf
    2017) removes a vocabulary-sized matrix, a regularizer on small corpora.

    Args:
        vocabulary_size: number of target pieces.

    Call arguments:
        inputs: `[batch, time, embedding_dim]`.
        embeddings: `[vocabulary_size, embedding_dim]`.
    """

    def __init__(self, vocabulary_size, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary_size = vocabulary_size

    def build(self, input_shape):
        self.bias = self.add_weight(
            shape=(self.vocabulary_size,), initializer="zeros", name="bias"
        )

    def call(self, inputs, embeddings):
        embeddings = tf.cast(embeddings, inputs.dtype)
        return tf.einsum("btd,vd->btv", inputs, embeddings) + tf.cast(
            self.bias, inputs.dtype
        )

    def get_config(self):
        return {**super().get_config(), "vocabulary_size": self.vocabulary_size}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class Translator(keras.Model):
    """The encoder-decoder; `call((source_ids, decoder_input_ids))` gives logits.

    Args:
        source_vocabulary_size: source SentencePiece vocabulary size.
        target_vocabulary_size: target SentencePiece vocabulary size.
        embedding_dim: embedding size.
        units: LSTM units (per direction in the encoder).
        encoder_layers: stacked bidirectional encoder layers.
        decoder_layers: stacked decoder layers.
        attention: `luong` or `bahdanau`.
        dropout: dropout rate on embeddings and layer outputs.
        use_cudnn: passed to every `lstm_keras.LSTM` ("auto", True or False).
        tie_embeddings: the output projection reuses the target embedding
            matrix (the attentional layer then has `embedding_dim` units).

    Call arguments:
        inputs: `(source_ids [batch, source_time], decoder_input_ids [batch,
            target_time])` int32, 0 is padding; decoder inputs start with BOS.
        training: dropout on or off.
    """

    def __init__(
        self,
        source_vocabulary_size,
        target_vocabulary_size,
        embedding_dim=256,
        units=256,
        encoder_layers=1,
        decoder_layers=1,
        attention="luong",
        dropout=0.0,
        use_cudnn="auto",
        tie_embeddings=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if encoder_layers < 1 or decoder_layers < 1:
            raise ValueError(
                "model.encoder_layers and model.decoder_layers must be >= 1. "
                f"Received: {encoder_layers}, {decoder_layers}"
            )
        self.source_vocabulary_size = source_vocabulary_size
        self.target_vocabulary_size = target_vocabulary_size
        self.embedding_dim = embedding_dim
        self.units = units
        self.encoder_layers = encoder_layers
        self.decoder_layers = decoder_layers
        self.attention_mode = attention
        self.dropout = dropout
        self.use_cudnn = use_cudnn
        self.tie_embeddings = tie_embeddings

        self.source_embedding = keras.layers.Embedding(
            source_vocabulary_size, embedding_dim, name="source_embedding"
        )
        self.target_embedding = keras.layers.Embedding(
            target_vocabulary_size, embedding_dim, name="target_embedding"
        )
        self.encoder = [
            # Both directions in one layer call (one cuDNN call on a GPU);
            # the weights are keras.layers.Bidirectional's.
            lstm_keras.Bidirectional(
                lstm_keras.LSTM(
                    units,
                    return_sequences=True,
                    return_state=True,
                    use_cudnn=use_cudnn,
                ),
                name=f"encoder_{index}",
            )
            for index in range(encoder_layers)
        ]
        # Maps the encoder's final [forward; backward] state to each decoder layer.
        self.bridge = [
            (
                keras.layers.Dense(units, activation="tanh", name=f"bridge_h_{index}"),
                keras.layers.Dense(units, name=f"bridge_c_{index}"),
            )
            for index in range(decoder_layers)
        ]
        self.decoder = [
            lstm_keras.LSTM(
                units,
                return_sequences=True,
                use_cudnn=use_cudnn,
                name=f"decoder_{index}",
            )
            for index in range(decoder_layers)
        ]
        self.attention = Attention(units, attention, name="attention")
        self.attentional = keras.layers.Dense(
            embedding_dim if tie_embeddings else units,
            activation="tanh",
            use_bias=False,
            name="attentional",
        )
        if tie_embeddings:
            self.output_projection = TiedProjection(
                target_vocabulary_size, name="output_projection"
            )
        else:
            self.output_projection = keras.layers.Dense(
                target_vocabulary_size, name="output_projection"
            )
        self.dropout_layer = keras.layers.Dropout(dropout)

    def encode(self, source_ids, training=False):
        """Returns `(memory, keys, memory_mask, decoder_states)` for the source."""
        memory_mask = tf.not_equal(source_ids, PAD_ID)
        x = self.dropout_layer(self.source_embedding(source_ids), training=training)
        for index, layer in enumerate(self.encoder):
            x, forward_h, forward_c, backward_h, backward_c = layer(
                x, mask=memory_mask, training=training
            )
            if index + 1 < len(self.encoder):
                x = self.dropout_layer(x, training=training)
        final_h = tf.concat([forward_h, backward_h], -1)
        final_c = tf.concat([forward_c, backward_c], -1)
        states = [
            (dense_h(final_h), dense_c(final_c)) for dense_h, dense_c in self.bridge
        ]
        memory = x  # [batch, source_time, 2 * units]
        return memory, self.attention.project_keys(memory), memory_mask, states

    def _attend(self, decoder_outputs, keys, memory, memory_mask, training=False):
        context, weights = self.attention(decoder_outputs, keys, memory, memory_mask)
        attentional = self.attentional(tf.concat([context, decoder_outputs], -1))
        attentional = self.dropout_layer(attentional, training=training)
        if self.tie_embeddings:
            logits = self.output_projection(
                attentional, self.target_embedding.embeddings
            )
        else:
            logits = self.output_projection(attentional)
        return logits, weights

    def call(self, inputs, training=False):
        source_ids, decoder_input_ids = inputs
        memory, keys, memory_mask, states = self.encode(source_ids, training)
        target_mask = tf.not_equal(decoder_input_ids, PAD_ID)
        x = self.dropout_layer(
            self.target_embedding(decoder_input_ids), training=training
        )
        for layer, (h, c) in zip(self.decoder, states, strict=True):
            x = layer(x, initial_state=[h, c], mask=target_mask, training=training)
        logits, _ = self._attend(x, keys, memory, memory_mask, training)
        return logits  # [batch, target_time, target_vocabulary]

    def decode_step(self, tokens, states, memory, keys, memory_mask):
        """One decoder step for `tokens [batch]`.

        Returns `(log_probs [batch, vocabulary], new_states, attention_weights
        [batch, source_time])`; `states` is a list of `(h, c)` per layer.
        """
        x = self.target_embedding(tokens[:, None])  # [batch, 1, embedding]
        new_states = []
        for layer, (h, c) in zip(self.decoder, states, strict=True):
            x, (h, c) = layer.step(x, [h, c])
            new_states.append((h, c))
        logits, weights = self._attend(x, keys, memory, memory_mask)
        log_probs = tf.nn.log_softmax(tf.cast(logits[:, 0], tf.float32), axis=-1)
        return log_probs, new_states, weights[:, 0]

    def get_config(self):
        return {
            **super().get_config(),
            "source_vocabulary_size": self.source_vocabulary_size,
            "target_vocabulary_size": self.target_vocabulary_size,
            "embedding_dim": self.embedding_dim,
            "units": self.units,
            "encoder_layers": self.encoder_layers,
            "decoder_layers": self.decoder_layers,
            "attention": self.attention_mode,
            "dropout": self.dropout,
            "use_cudnn": self.use_cudnn,
            "tie_embeddings": self.tie_embeddings,
        }


@keras.saving.register_keras_serializable(package=_PACKAGE)
class MaskedCrossEntropy(keras.losses.Loss):
    """Token cross-entropy with label smoothing, averaged over non-padding labels.

    Args:
        label_smoothing: mass spread uniformly over the vocabulary.
    """

    def __init__(self, label_smoothing=0.0, name="masked_cross_entropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.label_smoothing = label_smoothing

    def call(self, y_true, y_pred):
        labels = tf.cast(y_true, tf.int32)
        log_probs = tf.nn.log_softmax(tf.cast(y_pred, tf.float32), axis=-1)
        vocabulary = tf.shape(log_probs)[-1]
        smoothing = self.label_smoothing
        targets = tf.one_hot(labels, vocabulary) * (1.0 - smoothing) + (
            smoothing / tf.cast(vocabulary, tf.float32)
        )
        token_loss = -tf.reduce_sum(targets * log_probs, axis=-1)  # [batch, time]
        mask = tf.cast(tf.not_equal(labels, PAD_ID), tf.float32)
        return tf.reduce_sum(token_loss * mask) / tf.maximum(tf.reduce_sum(mask), 1.0)

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


@keras.saving.register_keras_serializable(package=_PACKAGE)
def masked_accuracy(y_true, y_pred):
    """Share of non-padding target tokens predicted exactly (teacher forcing)."""
    labels = tf.cast(y_true, tf.int32)
    predictions = tf.argmax(y_pred, axis=-1, output_type=tf.int32)
    mask = tf.cast(tf.not_equal(labels, PAD_ID), tf.float32)
    correct = tf.cast(tf.equal(labels, predictions), tf.float32) * mask
    return tf.reduce_sum(correct) / tf.maximum(tf.reduce_sum(mask), 1.0)


def build_translator(model_config, source_vocabulary_size, target_vocabulary_size):
    """A built (weights created), uncompiled `Translator` for the config."""
    translator = Translator(
        source_vocabulary_size,
        target_vocabulary_size,
        embedding_dim=model_config.embedding_dim,
        units=model_config.units,
        encoder_layers=model_config.encoder_layers,
        decoder_layers=model_config.decoder_layers,
        attention=model_config.attention,
        dropout=model_config.dropout,
        use_cudnn="auto" if model_config.use_cudnn else False,
        tie_embeddings=model_config.tie_embeddings,
    )
    # Create the weights now so checkpoints can be restored before any fit.
    dummy = tf.ones([1, 2], tf.int32)
    translator((dummy, dummy))
    return translator


@keras.saving.register_keras_serializable(package=_PACKAGE)
class LinearDecayAtEnd(keras.optimizers.schedules.LearningRateSchedule):
    """`peak` for the first steps, then linear decay over the last `decay_steps`
    of `total_steps` down to `peak * decay_to` (held there afterwards).

    Args:
        peak: the learning rate until the decay starts.
        total_steps: the training steps of the whole run.
        decay_steps: how many of the last steps decay (0: constant `peak`).
        decay_to: the final learning rate as a share of `peak`.
    """

    def __init__(self, peak, total_steps, decay_steps, decay_to=0.1):
        self.peak = float(peak)
        self.total_steps = int(total_steps)
        self.decay_steps = int(decay_steps)
        self.decay_to = float(decay_to)

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        start = float(self.total_steps - self.decay_steps)
        progress = tf.clip_by_value(
            (step - start) / float(max(self.decay_steps, 1)), 0.0, 1.0
        )
        return self.peak * (1.0 - (1.0 - self.decay_to) * progress)

    def get_config(self):
        return {
            "peak": self.peak,
            "total_steps": self.total_steps,
            "decay_steps": self.decay_steps,
            "decay_to": self.decay_to,
        }


def compile_translator(
    translator, model_config, learning_rate, epsilon=1e-7, optimizer_kwargs=None
):
    """Compiles with Adam, the masked smoothed loss and masked accuracy.

    `learning_rate`: a float or a `LearningRateSchedule`; `epsilon`: Adam's;
    `optimizer_kwargs`: more of Adam's arguments (`optimizer_options`).
    """
    translator.compile(
        optimizer=keras.optimizers.Adam(
            learning_rate, epsilon=epsilon, clipnorm=5.0, **(optimizer_kwargs or {})
        ),
        loss=MaskedCrossEntropy(model_config.label_smoothing),
        metrics=[masked_accuracy],
    )
    return translator


def build_model(config, info) -> Translator:
    """The compiled `Translator` to train, sized for the run's tokenizers.

    Args:
        config: the resolved `TranslationConfig`.
        info: the data's `TranslationInfo`.
    """
    tokenizers = info.tokenizers
    translator = build_translator(
        config.model,
        tokenizers.source_vocabulary_size,
        tokenizers.target_vocabulary_size,
    )
    train = config.train
    learning_rate = train.learning_rate
    if train.decay_fraction > 0:
        total = info.train_batches * train.epochs
        learning_rate = LinearDecayAtEnd(
            train.learning_rate,
            total,
            round(total * train.decay_fraction),
            train.decay_to,
        )
    return compile_translator(
        translator,
        config.model,
        learning_rate,
        train.adam_epsilon,
        optimizer_options(train),
    )
