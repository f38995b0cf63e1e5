"""Training an app: seeds, distribution strategy, precision, `fit`, resume.

`train()` is what `lstm-keras train` runs before evaluation and export. It is
safe to kill at any moment: run it again with the same config and output
directory and it continues from the last completed epoch.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os
import re
import shutil
import sys
import tempfile
import time
from typing import Any

import keras
import tensorflow as tf

from lstm_keras.runner.config import differing_keys, load_run_config, write_config
from lstm_keras.runner.multi_worker import fit_multi_worker
from lstm_keras.runner.resume import (
    AtomicBackupAndRestore,
    ResumableEarlyStopping,
    best_epoch,
)
from lstm_keras.runner.run_directory import RunDirectory

MONITOR = "val_loss"
_EPOCH_CHECKPOINT = "epoch-{epoch:04d}.weights.h5"


@dataclasses.dataclass
class TrainResult:
    """What a finished `train()` hands to evaluation and export.

    `model` is None on multi-worker non-chief workers, which only help train.
    """

    model: Any
    data: Any
    history: list[dict[str, Any]]
    resumed_from_epoch: int
    best_epoch: int | None
    stopped_early: bool
    chief: bool
    replicas: int
    seconds: float


def make_strategy(name: str) -> tf.distribute.Strategy:
    """The `tf.distribute` strategy for `train.strategy`.

    `mirrored` uses every local GPU, or without GPUs every logical CPU device
    (one unless the process split the CPU with
    `tf.config.set_logical_device_configuration`). `multi_worker` reads the
    cluster from `TF_CONFIG`; it must be created before any other TensorFlow
    work in the process.
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        devices = tf.config.list_logical_devices(
            "GPU"
        ) or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([device.name for device in devices])
    if name == "multi_worker":
        if not os.environ.get("TF_CONFIG"):
            raise ValueError(
                "train.strategy=multi_worker needs the TF_CONFIG environment "
                "variable (cluster and this worker's task)"
            )
        try:
            json.loads(os.environ["TF_CONFIG"])
        except json.JSONDecodeError as error:
            raise ValueError(f"TF_CONFIG is not valid JSON: {error}") from None
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(
        f"train.strategy must be one of default, mirrored, multi_worker; got {name!r}"
    )


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True unless this is a non-chief worker of a multi-worker cluster."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    cluster = resolver.cluster_spec().as_dict()
    return (
        "chief" not in cluster
        and resolver.task_type == "worker"
        and (resolver.task_id == 0)
    )


def set_seeds(seed: int, deterministic: bool = True) -> None:
    """Seeds Python, NumPy, TensorFlow and Keras; optionally deterministic ops."""
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def set_precision(mixed: bool) -> str:
    """Sets the global Keras dtype policy and returns its name."""
    if not mixed:
        policy = "float32"
    elif tf.config.list_physical_devices("GPU"):
        policy = "mixed_float16"
    else:
        # float16 matmuls are slow or missing on CPUs; bfloat16 is supported.
        policy = "mixed_bfloat16"
    keras.mixed_precision.set_global_policy(policy)
    return policy


def fit_verbosity() -> int:
    """Keras progress bars on a terminal, one line per epoch in log files."""
    return 1 if sys.stdout.isatty() else 2


def check_run_config(app: Any, config: Any, run: RunDirectory) -> None:
    """Refuses to resume a run directory trained with a different config.

    `config.yaml` is written once the data has loaded, so a start that failed
    on its data (a typo in `data.source`) leaves no config to refuse.
    """
    if not os.path.isfile(run.config):
        return
    previous = load_run_config(app, run.config)
    differences = differing_keys(previous, config)
    if differences:
        shown = ", ".join(differences[:5])
        raise ValueError(
            f"{run.root} holds a run with a different config (differs at {shown}); "
            "use another --output or the same settings to resume it"
        )


def is_chief_task(strategy_name: str) -> bool:
    """`is_chief` read from `TF_CONFIG`, before any strategy exists.

    Only the chief writes (and locks) the run directory.
    """
    if strategy_name != "multi_worker":
        return True
    try:
        cluster_config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    except json.JSONDecodeError:
        return True  # make_strategy reports it.
    task = cluster_config.get("task") or {}
    kind, index = task.get("type"), int(task.get("index", 0))
    if not kind or kind == "chief":
        return True
    return "chief" not in (cluster_config.get("cluster") or {}) and (
        kind == "worker" and index == 0
    )


