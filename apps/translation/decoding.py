"""Greedy and batched beam-search decoding in TensorFlow ops (SavedModel-safe).

Both decoders step the `Translator` one token at a time (`Translator.
decode_step`, which calls the decoder layers' `LSTM.step`) inside
`tf.while_loop`, never generate padding, BOS or the unknown piece, and stop
when every hypothesis has produced EOS or `max_length` tokens were generated.
Returned tokens are `[batch, steps]` int32 (EOS then padding after the end);
scores are the summed log-probabilities of the returned tokens (EOS included),
the model's own score of the translation.
"""

from __future__ import annotations

import tensorflow as tf

from .tokenizer import BOS_ID, EOS_ID, PAD_ID, UNK_ID

_NEG_INF = -1e9


def _forbid_special(log_probs):
    """Masks tokens a translation must never contain (padding, BOS, unknown)."""
    vocabulary = tf.shape(log_probs)[-1]
    forbidden = tf.reduce_sum(
        tf.one_hot([PAD_ID, BOS_ID, UNK_ID], vocabulary, dtype=log_probs.dtype), 0
    )
    return tf.where(forbidden > 0, tf.cast(_NEG_INF, log_probs.dtype), log_probs)


def greedy_decode(model, source_ids, max_length):
    """Greedy decoding.

    Args:
        model: a `Translator`.
        source_ids: `[batch, source_time]` int32, ending in EOS, 0-padded.
        max_length: scalar int, most tokens generated (EOS included).

    Returns:
        `(tokens [batch, steps], scores [batch], attention [batch, steps,
        source_time])`.
    """
    memory, keys, memory_mask, states = model.encode(source_ids)
    batch = tf.shape(source_ids)[0]
    max_length = tf.cast(max_length, tf.int32)

    def condition(step, tokens, states, finished, scores, history, attention):
        return tf.logical_and(
            step < max_length, tf.logical_not(tf.reduce_all(finished))
        )

    def body(step, tokens, states, finished, scores, history, attention):
        log_probs, states, weights = model.decode_step(
            tokens, states, memory, keys, memory_mask
        )
        log_probs = _forbid_special(log_probs)
        next_tokens = tf.argmax(log_probs, axis=-1, output_type=tf.int32)
        token_scores = tf.gather(log_probs, next_tokens, batch_dims=1)
        next_tokens = tf.where(finished, PAD_ID, next_tokens)
        scores += tf.where(finished, 0.0, token_scores)
        finished = tf.logical_or(finished, tf.equal(next_tokens, EOS_ID))
        return (
            step + 1,
            next_tokens,
            states,
            finished,
            scores,
            history.write(step, next_tokens),
            attention.write(step, weights),
        )

    _, _, _, _, scores, history, attention = tf.while_loop(
        condition,
        body,
        (
            tf.constant(0),
            tf.fill([batch], BOS_ID),
            states,
            tf.zeros([batch], tf.bool),
            tf.zeros([batch], tf.float32),
            tf.TensorArray(tf.int32, size=0, dynamic_size=True),
            tf.TensorArray(tf.float32, size=0, dynamic_size=True),
        ),
    )
    tokens = _stack_steps(history, [batch])
    attention = tf.transpose(
        _stack_steps(attention, [batch, tf.shape(source_ids)[1]]), [1, 0, 2]
    )
    return tf.transpose(tokens), scores, attention


def _stack_steps(array, element_shape):
    """Stacks a TensorArray, giving `[0, ...]` when no step ran."""
    return tf.cond(
        array.size() > 0,
        array.stack,
        lambda: tf.zeros(tf.concat([[0], element_shape], 0), array.dtype),
    )


def length_penalty(lengths, alpha):
    """GNMT length penalty ((5 + length) / 6) ** alpha (Wu et al. 2016)."""
    return tf.pow((5.0 + tf.cast(lengths, tf.float32)) / 6.0, alpha)


