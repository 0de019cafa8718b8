"""Baselines for bench/drift.ts on the same data: scipy.stats.ks_2samp, and Evidently's numeric stattests."""
import json
import sys
import time

import numpy as np
import pandas as pd
from evidently.legacy.calculations.stattests.jensenshannon import _jensenshannon
from evidently.legacy.calculations.stattests.psi import _psi
from evidently.legacy.calculations.stattests.wasserstein_distance_norm import _wasserstein_distance_norm
from evidently.legacy.core import ColumnType
from scipy import stats

folder, features = sys.argv[1], int(sys.argv[2])
refs = [np.fromfile(f"{folder}/ref-{f}.f64", dtype=np.float64) for f in range(features)]
curs = [np.fromfile(f"{folder}/cur-{f}.f64", dtype=np.float64) for f in range(features)]

t0 = time.perf_counter()
for r, c in zip(refs, curs):
    stats.ks_2samp(r, c)
ks = time.perf_counter() - t0

t0 = time.perf_counter()
for r, c in zip(refs, curs):
    rs, cs = pd.Series(r), pd.Series(c)
    _psi(rs, cs, ColumnType.Numerical, 0.1)
    _jensenshannon(rs, cs, ColumnType.Numerical, 0.1)
    _wasserstein_distance_norm(rs, cs, ColumnType.Numerical, 0.1)
evidently = time.perf_counter() - t0

print(json.dumps({
    "scipy ks_2samp (KS only)": ks,
    "Evidently psi + jensenshannon + wasserstein stattests": evidently,
}))
