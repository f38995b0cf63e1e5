"""`ConfigSection`: the field types validate, in one error format."""

import dataclasses
from typing import Literal

import pytest

from lstm_keras.runner.config_types import (
    ConfigSection,
    Fraction,
    NonNegativeInt,
    PositiveInt,
)


@dataclasses.dataclass(frozen=True)
class _Model(ConfigSection):
    section_key = "model"

    kind: Literal["lstm", "crnn"] = "lstm"
    units: tuple[PositiveInt, ...] = (8,)
    dropout: Fraction = 0.0
    layers: NonNegativeInt = 1
    rate: float = 1.0
    name: str | None = None

    def check(self):
        if self.layers and not self.units:
            raise ValueError("model.units needs a size per layer")


def test_types_convert_only_without_loss():
    model = _Model(units=[4, 8], rate=2, layers=3.0)
    assert model.units == (4, 8) and isinstance(model.units, tuple)
    assert model.rate == 2.0 and isinstance(model.rate, float)
    assert model.layers == 3 and isinstance(model.layers, int)
    assert model == _Model(units=(4, 8), rate=2.0, layers=3)
    hash(model)  # lists became tuples: still hashable


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"kind": "gru"}, "'model.kind' expects one of 'lstm', 'crnn'; got 'gru'"),
        ({"units": (4, 0)}, r"'model.units\[1\]' expects an integer >= 1; got 0"),
        ({"dropout": 1.0}, "'model.dropout' expects a number >= 0 and < 1; got 1.0"),
        ({"layers": -1}, "'model.layers' expects an integer >= 0; got -1"),
        ({"layers": 1.5}, "'model.layers' expects an integer >= 0; got 1.5"),
        ({"rate": "fast"}, "'model.rate' expects a number; got 'fast'"),
        ({"units": "8"}, r"'model.units' expects a list such as \[a, b\]"),
        ({"name": [1]}, r"'model.name' expects a string or null; got \[1\]"),
    ],
)
def test_a_wrong_value_names_the_dotted_key(changes, message):
    with pytest.raises(ValueError, match=f"^config key {message}"):
        _Model(**changes)


def test_checks_between_fields_run_after_the_types():
    with pytest.raises(ValueError, match="model.units needs a size per layer"):
        _Model(units=[])
    assert _Model(units=[], layers=0).units == ()
