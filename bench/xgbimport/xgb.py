"""XGBoost's side of the import benchmark that run.sh drives.

    /usr/bin/python3 bench/xgbimport/xgb.py DIR

It trains a 200-tree depth-6 binary:logistic model with XGBoost `hist` on a
seeded synthetic table (30 numeric columns with missing values and one
categorical column one-hot encoded by pandas' get_dummies), saves it to
DIR/model.json, writes the test rows as a flat table (DIR/test.csv, label
column y) and XGBoost's margins for them (DIR/margins.f32), and times
XGBoost's own single-thread prediction of the test rows: inplace_predict of
margins on the float32 matrix, best of 5. It prints JSON.
"""
import json
import os
import sys
import time

import numpy as np
import pandas as pd
import xgboost as xgb


def main():
    d = sys.argv[1]
    train_rows, test_rows, width = 20000, 50000, 30
    rng = np.random.default_rng(11)
    n = train_rows + test_rows
    t = pd.DataFrame(rng.normal(size=(n, width)), columns=["x%d" % i for i in range(width)])
    t = t.mask(rng.random(t.shape) < 0.05)
    t["channel"] = rng.choice(["ads", "email", "event", "partner", "web"], n)
    logit = t.x0.fillna(0) - 0.8 * t.x1.fillna(0) * t.x2.fillna(0) + np.sin(t.x3.fillna(0)) + (t.channel == "event") - 2.5
    y = rng.random(n) < 1 / (1 + np.exp(-logit))
    x = pd.concat([t.drop(columns=["channel"]), pd.get_dummies(t.channel, prefix="channel").astype("float64")], axis=1)
    m = xgb.XGBClassifier(n_estimators=200, max_depth=6, learning_rate=0.1, tree_method="hist", n_jobs=1, random_state=1)
    m.fit(x[:train_rows], y[:train_rows])
    m.save_model(os.path.join(d, "model.json"))
    test = t[train_rows:].copy()
    test["y"] = np.where(y[train_rows:], "yes", "no")
    test.to_csv(os.path.join(d, "test.csv"), index=False)

    booster = m.get_booster()
    booster.set_param({"nthread": 1})
    xt = x[train_rows:].to_numpy(dtype=np.float32)
    best, out = float("inf"), None
    for _ in range(5):
        s = time.perf_counter()
        out = booster.inplace_predict(xt, predict_type="margin")
        best = min(best, time.perf_counter() - s)
    np.asarray(out, dtype="<f4").tofile(os.path.join(d, "margins.f32"))
    nodes = sum(len(tr["left_children"]) for tr in json.loads(booster.save_raw("json"))["learner"]["gradient_booster"]["model"]["trees"])
    print(json.dumps({"rows": test_rows, "trees": 200, "nodes": nodes,
                      "xgboost_rows_per_second_1t": test_rows / best, "xgboost_version": xgb.__version__}))


if __name__ == "__main__":
    main()
