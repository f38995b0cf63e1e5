"""Tests for greedy and beam-search decoding."""

import numpy as np
import tensorflow as tf

from apps.translation import decoding
from apps.translation.tokenizer import EOS_ID, PAD_ID


def _source_ids(data, count=24):
    tokenizers = data.info.tokenizers
    ids = tokenizers.encode_source([s for s, _ in data.test[:count]], 24)
    return tf.ragged.constant(ids).to_tensor()


def _reference_greedy(translator, source_ids, max_length):
    """Greedy decoding by full teacher-forced forward passes (no step API)."""
    results = []
    for row in source_ids.numpy():
        prefix, score = [2], 0.0
        for _ in range(max_length):
            log_probs = tf.nn.log_softmax(
                translator((row[None], np.array([prefix])))[0, -1]
            ).numpy()
            log_probs[[0, 1, 2]] = -1e9  # padding, unknown, BOS are never generated
            token = int(np.argmax(log_probs))
            score += log_probs[token]
            prefix.append(token)
            if token == EOS_ID:
                break
        results.append((prefix[1:], score))
    return results


def _strip(row):
    row = [int(t) for t in row if t != PAD_ID]
    return row[: row.index(EOS_ID) + 1] if EOS_ID in row else row


def test_greedy_matches_teacher_forced_reference(tiny_run):
    _, data, translator, _ = tiny_run
    source_ids = _source_ids(data, 6)
    tokens, scores, attention = decoding.greedy_decode(translator, source_ids, 12)
    reference = _reference_greedy(translator, source_ids, 12)
    for row, score, (expected_tokens, expected_score) in zip(
        tokens.numpy(), scores.numpy(), reference, strict=True
    ):
        assert _strip(row) == expected_tokens
        np.testing.assert_allclose(score, expected_score, rtol=1e-4, atol=1e-4)
    assert attention.shape[:2] == tokens.shape
    np.testing.assert_allclose(attention.numpy().sum(-1), 1.0, rtol=1e-5)


def test_beam_size_one_equals_greedy(tiny_run):
    _, data, translator, _ = tiny_run
    source_ids = _source_ids(data)
    greedy_tokens, greedy_scores, _ = decoding.greedy_decode(translator, source_ids, 20)
    beam_tokens, beam_scores = decoding.beam_search(translator, source_ids, 1, 0.6, 20)
    assert [_strip(r) for r in beam_tokens.numpy()] == [
        _strip(r) for r in greedy_tokens.numpy()
    ]
    np.testing.assert_allclose(beam_scores, greedy_scores, rtol=1e-5)


def test_beam_is_never_worse_than_greedy_in_model_score(tiny_run):
    _, data, translator, _ = tiny_run
    source_ids = _source_ids(data, 40)
    _, greedy_scores, _ = decoding.greedy_decode(translator, source_ids, 20)
    for beam_size in (2, 4):
        tokens, beam_scores = decoding.beam_search(
            translator, source_ids, beam_size, 0.0, 20
        )
        assert np.all(beam_scores.numpy() >= greedy_scores.numpy() - 1e-4)
    # The search found something greedy missed on at least one sentence.
    assert np.any(beam_scores.numpy() > greedy_scores.numpy() + 1e-3)


def test_beam_scores_are_the_returned_tokens_log_probability(tiny_run):
    _, data, translator, _ = tiny_run
    source_ids = _source_ids(data, 5)
    tokens, scores = decoding.beam_search(translator, source_ids, 3, 0.6, 15)
    rows = zip(tokens.numpy(), source_ids.numpy(), scores.numpy(), strict=True)
    for row, source, score in rows:
        hypothesis = _strip(row)
        decoder_input = np.array([[2] + hypothesis[:-1]])
        log_probs = tf.nn.log_softmax(translator((source[None], decoder_input))[0])
        expected = sum(float(log_probs[t, token]) for t, token in enumerate(hypothesis))
        np.testing.assert_allclose(score, expected, rtol=1e-4, atol=1e-4)


def test_decoding_stops_at_max_length_and_handles_an_empty_batch(tiny_run):
    _, data, translator, _ = tiny_run
    source_ids = _source_ids(data, 3)
    tokens, _ = decoding.beam_search(translator, source_ids, 3, 0.6, 2)
    assert tokens.shape[1] <= 2
    tokens, _, _ = decoding.greedy_decode(translator, source_ids, 0)
    assert tokens.shape == (3, 0)
    empty = tf.zeros([0, 4], tf.int32)
    tokens, scores = decoding.beam_search(translator, empty, 3, 0.6, 5)
    assert tokens.shape[0] == 0 and scores.shape == (0,)
