"""Jena climate 2009-2016, the TensorFlow time-series tutorial's data (download).

Weather recorded every 10 minutes by the Max Planck Institute for
Biogeochemistry in Jena (14 variables, about 420k rows), as prepared by
Francois Chollet for "Deep Learning with Python" and used by
https://www.tensorflow.org/tutorials/structured_data/time_series. It is not
shipped: `fetch()` downloads it (13 MB) with `keras.utils.get_file` into the
Keras cache (`~/.keras/datasets`) and reuses the cached copy afterwards.
Offline and without a cached copy it fails within seconds with a one-line
`ConnectionError`.
"""

from __future__ import annotations

import os
import socket

import keras

URL = (
    "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
    "jena_climate_2009_2016.csv.zip"
)
CSV_NAME = "jena_climate_2009_2016.csv"
TIME_COLUMN = "Date Time"
TIME_FORMAT = "%d.%m.%Y %H:%M:%S"
# Seconds to wait for the server before giving up (the default is forever).
TIMEOUT_SECONDS = 15.0


def fetch(cache_dir: str | None = None, origin: str = URL) -> str:
    """Downloads (once) and extracts the Jena climate CSV; returns its path.

    Args:
        cache_dir: Keras cache directory; `~/.keras` if None.
        origin: the URL of the zip archive.

    Raises:
        ConnectionError: the download failed (offline, server unreachable).
    """
    previous_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(TIMEOUT_SECONDS)
    try:
        extracted = keras.utils.get_file(
            fname="jena_climate_2009_2016.csv.zip",
            origin=origin,
            extract=True,
            cache_dir=cache_dir,
        )
    except Exception as error:  # get_file raises bare Exception on URL errors
        # get_file's message repeats the URL: keep only the reason after "--".
        reason = " ".join(str(error).split()).rsplit(" -- ", 1)[-1]
        raise ConnectionError(
            f"could not download the Jena climate data from {origin} ({reason}); "
            "connect to the internet or use data.source=csv:PATH with a local copy"
        ) from None
    finally:
        socket.setdefaulttimeout(previous_timeout)
    if os.path.isfile(extracted):
        return extracted
    for directory, _, names in os.walk(extracted):
        if CSV_NAME in names:
            return os.path.join(directory, CSV_NAME)
    raise ValueError(f"{CSV_NAME} not found in the extracted archive {extracted}")
