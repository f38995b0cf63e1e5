"""Cleaning, splitting, normalization, time features and windowing."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from apps.timeseries import config as config_module
from apps.timeseries import data


def _oracle_windows(inputs, targets, input_steps, horizon, stride):
    """Plain-loop windows: the reference for the tf.data pipeline."""
    xs, ys = [], []
    start = 0
    while start + input_steps + horizon <= len(inputs):
        xs.append(inputs[start : start + input_steps])
        ys.append(targets[start + input_steps : start + input_steps + horizon])
        start += stride
    return xs, ys


@pytest.mark.parametrize("stride", [1, 2, 5])
def test_windows_match_numpy_oracle(make_frame, make_config, stride):
    prepared = data.prepare(make_frame(), make_config(stride=stride))
    for split in data.SPLITS:
        expected_x, expected_y = [], []
        for series in prepared.splits[split]:
            inputs, targets = prepared.model_arrays(series)
            xs, ys = _oracle_windows(inputs, targets, 6, 3, stride)
            expected_x += xs
            expected_y += ys
        batches = list(prepared.dataset(split, batch_size=7).as_numpy_iterator())
        got_x = np.concatenate([b[0] for b in batches])
        got_y = np.concatenate([b[1] for b in batches])
        assert got_x.shape == (len(expected_x), 6, prepared.num_inputs)
        assert got_y.shape == (len(expected_y), 3, 1)
        np.testing.assert_array_equal(got_x, np.stack(expected_x))
        np.testing.assert_array_equal(got_y, np.stack(expected_y))
        assert prepared.num_windows(split) == len(expected_x)


def test_shuffled_training_windows_are_a_permutation(make_frame, make_config):
    prepared = data.prepare(make_frame(), make_config())
    ordered = np.concatenate(
        [b[0] for b in prepared.dataset("train", 16).as_numpy_iterator()]
    )
    shuffled = np.concatenate(
        [b[0] for b in prepared.dataset("train", 16, shuffle=True).as_numpy_iterator()]
    )
    assert not np.array_equal(ordered, shuffled)
    key = lambda a: a.reshape(len(a), -1)[:, 0] * 1e6 + a.reshape(len(a), -1)[:, 1]  # noqa: E731
    np.testing.assert_allclose(np.sort(key(ordered)), np.sort(key(shuffled)))


def test_split_is_chronological_70_20_10_per_series(make_frame, make_config):
    prepared = data.prepare(make_frame(steps=200), make_config())
    for index, name in enumerate(["A", "B"]):
        train, validation, test = (prepared.splits[s][index] for s in data.SPLITS)
        assert train.name == validation.name == test.name == name
        assert (len(train.seconds), len(validation.seconds), len(test.seconds)) == (
            140,
            40,
            20,
        )
        assert train.seconds[-1] + 3600 == validation.seconds[0]
        assert validation.seconds[-1] + 3600 == test.seconds[0]


def test_normalization_uses_training_split_only(make_frame, make_config):
    frame = make_frame(steps=200)
    prepared = data.prepare(frame, make_config())
    train_rows = np.concatenate([s.values for s in prepared.splits["train"]])
    np.testing.assert_allclose(prepared.mean, train_rows.mean(axis=0))
    np.testing.assert_allclose(prepared.std, train_rows.std(axis=0))
    # Changing the validation and test periods changes no statistic.
    changed = frame.copy()
    late = changed.groupby("site").cumcount() >= 140
    changed.loc[late, ["temp", "wind"]] *= 100.0
    again = data.prepare(changed, make_config())
    np.testing.assert_array_equal(again.mean, prepared.mean)
    np.testing.assert_array_equal(again.std, prepared.std)
    test_inputs, _ = again.model_arrays(again.splits["test"][0])
    assert np.abs(test_inputs[:, 0]).mean() > 10  # far outside the train range


def test_gaps_nans_and_sentinels_are_filled_and_counted(make_frame, make_config):
    frame = make_frame(steps=200, groups=("A",))
    frame.loc[10, "temp"] = np.nan
    frame.loc[20, "wind"] = -9999.0
    frame.loc[21, "wind"] = -9999.0
    frame = frame.drop(index=[50, 51, 52]).reset_index(drop=True)
    prepared = data.prepare(frame, make_config(group_column=None))
    report = prepared.report
    assert report["missing_timestamps"] == {"series": 3}
    assert report["nan_values"] == {"temp": 1}
    assert report["sentinel_values"] == {"wind": 2}
    assert report["filled_values"] == {"temp": 1 + 3, "wind": 2 + 3}
    values = prepared.splits["train"][0].values
    original = make_frame(steps=200, groups=("A",))
    temp, wind = original["temp"].to_numpy(), original["wind"].to_numpy()
    # Linear interpolation between the neighbours, by hand.
    assert values[10, 0] == pytest.approx((temp[9] + temp[11]) / 2)
    assert values[20, 1] == pytest.approx(wind[19] + (wind[22] - wind[19]) / 3)
    assert values[21, 1] == pytest.approx(wind[19] + 2 * (wind[22] - wind[19]) / 3)
    for offset in range(1, 4):
        expected = temp[49] + offset * (temp[53] - temp[49]) / 4
        assert values[49 + offset, 0] == pytest.approx(expected)
    assert not np.isnan(values).any()


def test_interpolation_stays_inside_each_split(make_frame, make_config):
    frame = make_frame(steps=200, groups=("A",))
    # The last training step (row 139) is missing: it may not borrow from row 140.
    frame.loc[139, "temp"] = np.nan
    prepared = data.prepare(frame, make_config(group_column=None))
    train = prepared.splits["train"][0].values
    assert train[139, 0] == pytest.approx(frame.loc[138, "temp"])


def test_time_features_known_values():
    midnight = pd.Timestamp("2021-01-01T00:00:00Z").value // 10**9
    six = midnight + 6 * 3600
    features = data.time_features(np.array([midnight, six]))
    np.testing.assert_allclose(features[0, :2], [0.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(features[1, :2], [1.0, 0.0], atol=1e-12)
    phase = 2 * np.pi * (midnight % data.SECONDS_PER_YEAR) / data.SECONDS_PER_YEAR
    np.testing.assert_allclose(features[0, 2:], [np.sin(phase), np.cos(phase)])


def test_automatic_features_take_numeric_columns_and_drop_sparse_ones(
    make_frame, make_config
):
    frame = make_frame()
    frame["gust"] = np.nan
    frame.loc[::10, "gust"] = 5.0  # 90% missing
    prepared = data.prepare(frame, make_config(features=None))
    assert prepared.feature_names == ("temp", "wind")
    assert prepared.report["dropped_features"] == {"gust": 0.9}


def test_downsampling_keeps_rows_on_the_grid(make_frame, make_config):
    times = pd.date_range("2020-01-01 00:10", periods=6 * 300, freq="10min", tz="UTC")
    frame = pd.DataFrame(
        {"time": times.strftime("%d.%m.%Y %H:%M:%S"), "temp": np.arange(len(times))}
    )
    config = make_config(
        group_column=None,
        features=(),
        time_format="%d.%m.%Y %H:%M:%S",
        downsample=True,
    )
    prepared = data.prepare(frame, config)
    train = prepared.splits["train"][0]
    assert np.all(train.seconds % 3600 == 0)
    # Row 5 is 01:00, the first full hour; then every sixth row.
    np.testing.assert_array_equal(train.values[:3, 0], [5, 11, 17])
    assert prepared.report["downsampled_rows"] == {"series": 6 * 300 - 300}


def test_builtin_data_summary():
    prepared = data.load(config_module.PRESETS["default"])
    summary = data.summary(prepared)
    assert summary["series"] == ["EWR", "JFK", "LGA"]
    assert summary["targets"] == ["temp"]
    assert prepared.report["missing_timestamps"] == {"EWR": 27, "JFK": 24, "LGA": 24}
    assert prepared.report["nan_values"]["pressure"] == 2729
    assert sum(summary["steps"].values()) == 26115 + 75
    assert summary["windows"]["test"] > 2000


def _one_line_error(frame, config, pattern):
    with pytest.raises(ValueError, match=pattern) as caught:
        data.prepare(frame, config, "weather.csv")
    assert "\n" not in str(caught.value)
    return str(caught.value)


def test_missing_column_is_named(make_frame, make_config):
    message = _one_line_error(
        make_frame(), make_config(targets=("tmp",)), "no column 'tmp'"
    )
    assert "'temp'" in message  # lists what exists


def test_single_row_is_rejected(make_frame, make_config):
    _one_line_error(make_frame().head(1), make_config(), "has 1 row")


def test_all_nan_target_is_rejected(make_frame, make_config):
    frame = make_frame()
    frame["temp"] = np.nan
    _one_line_error(frame, make_config(), "target column 'temp' .* has no values")


def test_all_sentinel_target_in_one_series_is_rejected(make_frame, make_config):
    frame = make_frame()
    frame.loc[frame.site == "B", "temp"] = -9999
    _one_line_error(frame, make_config(), "'temp' has no values in series 'B'")


def test_non_monotonic_timestamps_are_rejected(make_frame, make_config):
    frame = make_frame(groups=("A",))
    frame.loc[[5, 6]] = frame.loc[[6, 5]].to_numpy()
    _one_line_error(frame, make_config(), "not in increasing order.*line 8")


def test_duplicate_timestamps_are_rejected_or_dropped(make_frame, make_config):
    frame = make_frame(groups=("A",))
    frame = pd.concat([frame.iloc[:10], frame.iloc[9:]], ignore_index=True)
    _one_line_error(frame, make_config(), "duplicate timestamp 2020-03-01 09:00")
    prepared = data.prepare(frame, make_config(drop_duplicate_timestamps=True))
    assert prepared.report["duplicate_timestamps"] == {"A": 1}


def test_text_in_numeric_column_is_rejected(make_frame, make_config):
    frame = make_frame().astype({"wind": object})
    frame.loc[7, "wind"] = "calm"
    _one_line_error(frame, make_config(), "'wind' .*not a number: 'calm' \\(line 9\\)")


def test_unparseable_timestamp_is_rejected(make_frame, make_config):
    frame = make_frame()
    frame.loc[3, "time"] = "yesterday"
    _one_line_error(frame, make_config(), "not a timestamp: 'yesterday'")


def test_off_grid_timestamp_is_rejected(make_frame, make_config):
    frame = make_frame(groups=("A",))
    frame.loc[4, "time"] = "2020-03-01T03:30:00Z"
    _one_line_error(frame, make_config(), "not on the 1h grid")


def test_windows_longer_than_the_series_are_rejected(make_frame, make_config):
    _one_line_error(
        make_frame(steps=200),
        make_config(input_steps=24, horizon=12),
        "'A' has 200 steps, so its test split has 20, fewer than one window "
        "\\(input_steps \\+ horizon = 36\\)",
    )


def test_missing_file_and_unknown_source(make_config, tmp_path):
    missing = make_config(source=f"csv:{tmp_path / 'nope.csv'}")
    with pytest.raises(FileNotFoundError, match="no such CSV file"):
        data.load(missing)
    with pytest.raises(ValueError, match="unknown data.source 'parquet:x'"):
        data.load(dataclasses.replace(missing, source="parquet:x"))


def test_csv_source_reads_a_file(make_frame, make_config, tmp_path):
    path = tmp_path / "weather.csv"
    make_frame().to_csv(path, index=False)
    prepared = data.load(make_config(source=f"csv:{path}"))
    assert prepared.source == "weather.csv"
    assert [s.name for s in prepared.splits["test"]] == ["A", "B"]


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="'data.horizon' expects an integer >= 1"):
        config_module.DataConfig(horizon=0)
    with pytest.raises(ValueError, match="'model.kind' expects one of"):
        config_module.ModelConfig(kind="transformer")
    assert config_module.DataConfig(targets=["a", "b"]).targets == ("a", "b")


def test_default_preset_on_a_csv_takes_its_own_columns(make_frame, tmp_path):
    # The two-flag command: source and target; the time column is detected,
    # every numeric column is a feature, and there is no group column.
    path = tmp_path / "mine.csv"
    make_frame(steps=600, groups=("A",)).drop(columns="site").to_csv(path, index=False)
    preset = config_module.PRESETS["default"]
    config = dataclasses.replace(
        preset.data, source=f"csv:{path}", targets=("temp",), input_steps=24
    )
    prepared = data.load(config)
    assert prepared.feature_names == ("temp", "wind")
    assert [s.name for s in prepared.splits["train"]] == ["series"]
    assert prepared.config.time_column == "time"
    assert prepared.config.group_column is None
    # The built-in source keeps its own choices.
    builtin = config_module.with_source_defaults(preset.data)
    assert builtin.group_column == "origin" and "dewp" in builtin.features


def test_csv_with_one_numeric_column_needs_no_target(make_frame, tmp_path):
    path = tmp_path / "one.csv"
    make_frame(steps=600, groups=("A",))[["time", "temp"]].to_csv(path, index=False)
    prepared = data.load(config_module.DataConfig(source=f"csv:{path}", input_steps=24))
    assert prepared.target_names == ("temp",)


def test_ambiguous_columns_are_one_line_errors(make_frame):
    frame = make_frame(groups=("A",)).drop(columns="site")
    config = config_module.DataConfig(input_steps=6, horizon=3)
    _one_line_error(frame, config, r"set data.targets .*\['temp', 'wind'\]")
    frame["other_time"] = frame["time"]
    _one_line_error(frame, config, "several columns look like timestamps")
    _one_line_error(frame[["temp", "wind"]], config, "no column looks like timestamps")


def test_daily_csv_read_as_hourly_is_a_one_line_error(make_frame):
    frame = make_frame(steps=200, groups=("A",)).drop(columns="site")
    frame["time"] = pd.date_range("2020-01-01", periods=200, freq="D").strftime(
        "%Y-%m-%d"
    )
    config = config_module.DataConfig(
        time_column="time", targets=("temp",), input_steps=6, horizon=3
    )
    message = _one_line_error(frame, config, "set data.frequency=24h")
    assert "1 days" in message
    prepared = data.prepare(frame, dataclasses.replace(config, frequency="1D"))
    assert prepared.steps_per_day == 1


def test_mase_scale_is_the_training_seasonal_naive_mae(make_frame, make_config):
    from apps.timeseries import evaluation

    prepared = data.prepare(make_frame(), make_config())
    expected = np.concatenate(
        [np.abs(s.values[24:, 0] - s.values[:-24, 0]) for s in prepared.splits["train"]]
    ).mean()
    assert evaluation.seasonal_naive_scale(prepared)[0] == pytest.approx(expected)
