"""Expected drift statistics for test/unit/drift-stats.test.ts, computed with the reference libraries.

Reproduce (Python 3.11):
    python -m venv /tmp/ref && /tmp/ref/bin/pip install scipy==1.17.1 numpy==2.4.6 "pandas<2.3" evidently==0.7.23
    /tmp/ref/bin/python test/reference/drift_reference.py > test/reference/drift-vectors.json

Small samples are written out in full; large ones are described by a generator that the TypeScript test
re-implements with the same floating-point operations, so both sides see bit-identical inputs.
"""

import json
import math

import evidently
import numpy as np
import pandas as pd
import scipy
from evidently.legacy.calculations.stattests.chisquare_stattest import _chi_stat_test
from evidently.legacy.calculations.stattests.jensenshannon import _jensenshannon
from evidently.legacy.calculations.stattests.psi import _psi
from evidently.legacy.calculations.stattests.wasserstein_distance_norm import _wasserstein_distance_norm
from evidently.legacy.core import ColumnType
from scipy import stats
from scipy.special import smirnov


def uniform(n, a, b):
    # u_k = ((k*a + b) mod 2^32) / 2^32 — mirrored in the test with Math.imul
    k = np.arange(n, dtype=np.uint64)
    return ((k * np.uint64(a) + np.uint64(b)) % np.uint64(2**32)).astype(np.float64) / 4294967296.0


def generated(spec):
    n, seed, scale, shift = spec["n"], spec["seed"], spec["scale"], spec["shift"]
    u1 = uniform(n, 2654435761, seed)
    u2 = uniform(n, 2246822519, seed * 3 + 1)
    u3 = uniform(n, 3266489917, seed * 7 + 2)
    values = (((u1 + u2) + u3) - 1.5) * scale + shift
    if spec.get("round"):
        values = np.floor(values)
    return values


def numeric_case(name, ref, cur, ref_spec=None, cur_spec=None):
    r, c = pd.Series(ref), pd.Series(cur)
    ks = stats.ks_2samp(ref, cur)
    case = {
        "name": name,
        "kind": "numeric",
        "expected": {
            "ks_statistic": float(ks.statistic),
            "ks_pvalue": float(ks.pvalue),
            "psi": float(_psi(r, c, ColumnType.Numerical, 0.1)[0]),
            "jensenshannon": float(_jensenshannon(r, c, ColumnType.Numerical, 0.1)[0]),
            "wasserstein_norm": float(_wasserstein_distance_norm(r, c, ColumnType.Numerical, 0.1)[0]),
        },
    }
    if ref_spec:
        case["reference"], case["current"] = {"generate": ref_spec}, {"generate": cur_spec}
    else:
        case["reference"], case["current"] = {"values": [float(x) for x in ref]}, {"values": [float(x) for x in cur]}
    return case


def categorical_case(name, ref, cur):
    r, c = pd.Series(ref), pd.Series(cur)
    return {
        "name": name,
        "kind": "categorical",
        "reference": {"values": list(ref)},
        "current": {"values": list(cur)},
        "expected": {
            "chisquare_pvalue": float(_chi_stat_test(r, c, ColumnType.Categorical, 0.05)[0]),
            "psi": float(_psi(r, c, ColumnType.Categorical, 0.1)[0]),
            "jensenshannon": float(_jensenshannon(r, c, ColumnType.Categorical, 0.1)[0]),
        },
    }


