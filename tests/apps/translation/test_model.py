"""Tests for the encoder-decoder, its attention and its loss."""

import numpy as np
import pytest
import tensorflow as tf

from apps.translation import model as model_lib
from apps.translation.config import ModelConfig


def test_masked_cross_entropy_matches_numpy_reference():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 3, 5)).astype(np.float32)
    labels = np.array([[4, 2, 0], [1, 0, 0]])  # 0 is padding
    smoothing = 0.1
    loss = model_lib.MaskedCrossEntropy(smoothing)(labels, logits)

    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    targets = np.eye(5)[labels] * (1 - smoothing) + smoothing / 5
    token_loss = -(targets * log_probs).sum(-1)
    mask = labels != 0
    np.testing.assert_allclose(float(loss), token_loss[mask].mean(), rtol=1e-5)


def test_masked_accuracy_ignores_padding():
    logits = np.zeros((1, 3, 4), np.float32)
    logits[0, 0, 2] = logits[0, 1, 3] = logits[0, 2, 1] = 1.0
    labels = np.array([[2, 1, 0]])  # right, wrong, padding (predicted 1)
    assert float(model_lib.masked_accuracy(labels, logits)) == pytest.approx(0.5)


@pytest.mark.parametrize("mode", ["luong", "bahdanau"])
def test_attention_ignores_masked_memory_and_normalizes(mode):
    attention = model_lib.Attention(6, mode)
    rng = np.random.default_rng(1)
    query = tf.constant(rng.normal(size=(2, 3, 6)), tf.float32)
    memory = tf.constant(rng.normal(size=(2, 4, 8)), tf.float32)
    mask = tf.constant([[True, True, False, False], [True, True, True, True]])
    context, weights = attention(query, attention.project_keys(memory), memory, mask)
    assert context.shape == (2, 3, 8)
    np.testing.assert_allclose(weights.numpy().sum(-1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(weights.numpy()[0, :, 2:], 0.0)
    # Changing masked memory changes nothing.
    changed = tf.tensor_scatter_nd_update(memory, [[0, 3]], [tf.ones([8]) * 9.0])
    context_changed, _ = attention(
        query, attention.project_keys(changed), changed, mask
    )
    np.testing.assert_allclose(context_changed[0], context[0], rtol=1e-6)


def test_unknown_attention_is_rejected():
    with pytest.raises(ValueError, match="luong or bahdanau"):
        model_lib.Attention(4, "dot")


@pytest.mark.parametrize(
    "config",
    [
        ModelConfig(embedding_dim=8, units=8, attention="luong"),
        ModelConfig(embedding_dim=6, units=8, tie_embeddings=False),
        ModelConfig(
            embedding_dim=8,
            units=8,
            attention="bahdanau",
            encoder_layers=2,
            decoder_layers=2,
        ),
    ],
)
def test_decode_step_matches_teacher_forced_call(config):
    """Stepping the decoder token by token gives the whole-sequence logits."""
    tf.random.set_seed(0)
    translator = model_lib.build_translator(config, 30, 40)
    source = tf.constant([[5, 6, 7, 3], [8, 9, 3, 0]])
    decoder_input = tf.constant([[2, 11, 12, 13], [2, 14, 15, 0]])
    expected = tf.nn.log_softmax(translator((source, decoder_input)), -1)
    memory, keys, mask, states = translator.encode(source)
    for time in range(3):
        log_probs, states, _ = translator.decode_step(
            decoder_input[:, time], states, memory, keys, mask
        )
        np.testing.assert_allclose(log_probs, expected[:, time], atol=1e-5)


def test_padding_does_not_change_the_translation_logits():
    tf.random.set_seed(0)
    translator = model_lib.build_translator(
        ModelConfig(embedding_dim=8, units=8), 30, 40
    )
    source = tf.constant([[5, 6, 3]])
    padded = tf.constant([[5, 6, 3, 0, 0]])
    decoder_input = tf.constant([[2, 11]])
    np.testing.assert_allclose(
        translator((source, decoder_input)),
        translator((padded, decoder_input)),
        atol=1e-5,
    )


def test_linear_decay_at_end_holds_then_falls_linearly():
    schedule = model_lib.LinearDecayAtEnd(4e-3, total_steps=100, decay_steps=40)
    rates = [float(schedule(step)) for step in (0, 60, 80, 100, 150)]
    np.testing.assert_allclose(rates, [4e-3, 4e-3, 2.2e-3, 4e-4, 4e-4], rtol=1e-6)
    constant = model_lib.LinearDecayAtEnd(1e-3, total_steps=10, decay_steps=0)
    assert float(constant(10)) == pytest.approx(1e-3)
    clone = model_lib.LinearDecayAtEnd.from_config(schedule.get_config())
    assert float(clone(80)) == pytest.approx(2.2e-3)


def test_compile_translator_passes_adam_epsilon():
    translator = model_lib.build_translator(
        ModelConfig(embedding_dim=4, units=4), 10, 10
    )
    model_lib.compile_translator(translator, ModelConfig(), 1e-3, epsilon=1e-9)
    assert translator.optimizer.epsilon == pytest.approx(1e-9)
