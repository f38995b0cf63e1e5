"""SavedModel export in TF Serving's layout, atomic and verified.

`export_app()` writes `EXPORT_ROOT/APP/VERSION/` (VERSION the next free
integer) with the app's serving signatures, a warmup file of real requests
(`assets.extra/tf_serving_warmup_requests`) and the resolved config
(`assets.extra/config.yaml`). Everything is written into a hidden temporary
directory beside the version folders, checked in a fresh Python process that
imports only TensorFlow (and the op libraries the app names), and only then
renamed into place: TF Serving never sees a half-written or unverified
version. `models.config` beside the exports lists every app exported there.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from typing import Any

import numpy as np
import tensorflow as tf

from lstm_keras.runner.atomic_files import write_text_atomically
from lstm_keras.runner.config import write_config
from lstm_keras.runner.serving import ServingModule

WARMUP_FILE = "tf_serving_warmup_requests"
# In assets.extra: which app wrote the export, for `lstm-keras predict`.
EXPORT_INFO_FILE = "lstm_keras.json"
MODELS_CONFIG = "models.config"
# What TF Serving's docker image mounts: `-v DIR/export:/models`.
SERVING_ROOT = "/models"
_PARTIAL = ".partial-"
_CHECK_SCRIPT = os.path.join(os.path.dirname(__file__), "export_check.py")


@dataclasses.dataclass(frozen=True)
class ExportResult:
    path: str
    version: int
    signatures: tuple[str, ...]


def export_app(
    app: Any, config: Any, data: Any, model: Any, export_root: str, verify: bool = True
) -> ExportResult:
    """Exports `app`'s serving module for `model` as the next version.

    Raises:
        ValueError: the module has no `serving_default`, the sample requests
            do not fit the signatures, or the fresh-process check fails. No
            version directory is left behind.
    """
    module = app.serving_module(config, data, model)
    if not isinstance(module, ServingModule):
        raise ValueError(
            f"app {app.name!r}: serving_module() must return a "
            f"lstm_keras.runner.ServingModule; got {type(module).__name__}"
        )
    signatures = module.serving_signatures()
    requests = app.sample_requests(config, data)
    unknown = sorted(set(requests) - set(signatures))
    if unknown:
        raise ValueError(
            f"sample requests name unknown signatures: {', '.join(unknown)}"
        )
    expected = {
        name: call_signature(signatures[name], inputs)
        for name, inputs in requests.items()
    }

    model_dir = os.path.join(export_root, app.name)
    os.makedirs(export_root, exist_ok=True)
    remove_stale_partial_exports(export_root)
    # Beside the app's folder, not in it: TF Serving scans the app's folder.
    temporary = tempfile.mkdtemp(
        dir=export_root, prefix=f"{_PARTIAL}{app.name}-{os.getpid()}-"
    )
    try:
        saved_model = os.path.join(temporary, "saved_model")
        try:
            tf.saved_model.save(module, saved_model, signatures=signatures)
        except tf.errors.OpError as error:
            # A full disk or a read-only folder: say where, in one line.
            raise OSError(_errno_of(error.message), error.message, model_dir) from None
        extra = os.path.join(saved_model, "assets.extra")
        os.makedirs(extra, exist_ok=True)
        write_warmup_requests(os.path.join(extra, WARMUP_FILE), app.name, requests)
        write_config(
            config,
            os.path.join(extra, "config.yaml"),
            header=f"{app.name}: resolved config",
        )
        write_text_atomically(
            os.path.join(extra, EXPORT_INFO_FILE),
            json.dumps({"app": app.name, "signatures": list(signatures)}) + "\n",
        )
        if verify:
            verify_export(
                saved_model,
                requests,
                expected,
                serving_imports=tuple(app.serving_imports),
                tolerance=app.export_tolerance,
            )
        version = _publish(saved_model, model_dir)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    write_models_config(export_root)
    return ExportResult(
        path=os.path.join(model_dir, str(version)),
        version=version,
        signatures=tuple(signatures),
    )


def remove_stale_partial_exports(export_root: str) -> list[str]:
    """Removes `.partial-APP-PID-*` folders of exporters that are no longer
    running (killed mid-export); returns the removed paths."""
    removed = []
    for name in os.listdir(export_root):
        if not name.startswith(_PARTIAL):
            continue
        parts = name[len(_PARTIAL) :].split("-")
        pid = next((int(part) for part in parts if part.isdigit()), None)
        if pid is not None and pid != os.getpid() and _running(pid):
            continue
        path = os.path.join(export_root, name)
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def _errno_of(message: str) -> int:
    """The errno a TensorFlow file-system error stands for (EIO if unclear)."""
    for number in (errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EDQUOT):
        if os.strerror(number) in message:
            return number
    return errno.EIO


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # Someone else's process.
    return True


def versions(model_dir: str) -> list[int]:
    """The integer version folders of one model, sorted."""
    if not os.path.isdir(model_dir):
        return []
    return sorted(
        int(name)
        for name in os.listdir(model_dir)
        if name.isdigit() and os.path.isdir(os.path.join(model_dir, name))
    )


def next_version(model_dir: str) -> int:
    """One more than the highest existing version (1 for a new model)."""
    existing = versions(model_dir)
    return existing[-1] + 1 if existing else 1


def resolve_export(path: str, app_name: str | None = None) -> str:
    """A SavedModel folder from a version folder, an app folder or an export root.

    Given `DIR/export/APP` or `DIR/export`, picks the newest version.
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such export: {path}")
    if os.path.isfile(os.path.join(path, "saved_model.pb")):
        return path
    for candidate in (path, os.path.join(path, app_name or "")):
        found = versions(candidate)
        if found:
            return os.path.join(candidate, str(found[-1]))
    others = _exported_apps(path)
    if others:
        raise ValueError(
            f"{path} holds exports of {', '.join(others)}, not {app_name}: "
            f"run `lstm-keras predict {others[0]} --model {path} ...`"
        )
    raise FileNotFoundError(
        f"no SavedModel (saved_model.pb or version folders) in {path}"
    )


