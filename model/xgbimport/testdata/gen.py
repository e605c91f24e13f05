"""Writes the XGBoost golden files the importer's tests compare against.

    /usr/bin/python3 model/xgbimport/testdata/gen.py BANK_CSV [OUT_DIR]

BANK_CSV is bank-full.csv of the UCI bank marketing data set; OUT_DIR
defaults to this script's directory. For each case it trains a model with
python3-xgboost as a data team would, saves it with save_model, and writes:

    CASE.model.json   the model, XGBoost's JSON format
    CASE.csv          the scored rows as leadscore reads them (a flat table
                      with its label column y)
    CASE.golden.csv   XGBoost's output for each row of CASE.csv: the margin
                      (predict(output_margin=True)) and the pred_contribs
                      columns, one per model feature, then the bias

Both predictions use the trees up to the best iteration, as XGBClassifier's
own predict does. Training is single-threaded and seeded, so a rerun with
the same XGBoost writes the same bytes: bench/xgbimport/run.sh reruns it
into a scratch directory and compares.

Cases:
  bank   the first rows of the bank file, one-hot columns from pandas'
         get_dummies, binary:logistic with early stopping on later rows;
         the golden rows are the 300 rows after those.
  synth  4,000 generated leads (all of them golden rows: the first 3,000
         train, the next 600 stop early, the last 400 are unseen) with
         missing numbers, a one-hot column whose
         missing values have no dummy, two native categorical columns (one
         split by partitions, one one-hot), binary:logitraw with a
         base_score of 0.3 and early stopping; the table has a time column,
         signed_up, that is not a feature.
"""
import json
import os
import sys

import numpy as np
import pandas as pd
import xgboost as xgb

ROWS = 300


def write(out, name, model, table, x, label, limit):
    model.save_model(os.path.join(out, name + ".model.json"))
    booster = model.get_booster()
    d = xgb.DMatrix(x, enable_categorical=True)
    margin = booster.predict(d, output_margin=True, iteration_range=(0, limit))
    contribs = booster.predict(d, pred_contribs=True, iteration_range=(0, limit))
    t = table.copy()
    t["y"] = np.where(label, "yes", "no")
    t.to_csv(os.path.join(out, name + ".csv"), index=False)
    cols = ["margin"] + ["contrib." + f for f in booster.feature_names] + ["bias"]
    with open(os.path.join(out, name + ".golden.csv"), "w") as f:
        f.write(",".join(cols) + "\n")
        for m, c in zip(margin, contribs):
            f.write(",".join("%.9g" % v for v in [m, *c]) + "\n")
    print("%s: %d trees used of %d, %d rows, %d features" % (
        name, limit, booster.num_boosted_rounds(), len(t), len(booster.feature_names)))


def bank(path, out):
    df = pd.read_csv(path, sep=";")
    # duration is known only after the call: it leaks the outcome.
    df = df.drop(columns=["duration"])
    y = (df.pop("y") == "yes").to_numpy()
    cats = ["job", "marital", "education", "default", "housing", "loan", "contact", "month", "poutcome"]
    x = pd.get_dummies(df, columns=cats).astype("float64")
    train, stop = slice(0, 36000), slice(36000, 40000)
    golden = slice(40000, 40000 + ROWS)
    m = xgb.XGBClassifier(n_estimators=80, max_depth=4, learning_rate=0.1, tree_method="hist",
                          n_jobs=1, random_state=1, early_stopping_rounds=10)
    m.fit(x[train], y[train], eval_set=[(x[stop], y[stop])], verbose=False)
    write(out, "bank", m, df[golden], x[golden], y[golden], m.best_iteration + 1)


def synth(out):
    rng = np.random.default_rng(7)
    n = 4000
    plans = ["basic", "enterprise", "free", "pro", "team"]
    regions = ["americas", "apac", "emea"]
    sources = ["ads", "event", "partner", "web"]
    t = pd.DataFrame({
        "visits": rng.poisson(3, n).astype("float64"),
        "revenue": np.round(rng.lognormal(10, 1.5, n), 2),
        "score": np.round(rng.normal(0, 1, n), 4),
        "plan": rng.choice(plans, n),
        "region": rng.choice(regions, n),
        "source": rng.choice(sources, n),
    })
    for col, share in [("visits", 0.15), ("revenue", 0.25), ("score", 0.1), ("source", 0.2), ("plan", 0.1)]:
        t.loc[rng.random(n) < share, col] = np.nan
    logit = (0.4 * t.visits.fillna(-2) + 0.5 * np.log(t.revenue.fillna(1000)) - 8
             + t.score.fillna(1.5) + t.plan.map({"enterprise": 1.5, "pro": 0.8, "free": -1.2}).fillna(0)
             + t.region.map({"emea": 0.4}).fillna(0) + t.source.map({"event": 0.9, "ads": -0.5}).fillna(0.3)
             # Interactions, which trees learn and additive points cannot.
             + 3 * ((t.visits.fillna(0) > 4) & (t.plan == "pro")) - 3 * ((t.score.fillna(0) < 0) & (t.region == "apac"))
             + 2.5 * ((t.revenue.fillna(0) > 50000) & (t.source == "event")) - 2.5 * ((t.visits.fillna(0) < 2) & (t.score.fillna(0) > 1)))
    y = rng.random(n) < 1 / (1 + np.exp(-logit))
    x = t.drop(columns=["source"]).copy()
    x["plan"] = pd.Categorical(t.plan, categories=plans)
    x["region"] = pd.Categorical(t.region, categories=regions)
    x = pd.concat([x, pd.get_dummies(t.source, prefix="source").astype("float64")], axis=1)
    # The time each lead signed up, for backtests in time order; not a
    # feature.
    t["signed_up"] = pd.date_range("2023-01-01", periods=n, freq="6h").strftime("%Y-%m-%dT%H:%M:%SZ")
    train, stop = slice(0, 3000), slice(3000, 3600)
    # Every row, so that the README can import the model with its training
    # rows (up to 3600, early stopping included) as the reference and
    # backtest it on the 400 later ones.
    golden = slice(0, n)
    # region has 3 categories, so max_cat_to_onehot=4 splits it one
    # category against the rest; plan has 5 and gets partition splits.
    m = xgb.XGBClassifier(n_estimators=120, max_depth=5, learning_rate=0.15, tree_method="hist",
                          objective="binary:logitraw", base_score=0.3, enable_categorical=True,
                          max_cat_to_onehot=4, n_jobs=1, random_state=1, early_stopping_rounds=15,
                          eval_metric="auc")
    m.fit(x[train], y[train], eval_set=[(x[stop], y[stop])], verbose=False)
    write(out, "synth", m, t[golden], x[golden], y[golden], m.best_iteration + 1)


def main():
    bank_csv = sys.argv[1]
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.dirname(os.path.abspath(__file__))
    os.makedirs(out, exist_ok=True)
    bank(bank_csv, out)
    synth(out)


if __name__ == "__main__":
    main()
