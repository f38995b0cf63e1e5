"""The `lstm-keras` command line (also `python -m lstm_keras`).

Every app (speech, translation, timeseries, or any registered in the
`lstm_keras.apps` entry-point group) gets the same commands, flags, files and
guarantees; see `lstm-keras --help` and the README's "Command line" section.
"""

from __future__ import annotations

import argparse
import errno
import functools
import json
import os
import re
import sys
from collections.abc import Sequence

from lstm_keras.runner.tensorflow_logs import (
    VERBOSE_ENVIRONMENT,
    import_tensorflow,
    verbose_from_environment,
)

_DESCRIPTION = """\
Train, evaluate, export and serve LSTM apps built on lstm_keras.LSTM.

Start with:
  lstm-keras apps                                  list the apps and presets
  lstm-keras train timeseries --preset tiny --output runs/ts
  lstm-keras predict timeseries --model runs/ts/export/timeseries weather.csv

Config: the preset (--preset), then a YAML file (--config), then --set KEY=VALUE
(dotted keys, YAML values: --set train.epochs=5 --set 'data.targets=[temp]').

TensorFlow's own log lines are hidden; --verbose (or LSTM_KERAS_VERBOSE=1)
shows them.
"""

_EPILOG = "Run `lstm-keras COMMAND --help` for a command's flags."


