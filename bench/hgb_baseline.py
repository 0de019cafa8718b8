"""HistGradientBoosting on the arrays bench/inferred-quality.ts writes to <folder>, one case per name.

<name>-{train,holdout}.f32: rows of the inputs then the label; <name>.json: task, width, which inputs are
categorical, the metric. Default settings (random_state 0), native categoricals, NaN as missing. Prints one JSON
object {name: metric on the holdout}.
"""
import json
import sys

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.metrics import f1_score, r2_score, roc_auc_score

folder, names = sys.argv[1], sys.argv[2:]
scores = {}
for name in names:
    meta = json.load(open(f"{folder}/{name}.json"))
    width = meta["width"]
    train = np.fromfile(f"{folder}/{name}-train.f32", dtype=np.float32).reshape(-1, width)
    holdout = np.fromfile(f"{folder}/{name}-holdout.f32", dtype=np.float32).reshape(-1, width)
    x, y, hx, hy = train[:, :-1], train[:, -1], holdout[:, :-1], holdout[:, -1]
    categorical = meta["categorical"] if any(meta["categorical"]) else None
    if meta["task"] == "regression":
        model = HistGradientBoostingRegressor(categorical_features=categorical, random_state=0).fit(x, y)
        scores[name] = float(r2_score(hy, model.predict(hx)))
    else:
        model = HistGradientBoostingClassifier(categorical_features=categorical, random_state=0).fit(x, y.astype(int))
        if meta["metric"] == "auc":
            scores[name] = float(roc_auc_score(hy, model.predict_proba(hx)[:, 1]))
        else:
            scores[name] = float(f1_score(hy.astype(int), model.predict(hx), average="macro"))
print(json.dumps(scores))
