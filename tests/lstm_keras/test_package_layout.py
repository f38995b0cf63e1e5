"""The layer and the runner stay apart: what each module imports, read from
its source (nothing is imported to check it)."""

import ast
import pathlib

import lstm_keras

PACKAGE = pathlib.Path(lstm_keras.__file__).parent


def _imported_modules(path: pathlib.Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_no_module_of_the_layer_imports_the_runner():
    # `__main__` is `python -m lstm_keras`, the runner's CLI by design.
    layer_modules = sorted(
        path for path in PACKAGE.glob("*.py") if path.name != "__main__.py"
    )
    assert {"lstm.py", "cell.py", "cudnn.py", "fallback.py"} <= {
        path.name for path in layer_modules
    }
    for path in layer_modules:
        runner = [
            name
            for name in _imported_modules(path)
            if name.startswith("lstm_keras.runner")
        ]
        assert not runner, f"{path.name} imports {runner}"


def test_no_module_of_lstm_keras_imports_an_app():
    for path in sorted(PACKAGE.rglob("*.py")):
        apps = [
            name
            for name in _imported_modules(path)
            if name == "apps" or name.startswith("apps.")
        ]
        assert not apps, f"{path.relative_to(PACKAGE)} imports {apps}"


def test_the_runner_exports_what_apps_build_on():
    import lstm_keras.runner as runner

    for name in ("App", "AppData", "TrainConfig", "ConfigSection", "ServingModule"):
        assert name in runner.__all__
        assert getattr(runner, name).__name__ == name