def export_app_name(saved_model: str) -> str | None:
    """The app that wrote an export (None for a SavedModel from elsewhere)."""
    extra = os.path.join(saved_model, "assets.extra")
    try:
        with open(os.path.join(extra, EXPORT_INFO_FILE), encoding="utf-8") as file:
            return json.load(file).get("app")
    except (OSError, ValueError, AttributeError):
        pass
    # Exports written before the info file: the config's header names the app.
    try:
        with open(os.path.join(extra, "config.yaml"), encoding="utf-8") as file:
            first = file.readline()
    except OSError:
        return None
    if first.startswith("# ") and first.rstrip().endswith(": resolved config"):
        return first[2:].rsplit(":", 1)[0]
    return None


def _exported_apps(export_root: str) -> list[str]:
    """Names of the apps with version folders under `export_root`."""
    if not os.path.isdir(export_root):
        return []
    return sorted(
        name
        for name in os.listdir(export_root)
        if not name.startswith(".") and versions(os.path.join(export_root, name))
    )


def write_models_config(export_root: str, serving_root: str = SERVING_ROOT) -> str:
    """Writes TF Serving's `models.config` for every model under `export_root`."""
    names = sorted(
        name
        for name in os.listdir(export_root)
        if not name.startswith(".") and versions(os.path.join(export_root, name))
    )
    path = os.path.join(export_root, MODELS_CONFIG)
    write_text_atomically(path, models_config_text(names, serving_root))
    return path


def models_config_text(names: list[str], serving_root: str = SERVING_ROOT) -> str:
    """TF Serving's `model_config_list` for models under `serving_root/NAME`.

    Built as TF Serving's own `ModelServerConfig` message and written in the
    protobuf text format `tensorflow_model_server --model_config_file` reads.
    """
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    config = model_server_config_pb2.ModelServerConfig()
    config.model_config_list.SetInParent()  # an empty list is still a list
    for name in names:
        config.model_config_list.config.add(
            name=name,
            base_path=f"{serving_root}/{name}",
            model_platform="tensorflow",
        )
    return text_format.MessageToString(config)


def write_warmup_requests(
    path: str, model_name: str, requests: Mapping[str, Mapping[str, np.ndarray]]
) -> int:
    """Writes TF Serving warmup records (`PredictionLog`), one per signature."""
    from tensorflow_serving.apis import (
        model_pb2,
        predict_pb2,
        prediction_log_pb2,
    )

    count = 0
    with tf.io.TFRecordWriter(path) as writer:
        for signature, inputs in requests.items():
            request = predict_pb2.PredictRequest(
                model_spec=model_pb2.ModelSpec(
                    name=model_name, signature_name=signature
                )
            )
            for name, value in inputs.items():
                request.inputs[name].CopyFrom(tf.make_tensor_proto(np.asarray(value)))
            log = prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=request)
            )
            writer.write(log.SerializeToString())
            count += 1
    return count


