"""The files of one run directory (`--output DIR`) and the metrics writer.

DIR/config.yaml          resolved config
DIR/metrics.json         {"test": {MODEL: {METRIC: value}}, "training": ...}
DIR/history.csv          one row per epoch (resumed epochs included)
DIR/plots/*.png          the app's plots
DIR/checkpoints/best.weights.h5
DIR/logs/                TensorBoard
DIR/backup/              resume state (removed when nothing is left to do)
DIR/export/APP/VERSION/  SavedModels in TF Serving's layout
DIR/export/models.config TF Serving model config for the exports beside it
DIR/.lock                advisory lock (`fcntl.flock`) of the process using DIR
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import math
import os
from collections.abc import Iterator
from typing import Any

import numpy as np

from lstm_keras.runner.atomic_files import write_text_atomically

CONFIG_FILE_NAME = "config.yaml"


@dataclasses.dataclass(frozen=True)
class RunDirectory:
    """Paths inside one run directory."""

    root: str

    @property
    def config(self) -> str:
        return os.path.join(self.root, CONFIG_FILE_NAME)

    @property
    def metrics(self) -> str:
        return os.path.join(self.root, "metrics.json")

    @property
    def history(self) -> str:
        return os.path.join(self.root, "history.csv")

    @property
    def plots(self) -> str:
        return os.path.join(self.root, "plots")

    @property
    def checkpoints(self) -> str:
        return os.path.join(self.root, "checkpoints")

    @property
    def best_checkpoint(self) -> str:
        return os.path.join(self.checkpoints, "best.weights.h5")

    @property
    def logs(self) -> str:
        return os.path.join(self.root, "logs")

    @property
    def backup(self) -> str:
        return os.path.join(self.root, "backup")

    @property
    def export(self) -> str:
        return os.path.join(self.root, "export")

    @property
    def lock_file(self) -> str:
        return os.path.join(self.root, ".lock")

    def make(self) -> None:
        for path in (self.root, self.plots, self.checkpoints, self.logs):
            os.makedirs(path, exist_ok=True)

    @contextlib.contextmanager
    def locked(self, create: bool = True) -> Iterator[None]:
        """Holds the directory's lock: one `lstm-keras` process per run at a time.

        An advisory `fcntl.flock` on `DIR/.lock`, which the kernel releases
        when the process ends however it ends (SIGKILL included), so a crash
        never leaves a stale lock. The file keeps the holder's PID for the
        message a second process gets.

        Raises:
            RunDirectoryBusy: another process holds the lock.
            NotADirectoryError: `root` is a file.
            FileNotFoundError: `root` does not exist and `create` is False.
        """
        if os.path.exists(self.root) and not os.path.isdir(self.root):
            raise NotADirectoryError(
                f"{self.root} is a file, not a run directory: choose another --output"
            )
        if not create and not os.path.isdir(self.root):
            raise FileNotFoundError(
                f"no trained run in {self.root} (no such directory)"
            )
        os.makedirs(self.root, exist_ok=True)
        descriptor = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(descriptor, 64, 0).decode(errors="replace").strip()
                raise RunDirectoryBusy(
                    f"{self.root} is in use by another lstm-keras process "
                    f"(PID {holder or 'unknown'}); wait for it to end or choose "
                    "another --output"
                ) from None
            os.ftruncate(descriptor, 0)
            os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
            yield
        finally:
            # Closing releases the lock; the file stays (removing it would
            # let a third process lock a new file while a second waits on
            # the old one).
            os.close(descriptor)


class RunDirectoryBusy(ValueError):
    """Another process is using the run directory (its lock is held)."""


def read_metrics(path: str) -> dict[str, Any]:
    """Reads `metrics.json`; an absent file is an empty dict."""
    if not os.path.isfile(path):
        return {}
    with open(path, encoding="utf-8") as file:
        return json.load(file)


def write_metrics(path: str, metrics: dict[str, Any]) -> None:
    """Writes `metrics.json` atomically; NumPy scalars and arrays become JSON."""
    text = json.dumps(to_json(metrics), indent=2, allow_nan=False) + "\n"
    write_text_atomically(path, text)


def update_metrics(path: str, **entries: Any) -> dict[str, Any]:
    """Merges top-level entries into `metrics.json` and returns the result."""
    metrics = read_metrics(path)
    metrics.update(entries)
    write_metrics(path, metrics)
    return metrics


def to_json(value: Any) -> Any:
    """JSON-able copy: NumPy to Python, NaN/inf to None, bytes to text."""
    if isinstance(value, dict):
        return {str(key): to_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(item) for item in value]
    if isinstance(value, np.ndarray):
        return to_json(value.tolist())
    if isinstance(value, np.generic):
        return to_json(value.item())
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
