"""The reference side of the bank-marketing benchmark that run.sh drives.

    /usr/bin/python3 bench/bank/ref.py split CSV OUTDIR SEED
    /usr/bin/python3 bench/bank/ref.py fit TRAIN TEST [THREADS [FOLD]]
    /usr/bin/python3 bench/bank/ref.py scored SCORES TEST

split writes two splits of the bank-marketing table, each as
OUTDIR/{time,random}/bank-{train,test}.csv: the data lines are copied
verbatim (";"-separated, quoted, with the header), so leadscore and the
references read the very same bytes. "time" keeps the file's (date) order:
the first 80% of data rows (36,169 of 45,211) train, the rest test.
"random" draws the same number of training rows with
numpy.random.default_rng(SEED) and keeps the file order within each part.

fit trains the references on TRAIN and scores TEST, with `duration`
excluded (it is known only after the call and leaks the outcome) and
pdays = -1 read as missing, and prints JSON:
- XGBoost hist: 200 trees, depth 6, eta 0.1, THREADS threads (default 2),
  other parameters at their defaults (lambda 1, min_child_weight 1, 256
  bins); categoricals one-hot (levels learned from TRAIN; a level unseen in
  training is all zeros), pdays NaN (XGBoost's learned missing direction).
- scikit-learn LogisticRegression (lbfgs, C=1, max_iter=1000 so that it
  converges; the other parameters at their defaults): numerics imputed with
  the training mean plus a missing indicator (pdays only), then
  standardised; categoricals one-hot (handle_unknown="ignore").
- The same two, tuned the way `leadscore train --tune` tunes, on an inner
  fold of TRAIN, never TEST: with FOLD "order" (the default; leadscore's
  row-order fold, as the bank tables have no time column) the last fifth of
  TRAIN's rows in file order; with FOLD "random" (leadscore's fold when told
  --random-split) each row with probability 0.2, drawn with
  numpy.random.default_rng(1): the same rule as leadscore's, not the same
  rows (leadscore draws with Go's PCG). XGBoost tries max_depth
  2, 3, 4, 6 × min_child_weight 1, 5, each up to 1000 trees with early stopping
  after 50 rounds on the fold's log loss; scikit-learn tries C 0.01, 0.03,
  0.1, 0.3, 1, 3, 10. The candidate with the best fold ROC AUC (the first
  on a tie) is refitted on all of TRAIN with the same number of trees.
Each model's test ROC AUC and test ECE (of XGBoost's probabilities and
scikit-learn's predict_proba, 10 equal-width bins; see ece) are printed.

scored reads the CSV `leadscore score` wrote for TEST and prints the test
ROC AUC and ECE of its probabilities, by the same definitions.
"""
import json
import os
import sys
import time
import warnings

import numpy as np


def split(csv, out, seed):
    with open(csv, "rb") as f:
        lines = f.read().splitlines(keepends=True)
    header, data = lines[0], [l for l in lines[1:] if l.strip()]
    n = len(data)
    ntr = round(n * 0.8)
    perm = np.random.default_rng(seed).permutation(n)
    random_train = np.zeros(n, dtype=bool)
    random_train[perm[:ntr]] = True
    parts = {
        "time": (np.arange(n) < ntr),
        "random": random_train,
    }
    for name, is_train in parts.items():
        d = os.path.join(out, name)
        os.makedirs(d, exist_ok=True)
        for fname, keep in (("bank-train.csv", is_train), ("bank-test.csv", ~is_train)):
            with open(os.path.join(d, fname), "wb") as f:
                f.write(header)
                f.writelines(l for l, k in zip(data, keep) if k)
    print(json.dumps({"rows": n, "train_rows": ntr, "test_rows": n - ntr, "seed": seed}))


