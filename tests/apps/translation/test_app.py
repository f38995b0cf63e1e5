"""End-to-end tests of the translation app through the App contract and the CLI."""

import json
import math
import os

import numpy as np
import pytest
from app_test_kit import run_app_end_to_end

from apps.translation import evaluation
from apps.translation.app import APP
from lstm_keras.runner.run_directory import RunDirectory


def test_app_is_registered_with_tensorflow_text_for_serving():
    from lstm_keras.runner.registry import load_app

    assert load_app("translation") is APP
    assert APP.serving_imports == ("tensorflow_text",)
    assert {"tiny", "default", "full", "large"} <= set(APP.presets)


def test_tiny_run_through_app_methods(tiny_run):
    config, data, model, run_dir = tiny_run
    summary = APP.describe_data(data)
    assert summary["cleaning"]["kept"] > 10000
    assert sum(summary["splits"].values()) == config.data.max_examples
    assert os.path.isfile(os.path.join(run_dir, "tokenizer", "source.model"))

    run = RunDirectory(run_dir)
    run.make()
    metrics = APP.evaluate(config, data, model, run)
    assert set(metrics) == {"greedy", "beam"}
    for scores in metrics.values():
        assert 0.0 <= scores["bleu"] <= 100.0 and 0.0 <= scores["chrf"] <= 100.0
        assert math.isfinite(scores["mean_log_prob"])
        assert scores["sentences"] == len(data.test)
        assert len(scores["samples"]) == 10
        low, high = scores["bleu_ci95"]
        assert low <= scores["bleu"] <= high or scores["bleu"] == 0.0
    paired = metrics["beam"]["paired_test_vs_greedy"]
    assert paired["baseline_bleu"] == metrics["greedy"]["bleu"]
    assert 0.0 < paired["p_value"] <= 1.0
    assert metrics["beam"]["mean_log_prob"] >= metrics["greedy"]["mean_log_prob"]
    with open(os.path.join(run_dir, "test_translations.tsv"), encoding="utf-8") as f:
        assert len(f.read().splitlines()) == len(data.test) + 1
    assert os.path.getsize(os.path.join(run_dir, "plots", "attention.png")) > 1000
    json.dumps(metrics)

    requests = APP.sample_requests(config, data)
    assert set(requests) == {"serving_default", "translate_greedy"}
    assert "" in list(requests["serving_default"]["sentences"])


def test_a_reloaded_run_reuses_its_tokenizer(tiny_run):
    config, data, _, run_dir = tiny_run
    again = APP.load_data(config, run_dir)
    assert again.info.tokenizers.source_model == data.info.tokenizers.source_model


def test_score_translations_matches_sacrebleu():
    import sacrebleu

    hypotheses = ["The cat sits on the mat.", "He is late again."]
    references = ["The cat sat on the mat.", "He is late again."]
    scores = evaluation.score_translations(hypotheses, references)
    expected = sacrebleu.corpus_bleu(hypotheses, [references]).score
    assert scores["bleu"] == pytest.approx(expected, abs=0.01)
    assert scores["chrf"] == pytest.approx(
        sacrebleu.corpus_chrf(hypotheses, [references]).score, abs=0.01
    )
    with pytest.raises(ValueError, match="2 hypotheses for 1 references"):
        evaluation.score_translations(hypotheses, references[:1])


@pytest.mark.slow
def test_tiny_end_to_end_through_the_cli(tmp_path, capsys):
    sentences = tmp_path / "sentences.txt"
    sentences.write_text("In the beginning.\nLight.\n", encoding="utf-8")
    inputs = ["Satz eins.", "", str(sentences)]
    run = run_app_end_to_end("translation", tmp_path / "run", inputs, capsys)
    assert set(run.metrics["test"]) == {"greedy", "beam"}
    assert run.metrics["headline"]["metric"] == "bleu"
    assert run.signature_outputs["serving_default"] == ["scores", "translations"]
    # A sentence, an empty line, and a file read line by line.
    assert [r["input"] for r in run.predictions] == [
        "Satz eins.",
        "",
        "In the beginning.",
        "Light.",
    ]
    assert all(np.isfinite(r["score"]) for r in run.predictions)


def test_bleu_confidence_interval_and_paired_test():
    import random

    rng = random.Random(0)
    words = "the a cat dog sat ran on under mat house big small".split()
    references = [" ".join(rng.choices(words, k=8)) for _ in range(200)]
    # A system that keeps each word with probability 0.9, and a worse one.
    good = [" ".join(w for w in r.split() if rng.random() < 0.9) for r in references]
    bad = [" ".join(w for w in r.split() if rng.random() < 0.5) for r in references]
    scores = evaluation.score_translations(good, references)
    low, high = scores["bleu_ci95"]
    assert low < scores["bleu"] < high and high - low < 10
    assert scores["bleu_bootstrap_samples"] == 1000
    assert "bleu_ci95" not in evaluation.score_translations(good, references, 1)

    better = evaluation.paired_test(bad, good, references)
    assert better["system_bleu"] == scores["bleu"]
    assert better["bleu_difference"] > 10 and better["p_value"] < 0.01
    # Another system of the same quality: no significant difference.
    alike = [" ".join(w for w in r.split() if rng.random() < 0.9) for r in references]
    same = evaluation.paired_test(good, alike, references)
    assert abs(same["bleu_difference"]) < 3 and same["p_value"] > 0.05
    assert evaluation.paired_test(good, good, references)["p_value"] == 1.0


def test_learning_rate_decay_spans_the_run(tiny_run):
    import dataclasses

    config, _, _, run_dir = tiny_run
    config = dataclasses.replace(
        config,
        train=dataclasses.replace(
            config.train, epochs=3, decay_fraction=0.5, adam_epsilon=1e-9
        ),
    )
    data = APP.load_data(config, run_dir)  # counts the batches for the schedule
    model = APP.build_model(config, data)
    schedule = model.optimizer._learning_rate
    batches = sum(1 for _ in data.train)
    assert schedule.total_steps == 3 * batches
    assert schedule.decay_steps == round(1.5 * batches)
    assert float(schedule(schedule.total_steps)) == pytest.approx(
        config.train.learning_rate * config.train.decay_to
    )
    assert model.optimizer.epsilon == pytest.approx(1e-9)


@pytest.mark.parametrize(
    "override",
    ["train.decay_fraction=1.5", "train.decay_to=-1", "train.adam_epsilon=0"],
)
def test_bad_learning_rate_settings_are_one_line_errors(override):
    from lstm_keras.runner.config import apply_overrides

    with pytest.raises(ValueError, match=override.split("=")[0]):
        apply_overrides(APP.presets["default"], [override])
