"""Runs a SavedModel in a fresh process, as TF Serving would: TensorFlow only.

Started by `lstm_keras.runner.export.verify_export` as
`python -I export_check.py SAVED_MODEL REQUESTS.json OUTPUTS.json [MODULE...]`.
Run by path in isolated mode, it imports nothing from this project (and
checks that): a SavedModel that needs project code to load is not servable,
nor one that needs XLA (TF Serving runs XLA only behind an experimental
flag, `--xla_cpu_compilation_enabled`).
`MODULE...` are op libraries TF Serving links (e.g. `tensorflow_text`).
"""

import importlib
import json
import os
import sys

_PROJECT_PACKAGES = ("lstm_keras", "apps", "lstm_keras_datasets")


def main(argv):
    saved_model, request_index, output_index, *op_libraries = argv
    import tensorflow as tf

    for name in op_libraries:
        importlib.import_module(name)
    tensor_proto = type(tf.make_tensor_proto(0))
    loaded = tf.saved_model.load(saved_model)
    for name, function in loaded.signatures.items():
        xla = _xla_compiled(function.graph.as_graph_def())
        if xla:
            raise SystemExit(
                f"signature {name!r} runs XLA-compiled functions ({xla[0]}):"
                " TF Serving runs them only with --xla_cpu_compilation_enabled"
            )
    with open(request_index, encoding="utf-8") as file:
        requests = json.load(file)
    folder = os.path.dirname(output_index)
    outputs_index = {}
    for group_number, (signature, inputs) in enumerate(requests.items()):
        if signature not in loaded.signatures:
            raise SystemExit(f"signature {signature!r} missing from the SavedModel")
        tensors = {}
        for name, path in inputs.items():
            proto = tensor_proto()
            with open(path, "rb") as file:
                proto.ParseFromString(file.read())
            tensors[name] = tf.constant(tf.make_ndarray(proto))
        outputs = loaded.signatures[signature](**tensors)
        outputs_index[signature] = {}
        for number, (name, value) in enumerate(outputs.items()):
            path = os.path.join(folder, f"out-{group_number}-{number}.pb")
            with open(path, "wb") as file:
                file.write(tf.make_tensor_proto(value.numpy()).SerializeToString())
            outputs_index[signature][name] = path
    imported = sorted(
        name for name in sys.modules if name.split(".")[0] in _PROJECT_PACKAGES
    )
    if imported:
        raise SystemExit(f"loading the SavedModel imported project code: {imported}")
    with open(output_index, "w", encoding="utf-8") as file:
        json.dump(outputs_index, file)


def _xla_compiled(graph_def):
    """Names of the functions and calls in `graph_def` marked for XLA."""

    def marked(attributes):
        return "_XlaMustCompile" in attributes and attributes["_XlaMustCompile"].b

    nodes = list(graph_def.node)
    found = []
    for function in graph_def.library.function:
        if marked(function.attr):
            found.append(function.signature.name)
        nodes.extend(function.node_def)
    return found + [node.name for node in nodes if marked(node.attr)]


if __name__ == "__main__":
    main(sys.argv[1:])
