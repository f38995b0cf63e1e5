"""Config resolution: preset, then a YAML file, then `--set` dotted keys.

An app's config is a frozen dataclass of frozen dataclasses (`data`, `model`,
`train`) with real types. Every override is checked against those types and
rebuilt into a new instance, so a misspelled key or a string where a number
belongs is an error naming the key, never a silently ignored setting.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import yaml

from lstm_keras.runner.atomic_files import write_text_atomically
from lstm_keras.runner.config_types import (
    ConfigSection,
    Fraction,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    accepts_str,
    coerce,
    field_types,
)


@dataclasses.dataclass(frozen=True)
class TrainConfig(ConfigSection):
    """Training settings every app shares (the `train.*` config keys)."""

    section_key = "train"

    epochs: PositiveInt = 10
    batch_size: PositiveInt = 64
    learning_rate: PositiveFloat = 1e-3
    seed: int = 0
    # Stop when validation loss has not improved for this many epochs.
    early_stopping_patience: NonNegativeInt = 5
    # "default" (one device), "mirrored" (all local GPUs) or "multi_worker"
    # (MultiWorkerMirroredStrategy from TF_CONFIG).
    strategy: Literal["default", "mirrored", "multi_worker"] = "default"
    # On a GPU mixed_float16, on a CPU mixed_bfloat16 (float16 is slow there).
    mixed_precision: bool = False
    # tf.config.experimental.enable_op_determinism: same seed, same metrics.
    deterministic: bool = True
    # Above 0: the optimizer keeps an exponential moving average of the
    # weights with this momentum (Keras's `use_ema`); validation, the choice
    # of the best epoch, evaluation and export use the averaged weights.
    ema_momentum: Fraction = 0.0


def preset_config(app: Any, preset: str) -> Any:
    """Returns `app.presets[preset]`, or raises ValueError naming the choices."""
    if preset not in app.presets:
        choices = ", ".join(app.presets)
        raise ValueError(
            f"unknown preset {preset!r} for app {app.name!r}; choose from: {choices}"
        )
    return app.presets[preset]


def resolve_config(
    app: Any,
    preset: str = "default",
    config_file: str | os.PathLike | None = None,
    overrides: Iterable[str] = (),
) -> Any:
    """Builds an app's config in the documented order.

    Args:
        app: the `lstm_keras.runner.app.App` whose `presets` hold the starting point.
        preset: the preset name (`tiny`, `default`, ...).
        config_file: optional YAML file of nested keys, applied over the preset.
        overrides: `KEY=VALUE` strings with dotted keys and YAML values
            (`train.epochs=3`, `data.targets=[temp]`), applied last.

    Returns:
        A new frozen config instance.

    Raises:
        ValueError: an unknown preset or key, a malformed override, or a value
            of the wrong type.
        FileNotFoundError: `config_file` does not exist.
    """
    config = preset_config(app, preset)
    changes = {}
    if config_file is not None:
        changes.update(flatten_mapping(type(config), read_yaml(config_file)))
        for key, value in changes.items():  # type errors name the file
            field_type = _leaf_type(type(config), key)
            if not dataclasses.is_dataclass(field_type):
                coerce(value, field_type, key, os.fspath(config_file))
    changes.update(parse_overrides(type(config), overrides))
    return _replace_all(config, changes)


def apply_overrides(config: Any, overrides: Iterable[str]) -> Any:
    """Applies `KEY=VALUE` strings (dotted keys, YAML values) to `config`.

    All overrides are applied before any section is validated, so checks that
    involve two keys do not depend on the order of the overrides.
    """
    return _replace_all(config, parse_overrides(type(config), overrides))


def parse_overrides(config_class: type, overrides: Iterable[str]) -> dict[str, Any]:
    """`KEY=VALUE` strings -> `{dotted_key: value}` (the last of a key wins)."""
    changes = {}
    for override in overrides:
        key, separator, text = override.partition("=")
        key = key.strip()
        if not separator or not key:
            raise ValueError(
                f"--set expects KEY=VALUE (e.g. train.epochs=3); got {override!r}"
            )
        field_type = _leaf_type(config_class, key)
        try:
            value = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError as error:
            reason = str(error).splitlines()[0]
            raise ValueError(
                f"--set {key}: value is not valid YAML ({reason})"
            ) from None
        # A string field keeps the text as typed: YAML would turn `yes` into
        # True and `1.0` into a float.
        if accepts_str(field_type) and not isinstance(value, str | type(None)):
            value = text
        changes.pop(key, None)  # a repeated key counts where it was set last
        changes[key] = value
    return changes


def apply_mapping(config: Any, mapping: Mapping[str, Any], source: str = "") -> Any:
    """Applies a nested mapping (as read from YAML) over `config`."""
    return _replace_all(config, flatten_mapping(type(config), mapping), source)


def _replace_all(
    config: Any, changes: Mapping[str, Any], source: str = "", prefix: str = ""
) -> Any:
    """`config` with every dotted key of `changes` set, each section rebuilt once.

    Values are type-checked one by one (errors name the dotted key); a
    section's checks between fields (`ConfigSection.check`) run once, on all
    its new values together.
    """
    if not changes:
        return config
    hints = field_types(type(config))
    fields, children = {}, {}
    for key, value in changes.items():
        name, _, rest = key.partition(".")
        if name not in hints:
            raise ValueError(_unknown_key_message(key, type(config)))
        field_type = hints[name]
        if rest:
            children.setdefault(name, {})[rest] = value
        elif dataclasses.is_dataclass(field_type):
            if not isinstance(value, Mapping):
                raise ValueError(
                    f"config key {prefix + name!r} holds a section; set its keys"
                )
            nested = flatten_mapping(field_type, value)
            children.setdefault(name, {}).update(nested)
        else:
            fields[name] = coerce(value, field_type, f"{prefix}{name}", source)
    for name, nested in children.items():
        fields[name] = _replace_all(
            getattr(config, name), nested, source, f"{prefix}{name}."
        )
    try:
        return dataclasses.replace(config, **fields)
    except (TypeError, ValueError) as error:
        if len(fields) == 1:
            key = f"{prefix}{next(iter(fields))}"
            raise ValueError(f"config key {key!r}: {error}") from None
        raise ValueError(f"config: {error}") from None


def flatten_mapping(
    config_class: type,
    mapping: Mapping[str, Any],
    prefix: str = "",
    root: type | None = None,
) -> dict[str, Any]:
    """Nested mapping -> `{dotted_key: value}` following the dataclass tree.

    A mapping under a key whose field is a dataclass is descended into; under
    any other field (e.g. a `dict` field) it is that field's value.
    """
    if not isinstance(mapping, Mapping):
        where = f"under {prefix[:-1]!r}" if prefix else "at the top level"
        raise ValueError(f"config expects a mapping {where}; got {mapping!r}")
    root = root or config_class
    hints = field_types(config_class)
    flat = {}
    for name, value in mapping.items():
        key = f"{prefix}{name}"
        if not isinstance(name, str) or name not in hints:
            raise ValueError(_unknown_key_message(key, root))
        field_type = hints[name]
        if dataclasses.is_dataclass(field_type) and isinstance(value, Mapping):
            flat.update(flatten_mapping(field_type, value, f"{key}.", root))
        else:
            flat[key] = value
    return flat


def config_to_dict(config: Any) -> dict[str, Any]:
    """A config as plain YAML/JSON-able nested dicts (tuples become lists)."""
    return _plain(dataclasses.asdict(config))


def config_from_dict(base: Any, mapping: Mapping[str, Any], source: str = "") -> Any:
    """`base` with every key of the nested `mapping` applied (see apply_mapping)."""
    return apply_mapping(base, mapping, source=source)


def valid_keys(config_class: type, prefix: str = "") -> list[str]:
    """Every dotted leaf key of a config class, in field order."""
    keys = []
    for name, field_type in field_types(config_class).items():
        if dataclasses.is_dataclass(field_type):
            keys.extend(valid_keys(field_type, prefix=f"{prefix}{name}."))
        else:
            keys.append(f"{prefix}{name}")
    return keys


def differing_keys(first: Any, second: Any) -> list[str]:
    """Dotted keys whose values differ between two configs of one class."""
    first_flat = _flatten_values(config_to_dict(first))
    second_flat = _flatten_values(config_to_dict(second))
    keys = list(dict.fromkeys([*first_flat, *second_flat]))
    return [key for key in keys if first_flat.get(key) != second_flat.get(key)]


def read_yaml(path: str | os.PathLike) -> dict[str, Any]:
    """Reads a YAML mapping; a missing file or malformed YAML is one clear error."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"config file not found: {path}")
    try:
        with open(path, encoding="utf-8") as file:
            content = yaml.safe_load(file)
    except yaml.YAMLError as error:
        reason = " ".join(str(error).split())
        raise ValueError(f"config file {path} is not valid YAML: {reason}") from None
    if content is None:
        return {}
    if not isinstance(content, dict):
        raise ValueError(f"config file {path} must hold a mapping of keys")
    return content