class _Parser(argparse.ArgumentParser):
    """Reports a bad flag as one line, not a usage block."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# Commands that answer without TensorFlow (and so in well under a second).
_WITHOUT_TENSORFLOW = ("apps", "config")


class _UsageError(Exception):
    """A problem with what was asked for (exit code 2), found before any work."""


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="lstm-keras",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_verbose(parser, default=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    # `--verbose` also after the command; SUPPRESS keeps a leading one.
    verbose = _Parser(add_help=False)
    _add_verbose(verbose, default=argparse.SUPPRESS)
    commands.add_parser = functools.partial(commands.add_parser, parents=[verbose])

    train = commands.add_parser(
        "train",
        help="train an app, evaluate it, export it (resumes a killed run)",
        description="Train APP, evaluate it on the test split, export it for TF "
        "Serving and write DIR/metrics.json. Killed, the same command resumes "
        "from the last completed epoch.",
    )
    _add_app(train)
    _add_config_flags(train)
    _add_output(train, "run directory (created; holds config.yaml, metrics.json, ...)")

    evaluate = commands.add_parser(
        "evaluate", help="re-run the test evaluation of a trained run"
    )
    _add_app(evaluate)
    _add_output(evaluate, "run directory written by `lstm-keras train`")

    export = commands.add_parser(
        "export", help="export a trained run's best checkpoint as a new version"
    )
    _add_app(export)
    _add_output(export, "run directory written by `lstm-keras train`")

    predict = commands.add_parser(
        "predict",
        help="run an exported SavedModel on raw inputs (one JSON line each)",
        description="Run the exported SavedModel (not the Python model) on "
        "inputs: WAV files (speech), sentences or '-' for stdin (translation), a "
        "CSV (timeseries). Prints one JSON object per input.",
    )
    _add_app(predict)
    predict.add_argument(
        "--model",
        required=True,
        metavar="EXPORT_DIR",
        help="a version folder, DIR/export/APP (newest version) or DIR/export",
    )
    predict.add_argument("inputs", nargs="+", metavar="INPUT")

    data = commands.add_parser(
        "data", help="build or fetch an app's dataset and print its summary"
    )
    _add_app(data)
    _add_config_flags(data)

    config = commands.add_parser(
        "config", help="print an app's resolved config (every key) as YAML"
    )
    _add_app(config)
    _add_config_flags(config)

    commands.add_parser("apps", help="list the registered apps and their presets")

    bench = commands.add_parser(
        "bench",
        help="time lstm_keras.LSTM against keras.layers.LSTM",
        add_help=False,
        description="Layer benchmark; flags go to lstm_keras.benchmark "
        "(`lstm-keras bench --help`).",
    )
    bench.add_argument("bench_args", nargs=argparse.REMAINDER)

    demo = commands.add_parser(
        "demo",
        help="train and export every app with its default preset, print a table",
    )
    demo.add_argument(
        "--output", default="runs/demo", metavar="ROOT", help="runs go to ROOT/APP"
    )
    demo.add_argument("--preset", default="default", help="preset for every app")
    demo.add_argument(
        "--apps", nargs="+", metavar="APP", help="only these apps (default: all)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `lstm-keras`; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    # `bench` hands every following flag, --help included, to the benchmark.
    if argv and argv[0] == "bench":
        import_tensorflow(verbose=verbose_from_environment())
        return _bench(argv[1:])
    arguments = build_parser().parse_args(argv)
    if arguments.verbose:
        # Child processes (demo runs, export checks) inherit it.
        os.environ[VERBOSE_ENVIRONMENT] = "1"
    try:
        if arguments.command not in _WITHOUT_TENSORFLOW:
            import_tensorflow(verbose=verbose_from_environment())
        return _run(arguments)
    except _UsageError as error:
        print(f"lstm-keras {arguments.command}: error: {error}", file=sys.stderr)
        return 2
    except (ValueError, OSError) as error:
        if os.environ.get("LSTM_KERAS_TRACEBACK"):
            raise  # For debugging an app: the whole story, not one line.
        print(
            f"lstm-keras {arguments.command}: error: {error_message(error)}",
            file=sys.stderr,
        )
        return 1
    except Exception as error:
        if not _is_tensorflow_io_error(error) or os.environ.get("LSTM_KERAS_TRACEBACK"):
            raise
        message = " ".join(error.message.split())
        print(f"lstm-keras {arguments.command}: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"lstm-keras {arguments.command}: interrupted", file=sys.stderr)
        return 130


def _run(arguments: argparse.Namespace) -> int:
    from lstm_keras.runner import commands

    if arguments.command == "apps":
        return _list_apps()
    if arguments.command == "demo":
        return _demo(arguments)
    app = _usage(_load_app, arguments.app)
    if arguments.command in ("train", "data", "config"):
        config = _usage(_resolve, app, arguments)
    if arguments.command == "train":
        metrics = commands.train_app(app, config, arguments.output, arguments.preset)
        if metrics:
            # The whole test metrics are in metrics.json; this is the summary.
            summary = {
                "headline": metrics["headline"],
                "metrics": os.path.join(arguments.output, "metrics.json"),
                "export": metrics["export"]["path"],
            }
            print(json.dumps(summary, indent=2))
    elif arguments.command == "evaluate":
        print(
            json.dumps(commands.evaluate_run(app, arguments.output)["test"], indent=2)
        )
    elif arguments.command == "export":
        print(json.dumps(commands.export_run(app, arguments.output), indent=2))
    elif arguments.command == "predict":
        for record in commands.predict_with_export(
            app, arguments.model, arguments.inputs
        ):
            print(json.dumps(record, ensure_ascii=False), flush=True)
    elif arguments.command == "data":
        print(
            json.dumps(commands.describe_app_data(app, config), indent=2, default=str)
        )
    elif arguments.command == "config":
        import yaml

        from lstm_keras.runner.config import config_to_dict

        print(yaml.safe_dump(config_to_dict(config), sort_keys=False), end="")
    return 0


def error_message(error: BaseException) -> str:
    """One line for an error; an `OSError` as where, why and what to do."""
    text = str(error)
    if isinstance(error, OSError) and error.errno is not None:
        where = error.filename
        if where is None:
            # h5py puts the file in its message: "..., filename = 'x.h5', ...".
            match = re.search(r"filename = '([^']*)'", str(error.strerror))
            where = match.group(1) if match else None
        code = errno.errorcode.get(error.errno, str(error.errno))
        reason = error.strerror or ""
        if not reason or "\n" in reason or len(reason) > 200:
            reason = os.strerror(error.errno)  # h5py's is a page long.
        if where is not None:
            if error.filename2 is not None:
                where = f"{where} -> {error.filename2}"
            verb = "cannot write " if error.errno in _WRITE_ERRORS else ""
            text = f"{verb}{where}: {reason} ({code})"
        else:
            text = f"{reason} ({code})"
        text += _OS_ERROR_HINTS.get(error.errno, "")
    return " ".join(text.split()) or type(error).__name__


_WRITE_ERRORS = (errno.ENOSPC, errno.EROFS, errno.EDQUOT)
_OS_ERROR_HINTS = {
    errno.ENOSPC: "; free some space or choose another --output",
    errno.EDQUOT: "; free some space or choose another --output",
    errno.EROFS: "; choose an --output on a writable filesystem",
    errno.EACCES: "; choose a path you may write to",
}
# TensorFlow's file-system errors (full disk, permissions, missing files):
# one line like an OSError. Its other errors are bugs: a traceback.
_TENSORFLOW_IO_ERRORS = (
    "ResourceExhaustedError",
    "PermissionDeniedError",
    "NotFoundError",
    "AlreadyExistsError",
    "DataLossError",
)


def _is_tensorflow_io_error(error: BaseException) -> bool:
    tensorflow = sys.modules.get("tensorflow")
    return (
        tensorflow is not None
        and isinstance(error, tensorflow.errors.OpError)
        and type(error).__name__ in _TENSORFLOW_IO_ERRORS
    )


def _add_verbose(parser: argparse.ArgumentParser, default) -> None:
    parser.add_argument(
        "--verbose",
        action="store_true",
        default=default,
        help="show TensorFlow's log lines (also LSTM_KERAS_VERBOSE=1)",
    )


def _add_app(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "app",
        metavar="APP",
        help="app name (`lstm-keras apps` lists them) or module:ATTRIBUTE",
    )


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--preset",
        default="default",
        help="named starting config: tiny (seconds, tests), default (the demo), "
        "larger ones for real data (default: %(default)s)",
    )
    parser.add_argument(
        "--config",
        metavar="FILE.yaml",
        help="YAML file of keys applied over the preset",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one key, applied last; repeatable (e.g. --set train.epochs=3)",
    )


def _add_output(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument("--output", required=True, metavar="DIR", help=help_text)


def _usage(function, *arguments):
    """Runs `function`, turning a bad request into a `_UsageError` (exit 2)."""
    try:
        return function(*arguments)
    except (ValueError, FileNotFoundError) as error:
        raise _UsageError(" ".join(str(error).split())) from None


def _load_app(name: str):
    from lstm_keras.runner.registry import load_app

    return load_app(name)


def _resolve(app, arguments: argparse.Namespace):
    from lstm_keras.runner.config import resolve_config

    return resolve_config(app, arguments.preset, arguments.config, arguments.overrides)


def _list_apps() -> int:
    from lstm_keras.runner.registry import app_names, load_app

    names = app_names()
    if not names:
        print("no apps registered (install the project: pip install -e .)")
    for name in names:
        app = load_app(name)
        print(f"{name}: presets {', '.join(app.presets)}")
    return 0


def _demo(arguments: argparse.Namespace) -> int:
    from lstm_keras.runner.demo import format_table, run_demo
    from lstm_keras.runner.registry import app_names

    names = arguments.apps or app_names()
    if not names:
        raise _UsageError("no apps registered (install the project: pip install -e .)")
    apps = {name: _usage(_load_app, name).name for name in names}
    rows = run_demo(apps, arguments.output, arguments.preset)
    print("\n" + format_table(rows))
    return 0 if all(row["status"] == "ok" for row in rows) else 1


def _bench(argv: list[str]) -> int:
    try:
        from lstm_keras import benchmark
    except ImportError as error:
        print(
            f"lstm-keras bench: error: benchmark unavailable: {error}", file=sys.stderr
        )
        return 1
    result = benchmark.main(argv)
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
