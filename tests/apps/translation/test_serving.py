"""Tests for the string-in, string-out export."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from apps.translation import decoding
from apps.translation.app import APP
from apps.translation.evaluation import translate_in_batches
from lstm_keras.runner.export import export_app


@pytest.fixture(scope="module")
def module(tiny_run):
    config, data, model, _ = tiny_run
    return APP.serving_module(config, data, model)


@pytest.fixture(scope="module")
def export_dir(tiny_run, tmp_path_factory):
    config, data, model, _ = tiny_run
    root = str(tmp_path_factory.mktemp("export"))
    return export_app(APP, config, data, model, root).path


def test_serving_equals_python_decoding(tiny_run, module):
    config, data, model, _ = tiny_run
    tokenizers = data.info.tokenizers
    sentences = [source for source, _ in data.test[:8]]
    source_ids = tf.ragged.constant(
        tokenizers.encode_source(sentences, config.data.max_source_length)
    ).to_tensor()
    length = config.model.max_decode_length
    beam_tokens, beam_scores = decoding.beam_search(
        model, source_ids, config.model.beam_size, config.model.length_penalty, length
    )
    greedy_tokens, greedy_scores, _ = decoding.greedy_decode(model, source_ids, length)

    served = module.translate(tf.constant(sentences))
    assert [t.decode() for t in served["translations"].numpy()] == (
        tokenizers.decode_target(beam_tokens.numpy().tolist())
    )
    np.testing.assert_allclose(served["scores"], beam_scores, rtol=1e-5)
    served = module.translate_greedy(tf.constant(sentences))
    assert [t.decode() for t in served["translations"].numpy()] == (
        tokenizers.decode_target(greedy_tokens.numpy().tolist())
    )
    np.testing.assert_allclose(served["scores"], greedy_scores, rtol=1e-5)


def test_edge_inputs_translate_without_error(tiny_run, module):
    config = tiny_run[0]
    sentences = ["", "   ", "Zeichen wie 漢字 ☃ kamen nie vor.", "Wort " * 2000]
    outputs = module.translate(tf.constant(sentences))
    translations = [t.decode() for t in outputs["translations"].numpy()]
    assert len(translations) == 4 and np.all(np.isfinite(outputs["scores"]))
    assert all("\u2047" not in t for t in translations)  # no unknown piece output
    # The long input is truncated to max_source_length pieces.
    ids = module.source_ids(tf.constant(sentences))
    assert ids.shape[1] == config.data.max_source_length
    empty = module.translate(tf.constant([], tf.string))
    assert empty["translations"].shape == (0,)


@pytest.mark.slow
def test_export_loads_in_fresh_process_with_only_tensorflow_text(
    tiny_run, module, export_dir
):
    sentences = [source for source, _ in tiny_run[1].test[:4]] + [""]
    expected, _ = translate_in_batches(module.translate, sentences)
    script = (
        "import json, sys\n"
        "import tensorflow as tf, tensorflow_text\n"
        "loaded = tf.saved_model.load(sys.argv[1])\n"
        "out = loaded.signatures['serving_default']("
        "sentences=tf.constant(json.loads(sys.argv[2])))\n"
        "project = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('apps', 'lstm_keras', 'lstm_keras_datasets'))\n"
        "print(json.dumps({'translations': [t.decode() for t in "
        "out['translations'].numpy()], 'project': project}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-c", script, export_dir, json.dumps(sentences)],
        capture_output=True,
        text=True,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
        check=True,
    )
    output = json.loads(result.stdout.strip().splitlines()[-1])
    assert output["translations"] == expected
    assert output["project"] == []


@pytest.mark.slow
def test_predict_reads_arguments_files_and_stdin(export_dir, tmp_path, monkeypatch):
    import io

    path = tmp_path / "sentences.txt"
    path.write_text("Guten Morgen.\n\nWie geht es dir?\n", encoding="utf-8")
    monkeypatch.setattr(sys, "stdin", io.StringIO("Danke.\n"))
    records = list(APP.predict(export_dir, ["Satz eins.", str(path), "-"]))
    assert [r["input"] for r in records] == [
        "Satz eins.",
        "Guten Morgen.",
        "",
        "Wie geht es dir?",
        "Danke.",
    ]
    assert all(isinstance(r["translation"], str) for r in records)
    assert all(np.isfinite(r["score"]) for r in records)
    json.dumps(records)
