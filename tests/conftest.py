"""Test-wide settings: quiet TensorFlow, and skip GPU tests without a GPU."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402


def pytest_collection_modifyitems(config, items):
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        return
    skip = pytest.mark.skip(reason="needs a GPU with TensorFlow's CUDA build")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