def ece(probs, labels, bins=10):
    """The expected calibration error over bins equal-width bins of the
    probability, as leadscore's evaluator.Reliability defines it: bin
    min(int(p·bins), bins−1), each non-empty bin weighted by its rows,
    |mean probability − observed rate| summed and divided by all rows."""
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.float64)
    b = np.minimum((probs * bins).astype(np.int64), bins - 1)
    total = 0.0
    for k in range(bins):
        m = b == k
        if m.any():
            total += m.sum() * abs(probs[m].mean() - labels[m].mean())
    return total / len(probs)


def read(path):
    import pandas as pd

    df = pd.read_csv(path, sep=";")
    y = (df.pop("y") == "yes").astype(np.int32).to_numpy()
    df = df.drop(columns=["duration"])
    df["pdays"] = df["pdays"].where(df["pdays"] != -1, np.nan).astype(float)
    return df, y


def fit(train_path, test_path, threads, fold="order"):
    import pandas as pd
    import sklearn
    import xgboost as xgb
    from sklearn.base import clone
    from sklearn.compose import ColumnTransformer
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    tr, ytr = read(train_path)
    te, yte = read(test_path)
    cats = [c for c in tr.columns if tr[c].dtype == object]
    nums = [c for c in tr.columns if c not in cats]
    out = {"train_rows": len(ytr), "train_positives": int(ytr.sum()),
           "test_rows": len(yte), "test_positives": int(yte.sum()),
           "numeric": nums, "categorical": cats}

    # XGBoost: one-hot over the training levels, NaN left missing.
    xtr = pd.get_dummies(tr, columns=cats, dtype=float)
    xte = pd.get_dummies(te, columns=cats, dtype=float).reindex(columns=xtr.columns, fill_value=0.0)
    params = {
        "objective": "binary:logistic", "tree_method": "hist", "max_depth": 6,
        "eta": 0.1, "nthread": threads, "seed": 1,
    }
    t0 = time.perf_counter()
    dtrain = xgb.DMatrix(xtr.to_numpy(dtype=np.float64), label=ytr, nthread=threads)
    booster = xgb.train(params, dtrain, num_boost_round=200)
    t1 = time.perf_counter()
    dtest = xgb.DMatrix(xte.to_numpy(dtype=np.float64), nthread=threads)
    margin = booster.predict(dtest, output_margin=True)
    out["xgboost"] = {"impl": "xgboost " + xgb.__version__, "test_auc": roc_auc_score(yte, margin),
                      "test_ece": ece(booster.predict(dtest), yte),
                      "train_seconds": t1 - t0, "columns": xtr.shape[1]}

    # scikit-learn: mean + indicator, standardised numerics; one-hot.
    pre = ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(strategy="mean", add_indicator=True), StandardScaler()), nums),
        ("cat", OneHotEncoder(handle_unknown="ignore"), cats),
    ])
    clf = Pipeline([("pre", pre), ("lr", LogisticRegression(solver="lbfgs", C=1.0, max_iter=1000))])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        t0 = time.perf_counter()
        clf.fit(tr, ytr)
        t1 = time.perf_counter()
    margin = clf.decision_function(te)
    out["sklearn"] = {"impl": "scikit-learn " + sklearn.__version__, "test_auc": roc_auc_score(yte, margin),
                      "test_ece": ece(clf.predict_proba(te)[:, 1], yte),
                      "train_seconds": t1 - t0, "iterations": int(clf["lr"].n_iter_[0]),
                      "converged": not any(issubclass(w.category, ConvergenceWarning) for w in caught)}

    # Tuned, on an inner fold of the training rows: the last fifth
    # (leadscore's row-order fold: cut = n - int(0.2 n)) or a random
    # fifth; TEST plays no part in the choice.
    n = len(ytr)
    if fold == "random":
        in_fold = np.random.default_rng(1).random(n) < 0.2
    else:
        in_fold = np.arange(n) >= n - int(n * 0.2)
    fi, vi = np.flatnonzero(~in_fold), np.flatnonzero(in_fold)
    out["fold"] = {"mode": fold, "fit_rows": len(fi), "fold_rows": len(vi)}
    xall = xtr.to_numpy(dtype=np.float64)
    dfit = xgb.DMatrix(xall[fi], label=ytr[fi], nthread=threads)
    dfold = xgb.DMatrix(xall[vi], label=ytr[vi], nthread=threads)
    t0 = time.perf_counter()
    cands = []
    for depth in (2, 3, 4, 6):
        for mcw in (1, 5):
            p = dict(params, max_depth=depth, min_child_weight=mcw, eval_metric="logloss")
            b = xgb.train(p, dfit, num_boost_round=1000, evals=[(dfold, "fold")],
                          early_stopping_rounds=50, verbose_eval=False)
            trees = b.best_iteration + 1
            auc = roc_auc_score(ytr[vi], b.predict(dfold, output_margin=True, iteration_range=(0, trees)))
            cands.append({"max_depth": depth, "min_child_weight": mcw, "trees": trees, "fold_auc": auc})
    best = max(range(len(cands)), key=lambda i: (cands[i]["fold_auc"], -i))
    c = cands[best]
    p = dict(params, max_depth=c["max_depth"], min_child_weight=c["min_child_weight"])
    booster = xgb.train(p, dtrain, num_boost_round=c["trees"])
    t1 = time.perf_counter()
    margin = booster.predict(dtest, output_margin=True)
    out["xgboost_tuned"] = {"test_auc": roc_auc_score(yte, margin), "test_ece": ece(booster.predict(dtest), yte),
                            "train_seconds": t1 - t0,
                            "candidates": cands, "chosen": best}

    t0 = time.perf_counter()
    cands = []
    fit_part, fold_part = tr.iloc[fi], tr.iloc[vi]
    for C in (0.01, 0.03, 0.1, 0.3, 1, 3, 10):
        m = Pipeline([("pre", clone(pre)), ("lr", LogisticRegression(solver="lbfgs", C=C, max_iter=1000))])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            m.fit(fit_part, ytr[fi])
        cands.append({"c": C, "fold_auc": roc_auc_score(ytr[vi], m.decision_function(fold_part))})
    best = max(range(len(cands)), key=lambda i: (cands[i]["fold_auc"], -i))
    clf = Pipeline([("pre", clone(pre)), ("lr", LogisticRegression(solver="lbfgs", C=cands[best]["c"], max_iter=1000))])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(tr, ytr)
    t1 = time.perf_counter()
    out["sklearn_tuned"] = {"test_auc": roc_auc_score(yte, clf.decision_function(te)),
                            "test_ece": ece(clf.predict_proba(te)[:, 1], yte), "train_seconds": t1 - t0,
                            "candidates": cands, "chosen": best}
    print(json.dumps(out))


