"""The export refuses what it cannot label: wrong lengths, truncated files.

`predict_files` sends WAV bytes through `serve_wav`, as a TF Serving client
would, so the CLI rejects what the server rejects.
"""

import dataclasses
import io

import numpy as np
import pytest
import soundfile
import tensorflow as tf

from apps.speech_commands.config import PRESETS
from apps.speech_commands.model import build_speech_model
from apps.speech_commands.serving import SpeechServingModule, predict_files

LABELS = ("_silence_", "_unknown_", "yes", "no")


def _tone(samples=16000, rate=16000):
    time = np.arange(samples) / rate
    return (0.3 * np.sin(2 * np.pi * 440 * time)).astype(np.float32)


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
    tiny = PRESETS["tiny"]
    config = dataclasses.replace(
        tiny,
        model=dataclasses.replace(tiny.model, conv_filters=(4, 4), lstm_units=(8, 8)),
    )
    model = build_speech_model(config, len(LABELS), np.stack([_tone()] * 4))
    module = SpeechServingModule(model, LABELS)
    path = str(tmp_path_factory.mktemp("export") / "1")
    tf.saved_model.save(module, path, signatures=module.serving_signatures())
    return path


@pytest.mark.parametrize("samples", [100, 8000, 32000])
def test_serving_default_rejects_other_lengths(export_dir, samples):
    serve = tf.saved_model.load(export_dir).signatures["serving_default"]
    with pytest.raises(
        tf.errors.InvalidArgumentError,
        match=r"waveform must have shape \[batch, 16000\]",
    ):
        serve(waveform=tf.zeros([2, samples]))


def test_serving_default_takes_one_second(export_dir):
    serve = tf.saved_model.load(export_dir).signatures["serving_default"]
    outputs = serve(waveform=tf.constant(_tone()[None]))
    assert outputs["probabilities"].shape == (1, len(LABELS))


def _wav(subtype="PCM_16", samples=16000):
    buffer = io.BytesIO()
    soundfile.write(buffer, _tone(samples), 16000, format="WAV", subtype=subtype)
    return buffer.getvalue()


def test_predict_sends_wav_bytes_through_serve_wav(export_dir, tmp_path):
    whole = tmp_path / "yes.wav"
    whole.write_bytes(_wav())
    flac = tmp_path / "yes.flac"
    soundfile.write(str(flac), _tone(), 16000, format="FLAC")
    records = list(predict_files(export_dir, [str(whole), str(flac)]))
    assert [r["signature"] for r in records] == ["serve_wav", "serving_default"]
    loaded = tf.saved_model.load(export_dir)
    expected = loaded.signatures["serve_wav"](wav=tf.constant([whole.read_bytes()]))
    assert records[0]["label"] == expected["label"].numpy()[0].decode()
    assert records[0]["label"] in LABELS and 0.25 <= records[0]["score"] <= 1


def test_predict_rejects_a_half_truncated_wav(export_dir, tmp_path):
    contents = _wav()
    half = tmp_path / "half.wav"
    half.write_bytes(contents[: len(contents) // 2])
    with pytest.raises(ValueError) as error:
        list(predict_files(export_dir, [str(half)]))
    message = str(error.value)
    assert "\n" not in message
    assert message == (
        f"Not a readable WAV file: {half}: the export's serve_wav rejects it "
        "(Data too short when trying to read string; the file is truncated)"
    )


def test_predict_names_wavs_serve_wav_cannot_read(export_dir, tmp_path):
    deep = tmp_path / "deep.wav"
    deep.write_bytes(_wav("PCM_24"))
    with pytest.raises(ValueError, match="serve_wav takes 16-bit PCM WAV"):
        list(predict_files(export_dir, [str(deep)]))
