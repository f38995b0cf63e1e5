"""String-in, string-out serving module: everything runs inside the graph.

`serving_default` takes `sentences: tf.string [batch]` and returns
`translations: tf.string [batch]` and `scores: tf.float32 [batch]` (the
model's summed log-probability of each translation). Inside: Unicode
normalization, SentencePiece tokenization (`tensorflow_text`), truncation to
`data.max_source_length` tokens, the encoder, beam search and
detokenization. `translate_greedy` is the same with greedy decoding.

Documented edge cases: an empty string is translated from the lone EOS token
(the model's guess for "nothing", usually a short sentence); characters never
seen in training become SentencePiece's unknown piece on the source side and
are never generated on the target side; long inputs are truncated to the
first `max_source_length - 1` pieces (plus EOS); a translation has at most
`model.max_decode_length` pieces.

The export needs only `tensorflow` and `tensorflow_text` to load.
"""

from __future__ import annotations

import tensorflow as tf

from lstm_keras.runner import ServingModule

from . import decoding, tokenizer
from .tokenizer import BOS_ID, EOS_ID, PAD_ID


class TranslationServingModule(ServingModule):
    """The trained `Translator` with its tokenizers and decoders.

    Args:
        translator: the trained `Translator`.
        tokenizers: the run's `Tokenizers`.
        config: the resolved `TranslationConfig`.
    """

    def __init__(self, translator, tokenizers, config):
        super().__init__(name="translation")
        self.translator = translator
        self.source_tokenizer = tokenizer.graph_tokenizer(tokenizers.source_model)
        self.target_tokenizer = tokenizer.graph_tokenizer(tokenizers.target_model)
        self._normalization = config.data.unicode_normalization
        self._max_source_length = config.data.max_source_length
        self._beam_size = config.model.beam_size
        self._length_penalty = config.model.length_penalty
        self._max_decode_length = config.model.max_decode_length
        spec = [tf.TensorSpec([None], tf.string, name="sentences")]
        self.translate = self.add_signature(
            "serving_default", self._translate_beam, spec
        )
        self.translate_greedy = self.add_signature(
            "translate_greedy", self._translate_greedy, spec
        )

    def source_ids(self, sentences):
        """`[batch, time]` int32 source ids ending in EOS, 0-padded."""
        import tensorflow_text

        if self._normalization != "none":
            sentences = tensorflow_text.normalize_utf8(sentences, self._normalization)
        pieces = self.source_tokenizer.tokenize(sentences)[
            :, : self._max_source_length - 1
        ]
        eos = tf.fill([pieces.nrows(), 1], tf.constant(EOS_ID, tf.int32))
        ids = tf.concat([pieces, tf.RaggedTensor.from_tensor(eos)], axis=1)
        return ids.to_tensor(default_value=PAD_ID)

    def detokenize(self, tokens):
        """Target ids `[batch, steps]` -> strings, special ids removed."""
        keep = tf.logical_and(
            tf.logical_and(tf.not_equal(tokens, PAD_ID), tf.not_equal(tokens, EOS_ID)),
            tf.not_equal(tokens, BOS_ID),
        )
        return self.target_tokenizer.detokenize(tf.ragged.boolean_mask(tokens, keep))

    def _translate_beam(self, sentences):
        def translate():
            tokens, scores = decoding.beam_search(
                self.translator,
                self.source_ids(sentences),
                self._beam_size,
                self._length_penalty,
                self._max_decode_length,
            )
            return self.detokenize(tokens), scores

        return _unless_empty(sentences, translate)

    def _translate_greedy(self, sentences):
        def translate():
            tokens, scores, _ = decoding.greedy_decode(
                self.translator, self.source_ids(sentences), self._max_decode_length
            )
            return self.detokenize(tokens), scores

        return _unless_empty(sentences, translate)


def _unless_empty(sentences, translate):
    """Runs `translate` for a non-empty batch; an empty batch gives empty outputs.

    (The encoder's LSTM cannot run on zero sentences.)
    """
    translations, scores = tf.cond(
        tf.size(sentences) > 0,
        translate,
        lambda: (tf.zeros([0], tf.string), tf.zeros([0], tf.float32)),
    )
    return {"translations": translations, "scores": scores}