def scored(scores_csv, test_path):
    """Reads the probabilities `leadscore score` wrote for TEST (one row
    per test row, in order) and prints their test ROC AUC and ECE."""
    import pandas as pd
    from sklearn.metrics import roc_auc_score

    _, y = read(test_path)
    s = pd.read_csv(scores_csv)
    if len(s) != len(y) or list(s["row"]) != list(range(1, len(y) + 1)):
        sys.exit(f"{scores_csv}: {len(s)} scored rows, want the {len(y)} rows of {test_path} in order")
    p = s["probability"].to_numpy(dtype=np.float64)
    # AUC of the raw output, as train reports it (a calibration map can
    # only tie raw outputs, never reorder them).
    print(json.dumps({"test_auc": roc_auc_score(y, s["raw_output"].to_numpy(dtype=np.float64)), "test_ece": ece(p, y),
                      "mean_probability": float(p.mean()), "test_rate": float(y.mean())}))


def main():
    if len(sys.argv) >= 4 and sys.argv[1] == "scored":
        scored(sys.argv[2], sys.argv[3])
    elif len(sys.argv) >= 5 and sys.argv[1] == "split":
        split(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif len(sys.argv) >= 4 and sys.argv[1] == "fit":
        fit(sys.argv[2], sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else 2,
            sys.argv[5] if len(sys.argv) > 5 else "order")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
