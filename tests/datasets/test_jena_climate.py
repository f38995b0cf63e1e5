"""The Jena climate download fails fast and clearly without a network."""

import socket
import time

import pytest
from lstm_keras_datasets import jena_climate


def _online() -> bool:
    try:
        socket.create_connection(("storage.googleapis.com", 443), timeout=3).close()
        return True
    except OSError:
        return False


@pytest.mark.skipif(_online(), reason="needs a machine without internet access")
def test_offline_download_fails_fast_with_one_line(tmp_path):
    start = time.monotonic()
    with pytest.raises(ConnectionError) as caught:
        jena_climate.fetch(cache_dir=str(tmp_path))
    assert time.monotonic() - start < jena_climate.TIMEOUT_SECONDS + 15
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("could not download the Jena climate data from https://")
    assert "data.source=csv:PATH" in message


def test_unreachable_server_fails_within_the_timeout(tmp_path):
    # A reserved TEST-NET address (RFC 5737): connecting never succeeds.
    start = time.monotonic()
    with pytest.raises(ConnectionError, match="could not download"):
        jena_climate.fetch(cache_dir=str(tmp_path), origin="http://192.0.2.1/jena.zip")
    assert time.monotonic() - start < jena_climate.TIMEOUT_SECONDS + 15


def test_jena_source_error_is_a_value_error(monkeypatch, tmp_path):
    from apps.timeseries import data

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    if _online():
        pytest.skip("needs a machine without internet access")
    with pytest.raises(ValueError, match="could not download the Jena climate data"):
        data.read_source("jena")