def main():
    rng = np.random.default_rng(20011)
    cases = []
    cases.append(numeric_case("tiny samples, exact KS", rng.normal(0, 1, 5), rng.normal(0.5, 1, 7)))
    cases.append(numeric_case("n1 != n2, exact KS", rng.normal(0, 1, 200), rng.normal(0.3, 1.2, 150)))
    cases.append(numeric_case("n1 == n2, exact KS", rng.normal(0, 1, 300), rng.normal(0.15, 1, 300)))
    cases.append(
        numeric_case("integers with ties, exact KS", rng.integers(0, 50, 5000).astype(float), rng.integers(2, 52, 4000).astype(float))
    )
    cases.append(numeric_case("few distinct values (PSI bins per value)", rng.integers(0, 8, 700).astype(float), rng.integers(0, 9, 900).astype(float)))
    cases.append(numeric_case("lognormal, heavy tail", rng.lognormal(0, 1, 3000), rng.lognormal(0.1, 1.1, 2500)))
    for name, ref, cur in [
        ("asymptotic, n_eff 8571, small shift", dict(n=20000, seed=1, scale=2.0, shift=0.0), dict(n=15000, seed=2, scale=2.0, shift=0.01)),
        ("asymptotic, n_eff 8571, large shift", dict(n=20000, seed=3, scale=2.0, shift=0.0), dict(n=15000, seed=4, scale=2.0, shift=0.08)),
        ("asymptotic, n_eff 136364, tiny shift", dict(n=300000, seed=5, scale=2.0, shift=0.0), dict(n=250000, seed=6, scale=2.0, shift=0.0005)),
        ("asymptotic, n_eff 136364, moderate shift", dict(n=300000, seed=7, scale=2.0, shift=0.0), dict(n=250000, seed=8, scale=2.0, shift=0.01)),
        ("asymptotic, rounded values (ties)", dict(n=40000, seed=9, scale=40.0, shift=100.0, round=True), dict(n=30000, seed=10, scale=40.0, shift=101.0, round=True)),
    ]:
        cases.append(numeric_case(name, generated(ref), generated(cur), ref, cur))
    airports = ["ATL", "ORD", "DFW", "LAX", "DEN", "SFO", "PHX", "LAS"]
    ref = list(rng.choice(airports[:7], 3000, p=[0.25, 0.2, 0.15, 0.15, 0.1, 0.1, 0.05]))
    cur = list(rng.choice(airports, 2000, p=[0.2, 0.2, 0.15, 0.15, 0.1, 0.1, 0.05, 0.05]))
    cases.append(categorical_case("categorical with a new category", ref, cur))
    cases.append(categorical_case("categorical, same distribution", list(rng.choice(airports, 4000)), list(rng.choice(airports, 3500))))

    # the one-sample distributions on their own, across every regime the two-sided survival function uses
    kstwo = []
    for n, x in [
        (10, 0.08), (10, 0.3), (10, 0.6), (10, 0.95), (50, 0.1), (50, 0.2), (50, 0.35), (140, 0.05), (140, 0.12),
        (140, 0.2), (141, 0.05), (500, 0.02), (500, 0.05), (500, 0.08), (8571, 0.005), (8571, 0.01), (8571, 0.02),
        (100000, 0.001), (100000, 0.004), (136364, 0.001), (136364, 0.003), (136364, 0.005), (500000, 0.0009),
        (500000, 0.002), (500000, 0.01),
    ]:
        kstwo.append({"n": n, "x": x, "sf": float(stats.kstwo.sf(x, n))})
    smirnov_values = [{"n": n, "x": x, "sf": float(smirnov(n, x))} for n, x in [(5, 0.3), (100, 0.1), (1000, 0.05), (136364, 0.005), (500000, 0.003)]]
    chi2 = [{"x": x, "df": df, "sf": float(stats.chi2.sf(x, df))} for x, df in [(0.5, 1), (3.84, 1), (12.0, 5), (250.0, 200), (40.0, 7), (1e-3, 3)]]

    print(
        json.dumps(
            {
                "generatedBy": {
                    "scipy": scipy.__version__,
                    "numpy": np.__version__,
                    "pandas": pd.__version__,
                    "evidently": evidently.__version__,
                    "python": ".".join(map(str, __import__("sys").version_info[:3])),
                },
                "cases": cases,
                "kstwo": kstwo,
                "smirnov": smirnov_values,
                "chi2": chi2,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
