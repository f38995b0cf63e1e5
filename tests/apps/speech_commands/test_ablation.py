"""The ablation sweep's commands and table, and the threshold sweep's rows."""

import json

import numpy as np
from lstm_keras_datasets.speech_real import Recording

from apps.speech_commands import ablation
from apps.speech_commands.threshold_sweep import sweep


def test_each_variant_changes_only_its_keys(tmp_path):
    base = ablation.command(tmp_path, "all")
    for variant, keys in ablation.VARIANTS.items():
        command = ablation.command(tmp_path, variant)
        assert command[command.index("--output") + 1] == str(tmp_path / variant)
        extra = [part for part in command if part not in base]
        assert extra == [str(tmp_path / variant)] * (variant != "all") + [
            part for key in keys for part in ("--set", key)
            if part != "--set"
        ]  # fmt: skip


def test_table_lists_finished_variants_only(tmp_path):
    metrics = {
        "accuracy": 0.758, "accuracy_phone": 0.693, "real/words_correct": 6,
        "real_phone/words_correct": 8, "real/false_accepts": 0.529,
        "real_phone/false_accepts": 0.483,
    }  # fmt: skip
    (tmp_path / "all").mkdir()
    (tmp_path / "all" / "metrics.json").write_text(
        json.dumps({"test": {"crnn": metrics, "majority": {"accuracy": 0.08}}})
    )
    lines = ablation.table(tmp_path, ["all", "no_rooms"]).splitlines()
    assert len(lines) == 3
    assert lines[2] == "| all | 75.8% | 69.3% | 6 | 8 | 52.9% | 48.3% |"


def test_threshold_sweep_counts_words_and_false_accepts():
    labels = ("_silence_", "_unknown_", "yes", "no")
    recordings = [
        Recording("a.wav", "yes", "en", "alsa-utils"),
        Recording("b.wav", "hat", "en", "ktuberling-data"),
        Recording("c.wav", "star", "en", "ktuberling-data"),
    ]
    real = np.array([[0.0, 0.1, 0.9, 0.0], [0.0, 0.4, 0.6, 0.0], [0.0, 0.8, 0.1, 0.1]])
    validation = np.array([[0.1, 0.1, 0.7, 0.1], [0.1, 0.2, 0.3, 0.4]])
    rows = sweep(
        {"validation": validation}, {"validation": np.array([2, 3])},
        {"recorded": (recordings, real)}, ("yes", "no"), labels, (0.0, 0.65),
    )  # fmt: skip
    assert rows[0] == {
        "threshold": 0.0, "validation": 1.0,
        "recorded words": "1/1", "recorded false accepts": 0.5,
    }  # fmt: skip
    # 0.65: the unsure "no" (0.4) and the "yes" at 0.6 become _unknown_.
    assert rows[1]["validation"] == 0.5
    assert rows[1]["recorded false accepts"] == 0.0
    assert rows[1]["recorded words"] == "1/1"
