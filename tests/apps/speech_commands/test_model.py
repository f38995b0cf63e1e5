"""SpeechModel: streaming equals the whole clip, SpecAugment is training-only."""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from apps.speech_commands.config import PRESETS, ModelConfig
from apps.speech_commands.model import SpecAugment, build_speech_model


def _config(**model):
    tiny = PRESETS["tiny"]
    return dataclasses.replace(tiny, model=dataclasses.replace(tiny.model, **model))


def _waveforms(batch=3, seed=0):
    rng = np.random.default_rng(seed)
    return (0.2 * rng.standard_normal((batch, 16000))).astype(np.float32)


@pytest.mark.parametrize(
    ("model_config", "chunk_samples"),
    [
        ({"architecture": "crnn", "head": "last", "conv_filters": (4, 6)}, 320),
        ({"architecture": "crnn", "head": "mean", "conv_filters": (4,)}, 960),
        ({"architecture": "lstm", "head": "last", "lstm_units": (8, 6)}, 320),
        (
            {"architecture": "lstm", "head": "mean", "features": "mfcc", "num_mfcc": 8},
            640,
        ),
        ({"architecture": "crnn", "features": "pcen", "conv_filters": (4,)}, 640),
    ],
)
def test_stream_step_over_a_clip_equals_the_whole_clip(model_config, chunk_samples):
    model = build_speech_model(_config(**model_config), 5, _waveforms(8, seed=1))
    waveforms = _waveforms()
    whole = model(waveforms).numpy()
    states = model.initial_states(len(waveforms))
    assert set(states) == set(model.state_shapes())
    for start in range(0, 16000, chunk_samples):
        probabilities, states = model.stream_step(
            waveforms[:, start : start + chunk_samples], states
        )
    np.testing.assert_allclose(probabilities.numpy(), whole, atol=1e-5)


@pytest.mark.parametrize("features", ["log_mel", "pcen"])
def test_stream_state_shapes_match_the_states_it_returns(features):
    model = build_speech_model(
        _config(conv_filters=(4, 6), head="mean", features=features), 5
    )
    _, states = model.stream_step(tf.zeros([2, 320]), model.initial_states(2))
    for name, shape in model.state_shapes().items():
        assert tuple(states[name].shape) == (2, *shape), name


def test_lstm_architecture_has_no_convolutions():
    model = build_speech_model(_config(architecture="lstm"), 5)
    assert not model.convolutions
    assert all(type(layer).__module__.startswith("lstm_keras") for layer in model.lstms)


def test_spec_augment_masks_bands_in_training_only():
    layer = SpecAugment(time_masks=2, time_mask_frames=6, frequency_masks=2,
                        frequency_mask_bins=6, seed=3)  # fmt: skip
    features = tf.ones([16, 50, 40])
    assert np.array_equal(layer(features, training=False).numpy(), features.numpy())
    masked = layer(features, training=True).numpy()
    assert set(np.unique(masked)) <= {0.0, 1.0}
    assert 0 < (masked == 0).mean() < 0.5
    # Time masks zero whole frames, frequency masks whole bins.
    zero_frames = (masked == 0).all(axis=2)
    zero_bins = (masked == 0).all(axis=1)
    rebuilt = np.maximum(zero_frames[:, :, None], zero_bins[:, None, :])
    np.testing.assert_array_equal(rebuilt, masked == 0)


def test_model_survives_keras_save_and_load(tmp_path):
    model = build_speech_model(_config(), 4, _waveforms(4))
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    waveforms = _waveforms()
    np.testing.assert_allclose(
        loaded(waveforms).numpy(), model(waveforms).numpy(), atol=1e-6
    )


def test_pcen_model_ignores_the_recording_level():
    """PCEN divides by each band's smoothed energy: a gain barely matters."""
    # Seeded: with other random weights (whatever earlier tests drew) the
    # difference reached 0.026; eight seeds gave 0.002-0.014.
    keras.utils.set_random_seed(0)
    model = build_speech_model(_config(features="pcen"), 4, _waveforms(4))
    waveforms = _waveforms()
    np.testing.assert_allclose(
        model(waveforms * 0.05).numpy(), model(waveforms).numpy(), atol=0.02
    )


def test_training_changes_the_weights_and_lowers_the_loss():
    config = _config()
    model = build_speech_model(config, 2, _waveforms(8))
    model.compile(
        optimizer=keras.optimizers.Adam(0.02),
        loss="sparse_categorical_crossentropy",
        jit_compile=False,
    )
    # Loud clips against quiet ones: separable from the log-mel energy.
    rng = np.random.default_rng(0)
    waveforms = rng.standard_normal((64, 16000)).astype(np.float32)
    waveforms[32:] *= 0.01
    targets = np.repeat([0, 1], 32)
    history = model.fit(waveforms, targets, epochs=8, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]


@pytest.mark.parametrize(
    "kwargs",
    [{"architecture": "transformer"}, {"features": "chroma"}, {"head": "max"},
     {"lstm_units": ()}, {"frame_step": 300}, {"dropout": 1.0}],
)  # fmt: skip
def test_model_config_rejects_bad_values(kwargs):
    # One line naming the key, whichever check caught it.
    with pytest.raises(ValueError, match=f"model.{next(iter(kwargs))}"):
        ModelConfig(**kwargs)
