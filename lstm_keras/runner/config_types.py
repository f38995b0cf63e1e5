"""Typed config sections: every field is checked against its type on creation.

An app's config is a tree of frozen dataclasses that subclass `ConfigSection`.
The field types say what is valid, so apps write no checks of their own for
one field: `Literal["luong", "bahdanau"]` for a choice, `tuple[str, ...]` for
a list (YAML lists become tuples), `PositiveInt`, `Fraction` and friends for
bounds (`Annotated[int, AtLeast(1)]`). A section overrides `check()` only for
rules that involve two fields. Every failure reads the same way:
`config key 'model.attention' expects one of 'luong', 'bahdanau'; got 'dot'`.
"""

from __future__ import annotations

import dataclasses
import functools
import operator
import types
import typing
from collections.abc import Mapping
from typing import Annotated, Any


@dataclasses.dataclass(frozen=True)
class Bound:
    """A limit for `Annotated` number fields: `Annotated[int, AtLeast(1)]`."""

    symbol: str  # one of _COMPARISONS
    limit: float

    def holds(self, value: float) -> bool:
        return _COMPARISONS[self.symbol](value, self.limit)

    def __str__(self) -> str:
        return f"{self.symbol} {self.limit:g}"


_COMPARISONS = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
}


def AtLeast(limit: float) -> Bound:  # noqa: N802 (reads as a type annotation)
    return Bound(">=", limit)


def Above(limit: float) -> Bound:  # noqa: N802
    return Bound(">", limit)


def AtMost(limit: float) -> Bound:  # noqa: N802
    return Bound("<=", limit)


def Below(limit: float) -> Bound:  # noqa: N802
    return Bound("<", limit)


PositiveInt = Annotated[int, AtLeast(1)]
NonNegativeInt = Annotated[int, AtLeast(0)]
PositiveFloat = Annotated[float, Above(0)]
NonNegativeFloat = Annotated[float, AtLeast(0)]
# Dropout rates, label smoothing: [0, 1).
Fraction = Annotated[float, AtLeast(0), Below(1)]
Probability = Annotated[float, AtLeast(0), AtMost(1)]


@dataclasses.dataclass(frozen=True)
class ConfigSection:
    """Base of every config section: coerces and checks each field by its type.

    Subclasses are `@dataclasses.dataclass(frozen=True)` and override `check()`
    for rules between fields. Values are converted only where nothing is lost
    (a YAML list to a tuple, `3` to `3.0`, `"1e-3"` to a float).
    """

    # The section's key in the app config (`data`, `model`, `train`), so that
    # errors name `model.units` whether from `--set` or from Python.
    section_key = ""

    def __post_init__(self):
        prefix = f"{self.section_key}." if self.section_key else ""
        for name, field_type in field_types(type(self)).items():
            value = getattr(self, name)
            coerced = coerce(value, field_type, prefix + name)
            if coerced is not value:
                object.__setattr__(self, name, coerced)
        self.check()

    def check(self) -> None:
        """Checks that involve more than one field; raise ValueError."""


@functools.cache
def field_types(config_class: type) -> dict[str, Any]:
    """`{field: type}` of a config dataclass, `Annotated` bounds kept."""
    hints = typing.get_type_hints(config_class, include_extras=True)
    return {field.name: hints[field.name] for field in dataclasses.fields(config_class)}


def accepts_str(field_type: Any) -> bool:
    """Whether a field takes text as typed (so `--set` keeps `yes` a string)."""
    field_type = _without_bounds(field_type)
    if field_type is str:
        return True
    if _is_union(field_type):
        return any(accepts_str(a) for a in typing.get_args(field_type))
    return False


def coerce(value: Any, field_type: Any, key: str, source: str = "") -> Any:
    """Checks `value` against `field_type`, converting only where lossless.

    Raises:
        ValueError: `config key KEY expects WHAT; got VALUE`, plus the file the
            value came from when `source` names one.
    """
    where = f" (in {source})" if source else ""

    def fail(expected: str) -> ValueError:
        return ValueError(
            f"config key {key!r} expects {expected}; got {value!r}{where}"
        )

    origin = typing.get_origin(field_type)
    arguments = typing.get_args(field_type)
    if origin is Annotated:
        base, bounds = arguments[0], field_type.__metadata__
        expected = f"{_type_name(base)} " + " and ".join(map(str, bounds))
        try:
            converted = coerce(value, base, key, source)
        except ValueError:
            raise fail(expected) from None
        if not all(bound.holds(converted) for bound in bounds):
            raise fail(expected)
        return converted
    if field_type is Any:
        return value
    if _is_union(field_type):
        if value is None and type(None) in arguments:
            return None
        for argument in arguments:
            if argument is type(None):
                continue
            try:
                return coerce(value, argument, key, source)
            except ValueError:
                continue
        raise fail(" or ".join(_type_name(a) for a in arguments))
    if origin is typing.Literal:
        if value in arguments:
            return value
        raise fail("one of " + ", ".join(repr(a) for a in arguments))
    if field_type is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise fail("true or false")
    if field_type is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
        raise fail("an integer")
    if field_type is float:
        if isinstance(value, float):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            # PyYAML reads `1e-3` (no dot) as a string.
            try:
                return float(value)
            except ValueError:
                pass
        raise fail("a number")
    if field_type is str:
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        raise fail("a string")
    if origin in (tuple, list):
        return _coerce_sequence(value, origin, arguments, key, source, fail)
    if origin is dict:
        if not isinstance(value, Mapping):
            raise fail("a mapping")
        key_type, value_type = arguments or (Any, Any)
        return {
            coerce(k, key_type, key, source): coerce(
                v, value_type, f"{key}.{k}", source
            )
            for k, v in value.items()
        }
    if isinstance(field_type, type) and isinstance(value, field_type):
        return value
    raise fail(_type_name(field_type))


def _coerce_sequence(value, origin, arguments, key, source, fail):
    if not isinstance(value, list | tuple):
        raise fail("a list such as [a, b]")
    if origin is tuple and len(arguments) == 2 and arguments[1] is Ellipsis:
        element_types = [arguments[0]] * len(value)
    elif origin is tuple and arguments:
        if len(arguments) != len(value):
            raise fail(f"a list of {len(arguments)} items")
        element_types = list(arguments)
    else:
        element_types = [arguments[0] if arguments else Any] * len(value)
    items = [
        coerce(item, item_type, f"{key}[{index}]", source)
        for index, (item, item_type) in enumerate(
            zip(value, element_types, strict=True)
        )
    ]
    if origin is tuple:
        items = tuple(items)
        # Keep the very object when nothing changed (frozen sections compare it).
        return value if isinstance(value, tuple) and items == value else items
    return value if isinstance(value, list) and items == value else items


def _without_bounds(field_type: Any) -> Any:
    if typing.get_origin(field_type) is Annotated:
        return typing.get_args(field_type)[0]
    return field_type


def _is_union(field_type: Any) -> bool:
    return typing.get_origin(field_type) in (typing.Union, types.UnionType)


def _type_name(field_type: Any) -> str:
    field_type = _without_bounds(field_type)
    names = {int: "an integer", float: "a number", str: "a string"}
    names[type(None)] = "null"
    if field_type in names:
        return names[field_type]
    return getattr(field_type, "__name__", None) or str(field_type).replace(
        "typing.", ""
    )
