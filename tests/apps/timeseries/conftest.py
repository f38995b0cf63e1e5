"""Synthetic series for the time-series tests: `make_frame`, `make_config`."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from apps.timeseries.config import DataConfig


def make_frame(steps: int = 200, groups=("A", "B"), seed: int = 0) -> pd.DataFrame:
    """Hourly rows per group: `temp` (daily cycle plus noise), `wind`, `text_id`."""
    rng = np.random.default_rng(seed)
    frames = []
    for offset, group in enumerate(groups):
        hours = np.arange(steps)
        times = pd.date_range("2020-03-01", periods=steps, freq="h", tz="UTC")
        frames.append(
            pd.DataFrame(
                {
                    "time": times.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "site": group,
                    "temp": 10
                    + offset
                    + 5 * np.sin(2 * np.pi * hours / 24)
                    + rng.normal(0, 0.5, steps),
                    "wind": rng.gamma(2.0, 2.0, steps),
                    "label": "x",
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def data_config(**overrides) -> DataConfig:
    settings = dict(
        source="builtin",
        time_column="time",
        targets=("temp",),
        features=("wind",),
        group_column="site",
        input_steps=6,
        horizon=3,
        stride=1,
        exclude=(),
    )
    settings.update(overrides)
    return DataConfig(**settings)


@pytest.fixture(name="make_frame")
def _make_frame_fixture():
    return make_frame


@pytest.fixture(name="make_config")
def _make_config_fixture():
    return data_config
