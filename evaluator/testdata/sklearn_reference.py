#!/usr/bin/python3
"""Reference figures for evaluator's metric tests, computed with scikit-learn,
SciPy and NumPy (Debian bookworm: python3-sklearn 1.2.1, python3-scipy 1.10.1).

Run from evaluator/testdata:

    /usr/bin/python3 sklearn_reference.py

It writes sklearn_rows.csv (the larger case: 2,000 probabilities rounded to
two decimals, so that many are tied, with labels drawn from them) and prints
the expected figures of both cases, which metrics_test.go holds verbatim.
"""
import numpy as np
from scipy.stats import ks_2samp
from sklearn.metrics import (average_precision_score, brier_score_loss,
                             log_loss, roc_auc_score, roc_curve)

# The small case: tied probabilities across the classes.
SMALL_P = [0.9, 0.9, 0.8, 0.8, 0.8, 0.7, 0.6, 0.6, 0.5, 0.5,
           0.4, 0.4, 0.4, 0.3, 0.3, 0.2, 0.2, 0.1, 0.1, 0.05]
SMALL_Y = [1, 0, 1, 1, 0, 0, 1, 0, 0, 1,
           0, 0, 1, 0, 0, 0, 0, 0, 1, 0]


def larger_case():
    rng = np.random.default_rng(20261122)
    n = 2000
    z = rng.normal(-2.2, 1.1, n)
    p = np.round(1 / (1 + np.exp(-z)), 2)
    y = (rng.random(n) < np.clip(p * 1.3, 0, 1)).astype(int)
    with open("sklearn_rows.csv", "w") as f:
        f.write("probability,label\n")
        for pi, yi in zip(p, y):
            f.write(f"{pi:.2f},{yi}\n")
    return p, y


def deciles(p, y):
    order = np.argsort(-p, kind="stable")  # ties keep row order
    base = y.mean()
    out, cum = [], 0
    for part in np.array_split(order, 10):  # the first n % 10 one larger
        conv = int(y[part].sum())
        cum += conv
        rate = conv / len(part)
        out.append((len(part), conv, rate / base, cum / y.sum(), p[part].mean(), p[part].min()))
    return out


def ece(p, y, bins=10):
    b = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for k in range(bins):
        m = b == k
        if m.any():
            total += m.sum() * abs(p[m].mean() - y[m].mean())
    return total / len(p)


def report(name, p, y):
    p, y = np.asarray(p, dtype=float), np.asarray(y)
    fpr, tpr, _ = roc_curve(y, p)
    ks = ks_2samp(p[y == 1], p[y == 0]).statistic
    assert abs(ks - np.max(np.abs(tpr - fpr))) < 1e-12
    print(f"// {name}")
    print(f"rocAUC:  {roc_auc_score(y, p)!r},")
    print(f"prAUC:   {average_precision_score(y, p)!r},")
    print(f"logLoss: {log_loss(y, p)!r},")
    print(f"brier:   {brier_score_loss(y, p)!r},")
    print(f"ece:     {ece(p, y)!r},")
    print(f"ks:      {ks!r},")
    print("deciles (leads, conversions, lift, cumulative gain, mean p, min p):")
    for d in deciles(p, y):
        print(f"\t{{{d[0]}, {d[1]}, {d[2]!r}, {d[3]!r}, {d[4]!r}, {d[5]!r}}},")


report("small", SMALL_P, SMALL_Y)
p, y = larger_case()
report("sklearn_rows.csv", p, y)
