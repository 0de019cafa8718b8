"""Shapley values of test/reference/shap-fixture.json, computed with the Python `shap` package, for
test/unit/shapley.test.ts. Run by hand when the fixture changes:

    python3.11 -m venv /tmp/shapref && /tmp/shapref/bin/pip install shap==0.51.0
    /tmp/shapref/bin/python test/reference/shap_reference.py > test/reference/shap-vectors.json
    npx prettier --write test/reference/shap-vectors.json

The model is the fixture's network (its layers' kernels, biases and activations) run in numpy, in float64. The
players are Lumen's features, not the network's inputs: each row handed to shap is one pointer per feature, 0 for
"this feature as the explained row has it" and k for "as background row k has it"; the model function builds the
encoded row from the fixture's per-feature blocks. With shap's Independent masker over the background's pointer
rows, ExactExplainer then plays the same interventional game as lib/explain/shapley.ts, every subset of the six
features against every background row.
"""

import json
import sys
from pathlib import Path

import numpy as np
import shap

fixture = json.loads((Path(__file__).parent / "shap-fixture.json").read_text())
layers = [
    (np.array(layer["kernel"], dtype=np.float64), np.array(layer["bias"], dtype=np.float64), layer["activation"])
    for layer in fixture["layers"]
]
background_blocks = fixture["background"]["blocks"]
B = len(background_blocks)
F = len(fixture["preprocessor"]["features"])


def activate(h, activation):
    if activation == "relu":
        return np.maximum(h, 0)
    if activation == "softmax":
        e = np.exp(h - h.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    if activation == "sigmoid":
        return 1 / (1 + np.exp(-h))
    if activation == "linear":
        return h
    raise ValueError(f"activation {activation} is not in this reference")


def network(x):
    h = x
    for kernel, bias, activation in layers:
        h = activate(h @ kernel + bias, activation)
    return h


def model_for(explained_blocks):
    def f(pointers):
        pointers = np.asarray(pointers, dtype=np.int64)
        encoded = np.array(
            [
                np.concatenate(
                    [explained_blocks[i] if p[i] == 0 else background_blocks[p[i] - 1][i] for i in range(F)]
                )
                for p in pointers
            ],
            dtype=np.float64,
        )
        return network(encoded)

    return f


background_pointers = np.repeat(np.arange(1, B + 1)[:, None], F, axis=1)
rows = []
for blocks in fixture["explained"]["blocks"]:
    f = model_for(blocks)
    explainer = shap.ExactExplainer(f, shap.maskers.Independent(background_pointers, max_samples=B))
    explanation = explainer(np.zeros((1, F), dtype=np.int64))
    rows.append(
        {
            # one list per class: each feature's value for that class's probability
            "values": explanation.values[0].T.tolist(),
            "base": np.atleast_1d(explanation.base_values[0]).tolist(),
            "output": f(np.zeros((1, F), dtype=np.int64))[0].tolist(),
        }
    )

json.dump(
    {
        "about": "test/reference/shap_reference.py: shap.ExactExplainer over the fixture's features",
        "versions": {"shap": shap.__version__, "numpy": np.__version__, "python": sys.version.split()[0]},
        "rows": rows,
    },
    sys.stdout,
    indent=1,
)
sys.stdout.write("\n")