def beam_search(model, source_ids, beam_size, alpha, max_length):
    """Batched beam search with the GNMT length penalty.

    Hypotheses are ranked by `log_prob / length_penalty(length, alpha)`;
    finished hypotheses stay in the beam (extended only by EOS at no cost)
    until every beam of every sentence is finished or `max_length` tokens
    were generated. With `beam_size=1` this is greedy decoding.

    Args:
        model: a `Translator`.
        source_ids: `[batch, source_time]` int32, ending in EOS, 0-padded.
        beam_size: Python int, beams per sentence.
        alpha: length penalty exponent (0: rank by log-probability).
        max_length: scalar int, most tokens generated (EOS included).

    Returns:
        `(tokens [batch, steps], scores [batch])`, scores being the best
        hypothesis' summed log-probability (without the length penalty).
    """
    memory, keys, memory_mask, states = model.encode(source_ids)
    batch = tf.shape(source_ids)[0]
    flat = batch * beam_size
    max_length = tf.cast(max_length, tf.int32)
    alpha = tf.cast(alpha, tf.float32)

    def tile(tensor):  # [batch, ...] -> [batch * beam, ...], beams of a row adjacent
        return tf.repeat(tensor, beam_size, axis=0)

    memory, keys, memory_mask = tile(memory), tile(keys), tile(memory_mask)
    states = [(tile(h), tile(c)) for h, c in states]
    # Only beam 0 is live at the start, so the first step does not pick the
    # same token beam_size times.
    scores = tf.tile(
        tf.concat([[0.0], tf.fill([beam_size - 1], _NEG_INF)], 0)[None], [batch, 1]
    )

    def condition(step, tokens, states, finished, scores, lengths, history):
        return tf.logical_and(
            step < max_length, tf.logical_not(tf.reduce_all(finished))
        )

    def body(step, tokens, states, finished, scores, lengths, history):
        log_probs, states, _ = model.decode_step(
            tf.reshape(tokens, [flat]), states, memory, keys, memory_mask
        )
        vocabulary = tf.shape(log_probs)[-1]
        log_probs = tf.reshape(_forbid_special(log_probs), [batch, beam_size, -1])
        # A finished hypothesis continues only with EOS, at no cost.
        eos_only = tf.where(
            tf.equal(tf.range(vocabulary), EOS_ID), 0.0, _NEG_INF
        )  # [vocabulary]
        log_probs = tf.where(finished[:, :, None], eos_only, log_probs)
        totals = scores[:, :, None] + log_probs  # [batch, beam, vocabulary]
        new_lengths = lengths + tf.cast(tf.logical_not(finished), tf.int32)
        ranks = totals / length_penalty(new_lengths, alpha)[:, :, None]
        _, indices = tf.math.top_k(tf.reshape(ranks, [batch, -1]), k=beam_size)
        origins = indices // vocabulary  # [batch, beam]
        next_tokens = indices % vocabulary
        scores = tf.gather(tf.reshape(totals, [batch, -1]), indices, batch_dims=1)
        lengths = tf.gather(new_lengths, origins, batch_dims=1)
        was_finished = tf.gather(finished, origins, batch_dims=1)
        next_tokens = tf.where(was_finished, PAD_ID, next_tokens)
        finished = tf.logical_or(was_finished, tf.equal(next_tokens, EOS_ID))
        flat_origins = tf.reshape(
            origins + tf.range(batch)[:, None] * beam_size, [flat]
        )
        states = [
            (tf.gather(h, flat_origins), tf.gather(c, flat_origins)) for h, c in states
        ]
        history = tf.concat(
            [tf.gather(history, origins, batch_dims=1), next_tokens[:, :, None]], -1
        )  # [batch, beam, step + 1]
        return step + 1, next_tokens, states, finished, scores, lengths, history

    _, _, _, _, scores, lengths, history = tf.while_loop(
        condition,
        body,
        (
            tf.constant(0),
            tf.fill([batch, beam_size], BOS_ID),
            states,
            tf.zeros([batch, beam_size], tf.bool),
            scores,
            tf.zeros([batch, beam_size], tf.int32),
            tf.zeros([batch, beam_size, 0], tf.int32),
        ),
        shape_invariants=(
            tf.TensorShape([]),
            tf.TensorShape([None, beam_size]),
            [(tf.TensorShape([None, None]),) * 2 for _ in states],
            tf.TensorShape([None, beam_size]),
            tf.TensorShape([None, beam_size]),
            tf.TensorShape([None, beam_size]),
            tf.TensorShape([None, beam_size, None]),
        ),
    )
    best = tf.argmax(
        scores / length_penalty(lengths, alpha), axis=-1, output_type=tf.int32
    )
    return tf.gather(history, best, batch_dims=1), tf.gather(scores, best, batch_dims=1)
