"""The README's layer example runs as written."""

import os
import re

import numpy as np

README = os.path.join(os.path.dirname(__file__), "..", "..", "README.md")


def test_readme_layer_example_runs(tmp_path, monkeypatch, capsys):
    with open(README) as file:
        text = file.read()
    section = text.split("## The layer", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {})
    implementation, *values = capsys.readouterr().out.split()
    assert implementation == "fused"
    assert len(values) == 4 and all(0.0 <= float(v) <= 1.0 for v in values)
    assert os.path.exists(tmp_path / "toy_export" / "saved_model.pb")
    assert np.isfinite([float(v) for v in values]).all()
