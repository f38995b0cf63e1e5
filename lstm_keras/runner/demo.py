"""`lstm-keras demo`: train, evaluate and export every registered app.

Each app runs as its own `python -m lstm_keras train` process, so one app's
failure or memory use never affects the next; the demo ends with one table.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

from lstm_keras.runner.atomic_files import write_text_atomically
from lstm_keras.runner.export import MODELS_CONFIG, models_config_text
from lstm_keras.runner.run_directory import RunDirectory, read_metrics


def run_demo(
    apps: Mapping[str, str], output_root: str, preset: str = "default"
) -> list[dict[str, Any]]:
    """Trains each app with `preset` into `output_root/APP`; returns table rows.

    Args:
        apps: `{name as given to the CLI: the app's own name}`; the run goes to
            the folder of the app's own name.
    """
    rows = []
    for cli_name, name in apps.items():
        output = os.path.join(output_root, name)
        print(
            f"\n=== {name}: lstm-keras train {cli_name} --preset {preset} "
            f"--output {output}",
            flush=True,
        )
        start = time.monotonic()
        command = [
            sys.executable,
            "-m",
            "lstm_keras",
            "train",
            cli_name,
            "--preset",
            preset,
            "--output",
            output,
        ]
        returncode = subprocess.run(command, check=False).returncode
        seconds = time.monotonic() - start
        metrics = read_metrics(RunDirectory(output).metrics) if returncode == 0 else {}
        headline = metrics.get("headline", {})
        rows.append(
            {
                "app": name,
                "status": "ok" if returncode == 0 else f"failed (exit {returncode})",
                "metric": headline.get("metric"),
                "model": headline.get("model"),
                "value": headline.get("value"),
                "baseline": headline.get("baseline"),
                "baseline_value": headline.get("baseline_value"),
                "seconds": seconds,
                "export": metrics.get("export", {}).get("path"),
            }
        )
    served = [row["app"] for row in rows if row["status"] == "ok"]
    if served:
        # One config for all apps; the README shows the matching mounts.
        write_text_atomically(
            os.path.join(output_root, MODELS_CONFIG), models_config_text(served)
        )
    return rows


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """A markdown table: app, metric, model value, baseline value, wall time."""
    header = "| app | metric | model | baseline | wall time | export |"
    lines = [header, "|---|---|---|---|---|---|"]
    for row in rows:
        if row["status"] != "ok":
            lines.append(
                f"| {row['app']} | {row['status']} | | | {_minutes(row['seconds'])} | |"
            )
            continue
        model = f"{row['model']}: {_number(row['value'])}"
        baseline = (
            f"{row['baseline']}: {_number(row['baseline_value'])}"
            if row["baseline"]
            else "-"
        )
        lines.append(
            f"| {row['app']} | {row['metric']} | {model} | {baseline} | "
            f"{_minutes(row['seconds'])} | {row['export']} |"
        )
    return "\n".join(lines)


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "-" if value is None else str(value)


def _minutes(seconds: float) -> str:
    return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"