def train(app: Any, config: Any, run: RunDirectory, header: str = "") -> TrainResult:
    """Trains `app` under `config` into `run`, resuming a killed run.

    Returns a `TrainResult` whose model (on the chief) holds the best
    checkpoint's weights and is built outside any distribution strategy, ready
    for evaluation and export.
    """
    start = time.monotonic()
    # MultiWorkerMirroredStrategy must exist before any other TF work.
    strategy = make_strategy(config.train.strategy)
    chief = is_chief(strategy)
    set_seeds(config.train.seed, config.train.deterministic)
    set_precision(config.train.mixed_precision)
    if chief:
        check_run_config(app, config, run)
        run.make()
        work_dir = run.root
    else:
        work_dir = tempfile.mkdtemp(prefix="lstm-keras-worker-")

    data = app.load_data(config, work_dir=work_dir)
    if chief:
        # Only now: a start that failed on its data must not tie the
        # directory to that config.
        write_config(config, run.config, header=header)
    with strategy.scope():
        model = app.build_model(config, data)
        build_model_variables(model, data)
        state = AtomicBackupAndRestore.restore(run.backup, model)
    history = state["history"]
    resumed_from = state["epoch"]
    if resumed_from:
        print(
            f"Resuming {run.root} from epoch {resumed_from + 1} "
            f"(of {config.train.epochs}): {resumed_from} epochs were backed up.",
            file=sys.stderr,
            flush=True,
        )
    if chief:
        _remove_unfinished_checkpoints(run, resumed_from)

    if state["stopped"] or resumed_from >= config.train.epochs:
        stopped = state["stopped"]
    else:
        backup = AtomicBackupAndRestore(
            run.backup, run.history if chief else None, history, write=chief
        )
        callbacks = _callbacks(config, run, history, chief) + [backup]
        try:
            _fit(model, strategy, data, config, resumed_from, callbacks)
        except BaseException:
            if chief:
                # A checkpoint half-written when the disk filled (or the run
                # was interrupted) is of an epoch the backup does not hold.
                completed = AtomicBackupAndRestore.restore(run.backup)["epoch"]
                _remove_unfinished_checkpoints(run, completed)
            raise
        history = backup.history
        stopped = bool(model.stop_training)

    best = best_epoch(history, MONITOR)
    if not chief:
        shutil.rmtree(work_dir, ignore_errors=True)
        model = None
    else:
        if best is None:
            raise ValueError(
                f"{MONITOR} was never finite: training diverged (try a lower "
                "train.learning_rate)"
            )
        _publish_best_checkpoint(run, history[best]["epoch"])
        if config.train.strategy != "default":
            # Evaluate and export a plain model: no distributed variables in
            # the SavedModel, no collectives that need the other workers.
            model = app.build_model(config, data)
            build_model_variables(model, data)
        load_weights(model, run.best_checkpoint)
    return TrainResult(
        model=model,
        data=data,
        history=history,
        resumed_from_epoch=resumed_from,
        best_epoch=history[best]["epoch"] if best is not None else None,
        stopped_early=stopped,
        chief=chief,
        replicas=strategy.num_replicas_in_sync,
        seconds=time.monotonic() - start,
    )


def _fit(model, strategy, data, config, initial_epoch: int, callbacks) -> None:
    """`model.fit` (or the multi-worker loop) from `initial_epoch`."""
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        # Keras 3's fit fails under this strategy (see multi_worker.py).
        fit_multi_worker(
            model,
            strategy,
            data.train,
            data.validation,
            epochs=config.train.epochs,
            initial_epoch=initial_epoch,
            callbacks=callbacks,
            verbose=fit_verbosity(),
        )
    else:
        with strategy.scope():
            model.fit(
                data.train,
                validation_data=data.validation,
                epochs=config.train.epochs,
                initial_epoch=initial_epoch,
                callbacks=callbacks,
                verbose=fit_verbosity(),
                # Datasets shuffle themselves; True only makes Keras warn.
                shuffle=False,
            )


