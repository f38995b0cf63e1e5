"""Backup and restore of a training run that survives SIGKILL at any moment.

Keras's `BackupAndRestore` overwrites one weights file and then one metadata
file in place: a kill during the first write leaves a corrupt file, a kill
between the two leaves weights and epoch count that disagree. Here each
epoch's state (weights with optimizer slots, the epoch count, the history so
far) is written to a fresh temporary directory and renamed into place, so
the latest complete backup is always whole. The history lets the best
checkpoint and early stopping pick up where they stopped.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import shutil
import time
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from lstm_keras.runner.atomic_files import write_text_atomically

_STATE_FILE = "state.json"
_WEIGHTS_FILE = "state.weights.h5"
# Every non-trainable variable, in order: `save_weights` leaves out the
# random generators' states (`keras.random.SeedGenerator`, e.g. dropout's),
# without which a resumed run would draw other dropout masks.
_VARIABLES_FILE = "state.variables.npz"
_PREFIX = "epoch-"


class AtomicBackupAndRestore(keras.callbacks.Callback):
    """Backs up the whole training state at each epoch end, atomically.

    Place it last in the callback list, so the state it records includes the
    decisions of `EarlyStopping` for the same epoch.

    Args:
        backup_dir: directory holding `epoch-NNNNNN/` backups (only the latest
            is kept) and nothing else.
        history_path: optional CSV file rewritten (atomically) at each epoch
            end with the whole history, resumed epochs included.
        history: the epochs already run, from `restore()`.
        write: False on multi-worker non-chief workers, which train but leave
            the files to the chief.
    """

    def __init__(
        self,
        backup_dir: str,
        history_path: str | None = None,
        history: Sequence[dict[str, Any]] = (),
        write: bool = True,
    ):
        super().__init__()
        self.backup_dir = backup_dir
        self.history_path = history_path
        self.history = [dict(record) for record in history]
        self.write = write
        self._epoch_start = time.monotonic()

    @staticmethod
    def latest(backup_dir: str) -> str | None:
        """The newest complete backup directory, or None."""
        if not os.path.isdir(backup_dir):
            return None
        names = sorted(
            name
            for name in os.listdir(backup_dir)
            if name.startswith(_PREFIX)
            and name[len(_PREFIX) :].isdigit()
            and os.path.isfile(os.path.join(backup_dir, name, _STATE_FILE))
        )
        return os.path.join(backup_dir, names[-1]) if names else None

    @staticmethod
    def restore(backup_dir: str, model: keras.Model | None = None) -> dict[str, Any]:
        """Reads the latest backup and loads its weights into `model`.

        Returns:
            `{"epoch": epochs completed, "history": [...], "stopped": bool}`;
            epoch 0 and an empty history when there is no backup.
        """
        latest = AtomicBackupAndRestore.latest(backup_dir)
        if latest is None:
            return {"epoch": 0, "history": [], "stopped": False}
        with open(os.path.join(latest, _STATE_FILE), encoding="utf-8") as file:
            state = json.load(file)
        if model is not None:
            if model.optimizer is not None and not model.optimizer.built:
                # Optimizer slots exist only once built; the backup holds them.
                model.optimizer.build(model.trainable_variables)
            model.load_weights(os.path.join(latest, _WEIGHTS_FILE))
            _restore_variables(model, os.path.join(latest, _VARIABLES_FILE))
        return state

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        record = {"epoch": epoch}
        record.update({key: _number(value) for key, value in (logs or {}).items()})
        record["seconds"] = round(time.monotonic() - self._epoch_start, 3)
        self.history.append(record)
        if not self.write:
            return
        state = {
            "epoch": epoch + 1,
            "history": self.history,
            "stopped": bool(self.model.stop_training),
        }
        self._save(epoch + 1, state)
        if self.history_path:
            write_text_atomically(self.history_path, history_csv(self.history))

    def _save(self, completed_epochs: int, state: dict[str, Any]) -> None:
        os.makedirs(self.backup_dir, exist_ok=True)
        final = os.path.join(self.backup_dir, f"{_PREFIX}{completed_epochs:06d}")
        temporary = os.path.join(
            self.backup_dir, f".tmp-{completed_epochs:06d}-{os.getpid()}"
        )
        shutil.rmtree(temporary, ignore_errors=True)
        os.makedirs(temporary)
        try:
            weights = os.path.join(temporary, _WEIGHTS_FILE)
            self.model.save_weights(weights)
            variables = os.path.join(temporary, _VARIABLES_FILE)
            with open(variables, "wb") as file:
                np.savez(
                    file,
                    **{
                        str(index): np.asarray(variable)
                        for index, variable in enumerate(
                            self.model.non_trainable_variables
                        )
                    },
                )
            state_file = os.path.join(temporary, _STATE_FILE)
            with open(state_file, "w", encoding="utf-8") as file:
                json.dump(state, file)
            for path in (weights, variables, state_file):
                _fsync(path)
        except BaseException:
            # A full disk: leave the previous backup, not half of this one.
            shutil.rmtree(temporary, ignore_errors=True)
            raise
        shutil.rmtree(final, ignore_errors=True)
        os.rename(temporary, final)
        _fsync(self.backup_dir)
        # Older backups and leftovers of killed writes go only once the new
        # backup is complete.
        for name in os.listdir(self.backup_dir):
            path = os.path.join(self.backup_dir, name)
            if path != final:
                shutil.rmtree(path, ignore_errors=True)


def _restore_variables(model: keras.Model, path: str) -> None:
    """Assigns the saved non-trainable variables (backups without the file,
    or of another model, are left as `load_weights` made them)."""
    if not os.path.isfile(path):
        return
    variables = model.non_trainable_variables
    with np.load(path) as saved:
        values = [saved[str(index)] for index in range(len(saved.files))]
    if len(values) != len(variables) or any(
        tuple(value.shape) != tuple(variable.shape)
        for value, variable in zip(values, variables, strict=True)
    ):
        return
    for value, variable in zip(values, variables, strict=True):
        variable.assign(value)


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """`EarlyStopping` that starts from the history of a resumed run.

    Without this, a resumed run forgets how long validation loss has not
    improved and how good the best epoch was.
    """

    def __init__(self, history: Sequence[dict[str, Any]] = (), **kwargs):
        super().__init__(**kwargs)
        self.previous_history = list(history)

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        best = best_epoch(self.previous_history, self.monitor)
        if best is not None:
            self.best = self.previous_history[best][self.monitor]
            self.best_epoch = self.previous_history[best]["epoch"]
            self.wait = len(self.previous_history) - 1 - best


def best_epoch(history: Sequence[dict[str, Any]], monitor: str) -> int | None:
    """Index of the first record with the lowest finite `monitor` value."""
    best = None
    for index, record in enumerate(history):
        value = record.get(monitor)
        if value is None or not math.isfinite(value):
            continue
        if best is None or value < history[best][monitor]:
            best = index
    return best


def history_csv(history: Sequence[dict[str, Any]]) -> str:
    """The per-epoch history as CSV text (one row per epoch, epoch first)."""
    columns = list(dict.fromkeys(key for record in history for key in record))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    return buffer.getvalue()


def _number(value: Any) -> Any:
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def _fsync(path: str) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
