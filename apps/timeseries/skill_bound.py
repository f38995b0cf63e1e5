"""How far below last value a linear model gets when it has seen the test
period: `python -m apps.timeseries.skill_bound [PRESET]`.

Fits the linear baseline (ridge on the whole flattened window) on the
windows of all three splits, test included, and prints its test MAE next to
last value's and the issue's target (25% below last value). Not a forecaster
anyone could run (it has seen the answers), but a measure of how much of the
day-ahead error a window of this data explains at best with this model.
"""

from __future__ import annotations

import sys

import numpy as np

from . import data, model
from .config import PRESETS


def main(preset: str = "default") -> None:
    info = data.load(PRESETS[preset])
    windows = {split: info.window_arrays(split) for split in info.splits}
    test_inputs, test_truth = windows["test"]
    scale = info.std[: info.num_targets]

    def mae(forecast):
        return np.abs(forecast - test_truth).mean(axis=(0, 1)) * scale

    last = mae(model.last_value_forecast(test_inputs, info.num_targets, info.horizon))
    inputs = np.concatenate([pair[0] for pair in windows.values()])
    targets = np.concatenate([pair[1] for pair in windows.values()])
    seen = mae(model.LinearForecaster().fit(inputs, targets).predict(test_inputs))
    for index, name in enumerate(info.target_names):
        print(
            f"{name}: last value {last[index]:.3f}, 25% below it "
            f"{0.75 * last[index]:.3f}; linear fitted on all splits "
            f"{seen[index]:.3f} ({1 - seen[index] / last[index]:.1%} below)"
        )


if __name__ == "__main__":
    main(*sys.argv[1:])
