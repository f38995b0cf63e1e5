"""Config resolution: preset, then YAML, then --set; typed; unknown keys named."""

import dataclasses

import pytest
import toy_app

from lstm_keras.runner import TrainConfig
from lstm_keras.runner.config import (
    apply_overrides,
    differing_keys,
    load_run_config,
    resolve_config,
    valid_keys,
    write_config,
)

APP = toy_app.APP


@dataclasses.dataclass(frozen=True)
class _Data:
    source: str = "builtin"
    targets: tuple[str, ...] = ("temp",)
    weights: dict[str, float] = dataclasses.field(default_factory=dict)
    limit: int | None = None


@dataclasses.dataclass(frozen=True)
class _Config:
    data: _Data = _Data()
    train: TrainConfig = TrainConfig()


def test_override_order_is_preset_then_yaml_then_set(tmp_path):
    path = tmp_path / "override.yaml"
    path.write_text("train:\n  epochs: 7\n  batch_size: 8\nmodel:\n  units: 4\n")

    config = resolve_config(APP, "tiny", path, ["train.epochs=9"])

    assert config.train.epochs == 9  # --set beats the file
    assert config.train.batch_size == 8  # the file beats the preset
    assert config.model.units == 4
    assert config.train.learning_rate == APP.presets["tiny"].train.learning_rate
    assert APP.presets["tiny"].train.epochs == 3  # presets are never mutated


def test_set_values_are_yaml_with_real_types():
    config = apply_overrides(
        _Config(),
        [
            "data.targets=[temp_air, humidity]",
            "train.learning_rate=1e-3",  # PyYAML reads this as a string
            "train.mixed_precision=true",
            "data.weights={a: 1, b: 0.5}",
            "data.limit=12",
        ],
    )

    assert config.data.targets == ("temp_air", "humidity")
    assert config.train.learning_rate == pytest.approx(0.001)
    assert isinstance(config.train.learning_rate, float)
    assert config.train.mixed_precision is True
    assert config.data.weights == {"a": 1.0, "b": 0.5}
    assert config.data.limit == 12
    assert apply_overrides(config, ["data.limit=null"]).data.limit is None


def test_string_field_keeps_the_text_as_typed():
    config = apply_overrides(_Config(), ["data.source=yes", "train.strategy=default"])
    assert config.data.source == "yes"  # not YAML's True
    config = apply_overrides(_Config(), ["data.source=csv:/tmp/my file.csv"])
    assert config.data.source == "csv:/tmp/my file.csv"


def test_unknown_set_key_names_the_closest_key():
    with pytest.raises(
        ValueError, match=r"'train\.epoch'.*did you mean 'train\.epochs'"
    ):
        resolve_config(APP, "tiny", overrides=["train.epoch=3"])
    with pytest.raises(ValueError, match=r"did you mean 'data\.source'"):
        resolve_config(APP, "tiny", overrides=["data.sorce=csv:x.csv"])
    with pytest.raises(ValueError, match=r"did you mean 'model\.units'"):
        resolve_config(APP, "tiny", overrides=["units=3"])


def test_unknown_yaml_key_names_the_closest_key(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("train:\n  learning_rat: 0.1\n")
    with pytest.raises(ValueError, match=r"did you mean 'train\.learning_rate'"):
        resolve_config(APP, "tiny", path)


def test_wrong_type_names_the_key():
    with pytest.raises(
        ValueError, match=r"'train.epochs' expects an integer >= 1; got 'many'"
    ):
        resolve_config(APP, "tiny", overrides=["train.epochs=many"])
    with pytest.raises(ValueError, match=r"'data.targets' expects a list"):
        apply_overrides(_Config(), ["data.targets=temp"])
    with pytest.raises(ValueError, match=r"'train' holds a section"):
        apply_overrides(_Config(), ["train=3"])


def test_invalid_values_are_rejected_by_the_dataclass():
    with pytest.raises(ValueError, match=r"'train\.strategy' expects one of 'default'"):
        resolve_config(APP, "tiny", overrides=["train.strategy=tpu"])
    with pytest.raises(
        ValueError, match=r"'train\.epochs' expects an integer >= 1; got 0"
    ):
        resolve_config(APP, "tiny", overrides=["train.epochs=0"])


def test_malformed_override_and_unknown_preset_are_clear():
    with pytest.raises(ValueError, match="expects KEY=VALUE"):
        resolve_config(APP, "tiny", overrides=["train.epochs"])
    with pytest.raises(ValueError, match="unknown preset 'huge'.*tiny, default"):
        resolve_config(APP, "huge")
    with pytest.raises(FileNotFoundError, match="config file not found"):
        resolve_config(APP, "tiny", "/nonexistent/config.yaml")


def test_invalid_yaml_file_is_one_clear_error(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("train: [epochs: 3\n")
    with pytest.raises(ValueError, match="is not valid YAML") as error:
        resolve_config(APP, "tiny", path)
    assert "\n" not in str(error.value)


def test_written_config_reads_back_equal(tmp_path):
    config = resolve_config(
        APP, "tiny", overrides=["train.learning_rate=0.0123", "data.source=builtin"]
    )
    path = write_config(config, tmp_path / "config.yaml", header="a header")

    assert load_run_config(APP, path) == config
    assert differing_keys(config, APP.presets["tiny"]) == ["train.learning_rate"]
    assert "train.early_stopping_patience" in valid_keys(type(config))


@dataclasses.dataclass(frozen=True)
class _Paired:
    source: str = "builtin"
    extras: str = "none"

    def __post_init__(self):
        if self.extras != "none" and self.source != "builtin":
            raise ValueError("extras needs source=builtin")


@dataclasses.dataclass(frozen=True)
class _PairedConfig:
    data: _Paired = _Paired(extras="some")


@pytest.mark.parametrize(
    "overrides",
    [
        ["data.source=tsv:my.tsv", "data.extras=none"],
        ["data.extras=none", "data.source=tsv:my.tsv"],
    ],
)
def test_overrides_are_validated_after_all_are_applied(overrides):
    config = apply_overrides(_PairedConfig(), overrides)
    assert config.data == _Paired(source="tsv:my.tsv", extras="none")


def test_a_check_failing_after_all_overrides_is_still_an_error():
    with pytest.raises(ValueError, match="extras needs source=builtin"):
        apply_overrides(_PairedConfig(), ["data.source=tsv:my.tsv"])
    # The last value of a repeated key counts.
    config = apply_overrides(_PairedConfig(), ["data.source=x", "data.source=builtin"])
    assert config.data.source == "builtin"
