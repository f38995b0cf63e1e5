"""A `fit` loop for MultiWorkerMirroredStrategy, which Keras 3's `fit` breaks on.

Keras 3.15's `Model.fit` under `MultiWorkerMirroredStrategy` fails before the
first step (it all-reduces a whole `(x, y)` batch structure) and again after
it (it reduces scalar logs along axis 0); see keras-team/keras#20585. This
loop keeps everything else Keras does: the model's own `train_step` and
`test_step` (so custom steps, losses, metrics and gradient aggregation are
the same as in `fit`), its callbacks and its progress bar. Only the logs are
reduced differently: each is a mean over replicas, as `fit` does on one
machine.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import tensorflow as tf


def fit_multi_worker(
    model: keras.Model,
    strategy: tf.distribute.Strategy,
    train: tf.data.Dataset,
    validation: tf.data.Dataset,
    epochs: int,
    initial_epoch: int,
    callbacks: Sequence[keras.callbacks.Callback],
    verbose: int,
) -> dict[str, float]:
    """Trains `model` (built in `strategy.scope()`) like `model.fit`.

    Returns the logs of the last epoch.
    """
    with strategy.scope():
        _build_training_state(model, train)
    train_step = _distributed_step(model.train_step, strategy)
    test_step = _distributed_step(model.test_step, strategy)
    train_batches = strategy.experimental_distribute_dataset(train)
    validation_batches = strategy.experimental_distribute_dataset(validation)
    # Callbacks run outside the strategy's scope: a variable created there
    # (Keras makes one while saving weights) would wait for the other workers
    # to create it too, and only the chief saves.
    callback_list = keras.callbacks.CallbackList(
        list(callbacks),
        add_history=True,
        add_progbar=verbose != 0,
        verbose=verbose,
        epochs=epochs,
        steps=_steps(train),
        model=model,
    )
    model.stop_training = False
    callback_list.on_train_begin()
    logs: dict[str, float] = {}
    for epoch in range(initial_epoch, epochs):
        model.reset_metrics()
        callback_list.on_epoch_begin(epoch)
        for step, batch in enumerate(train_batches):
            callback_list.on_train_batch_begin(step)
            step_logs = train_step(batch)
            callback_list.on_train_batch_end(step, step_logs)
        logs = {name: float(value) for name, value in step_logs.items()}
        model.reset_metrics()
        callback_list.on_test_begin()
        for batch in validation_batches:
            validation_logs = test_step(batch)
        callback_list.on_test_end()
        logs.update(
            {f"val_{name}": float(value) for name, value in validation_logs.items()}
        )
        callback_list.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    callback_list.on_train_end(logs)
    return logs


def _distributed_step(step, strategy: tf.distribute.Strategy):
    @tf.function
    def run(batch) -> dict[str, Any]:
        outputs = strategy.run(step, args=(batch,))
        # Each replica reports its running means over equal-sized batches;
        # their mean is the global running mean.
        return {
            name: strategy.reduce("MEAN", value, axis=None)
            for name, value in outputs.items()
        }

    return run


def _build_training_state(model: keras.Model, train: tf.data.Dataset) -> None:
    """Creates optimizer slots and metric variables outside `strategy.run`.

    Variables cannot be created in a replica context; `fit` builds these
    symbolically, here one eager pass on a local batch does it.
    """
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    for x, y in train.take(1):
        y_pred = model(x, training=False)
        model.compute_loss(x=x, y=y, y_pred=y_pred)
        model.compute_metrics(x, y, y_pred, sample_weight=None)
    model.reset_metrics()


def _steps(dataset: tf.data.Dataset) -> int | None:
    cardinality = int(dataset.cardinality())
    return cardinality if cardinality >= 0 else None
