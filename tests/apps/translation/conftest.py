"""A `tiny` translation run shared by the translation tests (trained once)."""

import dataclasses

import keras
import pytest

from apps.translation.app import APP


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """`(config, data, model, run_dir)` after two epochs of the `tiny` preset."""
    config = APP.presets["tiny"]
    config = dataclasses.replace(
        config, train=dataclasses.replace(config.train, epochs=2)
    )
    run_dir = str(tmp_path_factory.mktemp("translation-run"))
    keras.utils.set_random_seed(0)
    data = APP.load_data(config, run_dir)
    model = APP.build_model(config, data)
    model.fit(data.train, epochs=config.train.epochs, verbose=0)
    return config, data, model, run_dir
