"""Classical baselines for bench/train-quality.ts, on the arrays it writes to <folder>.

flights-{train,holdout}.f32: rows of (hour, weekday, ln(1+distance), origin code, destination code, label), the
same split as Lumen's. HistGradientBoosting, 500 iterations, no early stopping, airports as native categoricals;
a second run treats hour and weekday as categoricals as well.
movies-{x,y,hx,hy}.f32: Lumen's encoded inputs and standardised label; Ridge (alpha 1) on them.
Prints one JSON list of {name, metric, value, seconds}; the first row of each metric is the baseline.
"""
import json
import sys
import time

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score, roc_auc_score

folder, width = sys.argv[1], int(sys.argv[2])
rows = []

train = np.fromfile(f"{folder}/flights-train.f32", dtype=np.float32).reshape(-1, 6)
holdout = np.fromfile(f"{folder}/flights-holdout.f32", dtype=np.float32).reshape(-1, 6)
for name, categorical in [
    ("baseline: HistGradientBoosting, airports categorical (500 it.)", [False, False, False, True, True]),
    ("HistGradientBoosting, airports, hour and weekday categorical", [True, True, False, True, True]),
]:
    started = time.perf_counter()
    model = HistGradientBoostingClassifier(
        max_iter=500, categorical_features=categorical, early_stopping=False, random_state=0
    )
    model.fit(train[:, :5], train[:, 5])
    seconds = time.perf_counter() - started
    auc = roc_auc_score(holdout[:, 5], model.predict_proba(holdout[:, :5])[:, 1])
    rows.append({"name": name, "metric": "auc", "value": float(auc), "seconds": seconds})

x = np.fromfile(f"{folder}/movies-x.f32", dtype=np.float32).reshape(-1, width)
y = np.fromfile(f"{folder}/movies-y.f32", dtype=np.float32)
hx = np.fromfile(f"{folder}/movies-hx.f32", dtype=np.float32).reshape(-1, width)
hy = np.fromfile(f"{folder}/movies-hy.f32", dtype=np.float32)
started = time.perf_counter()
ridge = Ridge(alpha=1.0).fit(x, y)
rows.append(
    {
        "name": "baseline: Ridge (alpha 1) on the same inputs",
        "metric": "r2",
        "value": float(r2_score(hy, ridge.predict(hx))),
        "seconds": time.perf_counter() - started,
    }
)
print(json.dumps(rows))