def load_trained(app: Any, run: RunDirectory) -> tuple[Any, Any, Any]:
    """`(config, data, model)` of a trained run, from its best checkpoint."""
    if not os.path.isfile(run.config):
        raise FileNotFoundError(f"no trained run in {run.root} (no config.yaml)")
    if not os.path.isfile(run.best_checkpoint):
        raise FileNotFoundError(
            f"no best checkpoint in {run.root}: train it first (missing "
            f"{run.best_checkpoint})"
        )
    config = load_run_config(app, run.config)
    set_seeds(config.train.seed, config.train.deterministic)
    set_precision(config.train.mixed_precision)
    data = app.load_data(config, work_dir=run.root)
    model = app.build_model(config, data)
    build_model_variables(model, data)
    load_weights(model, run.best_checkpoint)
    return config, data, model


def build_model_variables(model: keras.Model, data: Any) -> None:
    """Builds a subclassed model's variables by calling it on one batch."""
    if model.built and model.weights:
        return
    for inputs, _ in data.train.take(1):
        model(inputs)


def optimizer_options(train_config: Any) -> dict[str, Any]:
    """Keyword arguments every app's optimizer takes from `train.*` keys."""
    if not train_config.ema_momentum:
        return {}
    return {"use_ema": True, "ema_momentum": train_config.ema_momentum}


def load_weights(model: keras.Model, path: str) -> None:
    """Loads a `.weights.h5` saved with optimizer state into `model`.

    With `train.ema_momentum`, the checkpoint holds the training weights and
    their moving average (an optimizer variable); the model gets the average.
    """
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    model.load_weights(path)
    if model.optimizer is not None and model.optimizer.use_ema:
        model.optimizer.finalize_variable_values(model.trainable_variables)


def _callbacks(
    config: Any, run: RunDirectory, history: list[dict[str, Any]], chief: bool
) -> list[keras.callbacks.Callback]:
    callbacks: list[keras.callbacks.Callback] = []
    if config.train.ema_momentum:
        # Validation (and so the best epoch) on the averaged weights; the
        # checkpoints and backups keep the training weights, so a resumed run
        # goes on exactly where it stopped.
        callbacks.append(keras.callbacks.SwapEMAWeights())
    if chief:
        best = best_epoch(history, MONITOR)
        callbacks += [
            keras.callbacks.ModelCheckpoint(
                os.path.join(run.checkpoints, _EPOCH_CHECKPOINT),
                monitor=MONITOR,
                save_best_only=True,
                save_weights_only=True,
                initial_value_threshold=history[best][MONITOR]
                if best is not None
                else None,
            ),
            # ModelCheckpoint writes only on improvement, so the newest file is
            # the best; older ones go once it is completely written.
            keras.callbacks.LambdaCallback(
                on_epoch_end=lambda epoch, logs: _prune_checkpoints(run)
            ),
            keras.callbacks.TensorBoard(log_dir=run.logs),
        ]
    if config.train.early_stopping_patience > 0:
        callbacks.append(
            ResumableEarlyStopping(
                history, monitor=MONITOR, patience=config.train.early_stopping_patience
            )
        )
    return callbacks


def _epoch_checkpoints(run: RunDirectory) -> dict[int, str]:
    """`{epoch number (1-based): path}` of the per-epoch best checkpoints."""
    found = {}
    for path in glob.glob(os.path.join(run.checkpoints, "epoch-*.weights.h5")):
        match = re.fullmatch(r"epoch-(\d+)\.weights\.h5", os.path.basename(path))
        if match:
            found[int(match.group(1))] = path
    return found


def _prune_checkpoints(run: RunDirectory) -> None:
    checkpoints = _epoch_checkpoints(run)
    for number in sorted(checkpoints)[:-1]:
        os.remove(checkpoints[number])


def _remove_unfinished_checkpoints(run: RunDirectory, completed_epochs: int) -> None:
    """Drops checkpoints of epochs that were in progress when a run died."""
    for number, path in _epoch_checkpoints(run).items():
        if number > completed_epochs:
            os.remove(path)


def _publish_best_checkpoint(run: RunDirectory, epoch: int) -> None:
    """Copies the best epoch's checkpoint to `best.weights.h5`, atomically."""
    source = _epoch_checkpoints(run).get(epoch + 1)
    if source is None:
        if os.path.isfile(run.best_checkpoint):
            return  # Published by the run that finished training.
        raise FileNotFoundError(
            f"the checkpoint of the best epoch is missing in {run.checkpoints}"
        )
    temporary = run.best_checkpoint + ".tmp"
    try:
        shutil.copyfile(source, temporary)
        os.replace(temporary, run.best_checkpoint)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
    for path in _epoch_checkpoints(run).values():
        os.remove(path)
