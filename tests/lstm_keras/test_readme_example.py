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
    implementation, printed = capsys.readouterr().out.split(" ", 1)
    assert implementation == "fused"
    values = np.array(re.findall(r"[-+0-9.e]+", printed), dtype=float)
    assert values.shape == (4,) and ((0 <= values) & (values <= 1)).all()
    assert os.path.exists(tmp_path / "toy_export" / "saved_model.pb")