def write_config(config: Any, path: str | os.PathLike, header: str = "") -> str:
    """Writes the resolved config as YAML, atomically (temp file + rename)."""
    path = os.fspath(path)
    text = yaml.safe_dump(config_to_dict(config), sort_keys=False)
    if header:
        text = "".join(f"# {line}\n" for line in header.splitlines()) + text
    write_text_atomically(path, text)
    return path


def load_run_config(app: Any, path: str | os.PathLike) -> Any:
    """Reads a config written by `write_config` back into the app's class."""
    base = next(iter(app.presets.values()))
    return config_from_dict(base, read_yaml(path), source=os.fspath(path))


def _unknown_key_message(key: str, config_class: type) -> str:
    candidates = valid_keys(config_class)
    close = difflib.get_close_matches(key, candidates, n=1, cutoff=0.5)
    if not close:
        # A misspelled leaf under a valid section: compare leaf names too.
        leaves = {candidate.rsplit(".", 1)[-1]: candidate for candidate in candidates}
        leaf = difflib.get_close_matches(key.rsplit(".", 1)[-1], leaves, n=1)
        close = [leaves[leaf[0]]] if leaf else []
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown config key {key!r}{hint}"


def _leaf_type(config_class: type, key: str) -> Any:
    """The type of the leaf at a dotted key, or ValueError naming the closest key."""
    current: Any = config_class
    for name in key.split("."):
        hints = field_types(current) if dataclasses.is_dataclass(current) else {}
        if name not in hints:
            raise ValueError(_unknown_key_message(key, config_class))
        current = hints[name]
    return current


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _flatten_values(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat = {}
    for key, value in mapping.items():
        if isinstance(value, dict) and value:
            flat.update(_flatten_values(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