def call_signature(function: Any, inputs: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Runs a signature function on NumPy inputs; returns `{output: array}`."""
    tensors = {name: tf.constant(np.asarray(value)) for name, value in inputs.items()}
    try:
        outputs = function(**tensors)
    except TypeError as error:
        raise ValueError(
            f"sample request does not fit the signature: {error}"
        ) from None
    if not isinstance(outputs, Mapping):
        outputs = {"output_0": outputs}
    return {name: np.asarray(value) for name, value in outputs.items()}


def verify_export(
    saved_model: str,
    requests: Mapping[str, Mapping[str, np.ndarray]],
    expected: Mapping[str, Mapping[str, np.ndarray]],
    serving_imports: tuple[str, ...] = (),
    tolerance: float = 1e-5,
) -> None:
    """Runs the SavedModel in a fresh process and compares with `expected`.

    The process is started isolated (`python -I`) and imports only TensorFlow
    and `serving_imports`, as TF Serving would link them; it fails if any
    project module was imported.

    Raises:
        ValueError: naming the signature and output that differ, or the fresh
            process's error.
    """
    with tempfile.TemporaryDirectory(prefix="lstm-keras-verify-") as scratch:
        request_file = os.path.join(scratch, "requests.json")
        _write_tensors(request_file, requests, scratch, "in")
        output_file = os.path.join(scratch, "outputs.json")
        command = [
            sys.executable,
            "-I",
            _CHECK_SCRIPT,
            saved_model,
            request_file,
            output_file,
            *serving_imports,
        ]
        environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
        result = subprocess.run(
            command, capture_output=True, text=True, env=environment, check=False
        )
        if result.returncode != 0:
            lines = [line for line in result.stderr.strip().splitlines() if line]
            reason = lines[-1] if lines else f"exit code {result.returncode}"
            raise ValueError(f"export check in a fresh process failed: {reason}")
        actual = _read_tensors(output_file)
    for signature, outputs in expected.items():
        got = actual.get(signature, {})
        if set(got) != set(outputs):
            raise ValueError(
                f"export check: signature {signature!r} outputs {sorted(got)} "
                f"in a fresh process, {sorted(outputs)} in memory"
            )
        for name, value in outputs.items():
            _compare(signature, name, value, got[name], tolerance)


def _compare(
    signature: str,
    name: str,
    expected: np.ndarray,
    actual: np.ndarray,
    tolerance: float,
) -> None:
    where = f"export check: {signature}/{name}"
    if expected.shape != actual.shape:
        raise ValueError(
            f"{where}: shape {actual.shape} in a fresh process, "
            f"{expected.shape} in memory"
        )
    if expected.dtype.kind in "biuf":
        if not np.allclose(
            actual, expected, rtol=tolerance, atol=tolerance, equal_nan=True
        ):
            difference = np.max(np.abs(actual.astype(np.float64) - expected))
            raise ValueError(
                f"{where}: differs from the in-memory model by up to {difference:.3g} "
                f"(tolerance {tolerance:g})"
            )
    elif not np.array_equal(actual, expected):
        raise ValueError(f"{where}: values differ from the in-memory model")


def _publish(saved_model: str, model_dir: str) -> int:
    """Renames a complete SavedModel to the next free version folder."""
    os.makedirs(model_dir, exist_ok=True)
    while True:
        version = next_version(model_dir)
        try:
            os.rename(saved_model, os.path.join(model_dir, str(version)))
        except OSError as error:
            # Another exporter took this number between listing and renaming.
            if error.errno in (errno.EEXIST, errno.ENOTEMPTY):
                continue
            raise
        return version


def _write_tensors(
    index_path: str, tensors: Mapping[str, Mapping[str, Any]], folder: str, prefix: str
) -> None:
    """Writes nested `{group: {name: array}}` as TensorProto files plus an index."""
    index: dict[str, dict[str, str]] = {}
    for group_number, (group, values) in enumerate(tensors.items()):
        index[group] = {}
        for number, (name, value) in enumerate(values.items()):
            path = os.path.join(folder, f"{prefix}-{group_number}-{number}.pb")
            with open(path, "wb") as file:
                file.write(tf.make_tensor_proto(np.asarray(value)).SerializeToString())
            index[group][name] = path
    with open(index_path, "w", encoding="utf-8") as file:
        json.dump(index, file)


def _read_tensors(index_path: str) -> dict[str, dict[str, np.ndarray]]:
    with open(index_path, encoding="utf-8") as file:
        index = json.load(file)
    tensors: dict[str, dict[str, np.ndarray]] = {}
    for group, values in index.items():
        tensors[group] = {}
        for name, path in values.items():
            # TensorProto's class has no public `tf.` name; take it from a value.
            proto = type(tf.make_tensor_proto(0))()
            with open(path, "rb") as file:
                proto.ParseFromString(file.read())
            tensors[group][name] = tf.make_ndarray(proto)
    return tensors
