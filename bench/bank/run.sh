#!/usr/bin/env bash
# The real-data benchmark: leadscore's gbdt and logistic families against
# XGBoost hist and scikit-learn's LogisticRegression on the UCI
# bank-marketing table (45,211 phone contacts, y = subscribed), with
# `duration` excluded (it leaks the outcome) and pdays = -1 read as missing,
# on two 80/20 splits that both sides read from the same files:
#
#   time    the file's own (date) order: the first 36,169 data rows train,
#           the remaining 9,042 test (the conversion rate drifts upward, so
#           this is the hard split);
#   random  36,169 training rows drawn with numpy's default_rng(SEED).
#
#   bash bench/bank/run.sh            # BANK_CSV=... SEED=1 THREADS=2
#
# leadscore runs `leadscore train --table bank-train.csv --test-table
# bank-test.csv --label y --positive yes --exclude duration --missing
# pdays=-1 --family gbdt|logistic --json` twice: with --tune=false (the
# flags' defaults: 200 trees, depth 6, learning rate 0.1; C=1, additive,
# no hinges) and with --tune (train's default: C × knots ∈ {0, 8} — the
# plain linear encoding, or 8 hinge columns per numeric feature at
# quantile knots — × pairs ∈ {0, 8} — additive, or up to 8 pairs of
# features whose interaction the additive fit's residuals show
# significantly, each with a one-hot column per well-filled cell of the
# two features' bins — or depth (2, 3, 4, 6) × min child weight and the
# trees by early stopping, chosen by ROC AUC on an inner fold of the
# training rows, then refitted on all of them). The inner fold mirrors the split: on the time split, the last
# fifth of the training rows in file (date) order; on the random split,
# leadscore is told --random-split (the tables were split at random) and
# draws a seeded random fifth. Its validation.roc_auc is the test AUC
# (the raw scores' AUC on the test table's rows). ref.py trains XGBoost
# (200 trees, depth 6, eta 0.1, THREADS threads, one-hot, pdays NaN) and
# scikit-learn (one-hot, standardised, pdays NaN → mean + missing
# indicator) at those defaults, and again tuned the way leadscore tunes:
# the same kind of inner fold, the same grids and the same choice rule (see
# ref.py); neither side sees the test rows when choosing. It prints the test AUCs and each leadscore variant's gap
# to the better reference on that split: untuned against the untuned
# references (the issue's original comparison), tuned against both; the
# issue's target is a gap of at most 0.005. The points variant (`--family
# points` without --rules: learned integer points, the backtests' simple
# baseline) is printed next to the references, with its test ECE and the
# number of rules `leadscore rules` exports.
# A sixth variant runs train's
# defaults (--family auto, tuned: the family chosen on the inner fold, see
# trainer/auto.go) and prints the family chosen and its gap to the better
# reference.
#
# It also reports each side's test ECE (expected calibration error over 10
# equal-width probability bins, evaluator.Reliability's definition, which
# ref.py's ece() repeats): XGBoost's own probabilities and scikit-learn's
# predict_proba against leadscore's calibrated probabilities; the issue's
# target is at most the best-calibrated reference's + 0.01. leadscore is
# measured two ways: with --test-table (its validation figures are the test
# rows', which fit nothing), and as a user would run it: `train` on the
# training table alone with its defaults (its own held-out fifth and the
# refit), then `leadscore score` on the test table, whose probabilities and
# raw outputs ref.py's `scored` turns into the test ECE and AUC. It exits
# non-zero only on errors.
#
# It needs Go and Debian's python3-xgboost, python3-sklearn and
# python3-pandas (system /usr/bin/python3).
set -euo pipefail
cd "$(dirname "$0")/../.."

csv=${BANK_CSV:-../shared/datasets/bank-marketing/bank-full.csv}
seed=${SEED:-1}
threads=${THREADS:-2}
python=/usr/bin/python3

if ! "$python" -c 'import xgboost, sklearn, pandas, numpy' 2>/dev/null; then
  echo "installing python3-xgboost python3-sklearn python3-pandas (Debian)..." >&2
  apt-get install -y python3-xgboost python3-sklearn python3-pandas >&2
fi
if [ ! -r "$csv" ]; then
  echo "bank/run.sh: cannot read $csv (set BANK_CSV)" >&2
  exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export GOMAXPROCS=$threads OPENBLAS_NUM_THREADS=$threads OMP_NUM_THREADS=$threads

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
go build -o "$work/leadscore" ./cmd/leadscore
"$python" bench/bank/ref.py split "$csv" "$work" "$seed" >"$work/split.json"
for s in time random; do
  d=$work/$s
  split_flags=() fold=order
  [ "$s" = random ] && split_flags=(--random-split) fold=random
  for v in gbdt logistic gbdt-tuned logistic-tuned points auto; do
    fam=${v%-tuned}
    tune=--tune=false
    [ "$v" != "$fam" ] || [ "$v" = auto ] && tune=--tune
    echo "$s split: leadscore $fam $tune..." >&2
    "$work/leadscore" train --table "$d/bank-train.csv" --test-table "$d/bank-test.csv" \
      --label y --positive yes --exclude duration --missing pdays=-1 \
      --family "$fam" "$tune" ${split_flags[@]+"${split_flags[@]}"} --seed 1 --out "$d/$v.lsa" --json >"$d/leadscore-$v.json"
    # As a user would: train on the training table alone, with train's own
    # held-out split and refit, then score the test table with the
    # artifact.
    echo "$s split: leadscore $fam $tune on the training table alone, then score..." >&2
    "$work/leadscore" train --table "$d/bank-train.csv" \
      --label y --positive yes --exclude duration --missing pdays=-1 \
      --family "$fam" "$tune" ${split_flags[@]+"${split_flags[@]}"} --seed 1 --out "$d/$v-own.lsa" --json >"$d/leadscore-$v-own.json"
    "$work/leadscore" score --model "$d/$v-own.lsa" --data "$d/bank-test.csv" --missing pdays=-1 --out "$d/$v-own-scores.csv" 2>/dev/null
    "$python" bench/bank/ref.py scored "$d/$v-own-scores.csv" "$d/bank-test.csv" >"$d/scored-$v-own.json"
  done
  "$work/leadscore" rules "$d/points.lsa" --out "$d/points.yaml" >/dev/null
  echo "$s split: xgboost and scikit-learn, untuned and tuned..." >&2
  "$python" bench/bank/ref.py fit "$d/bank-train.csv" "$d/bank-test.csv" "$threads" "$fold" >"$d/ref.json"
done
echo "load average after:  $(cut -d' ' -f1-3 /proc/loadavg)"

"$python" - "$work" "$csv" <<'PY'
import json, sys
work, csv = sys.argv[1], sys.argv[2]
PPD = 20  # trainer.PointsPerDoubling
sp = json.load(open(f"{work}/split.json"))
print(f"\n{csv}: {sp['rows']:,} rows; train {sp['train_rows']:,} / test {sp['test_rows']:,}; random split seed {sp['seed']}")
variants = ("gbdt", "logistic", "gbdt-tuned", "logistic-tuned", "auto")
rows = []
for s in ("time", "random"):
    ref = json.load(open(f"{work}/{s}/ref.json"))
    ls = {v: json.load(open(f"{work}/{s}/leadscore-{v}.json")) for v in variants}
    for v, r in ls.items():
        if r["valid_rows"] != ref["test_rows"] or r["valid_positives"] != ref["test_positives"]:
            sys.exit(f"{s}/{v}: leadscore held out {r['valid_rows']} rows ({r['valid_positives']} won), "
                     f"the references {ref['test_rows']} ({ref['test_positives']} won)")
    auc = {v: r["validation"]["roc_auc"] for v, r in ls.items()}
    rows.append((s, ref, ls, auc))

print("\nuntuned: leadscore --tune=false against the untuned references (XGBoost 200 trees depth 6; scikit-learn C=1)")
print(f"test ROC AUC; gap = leadscore − max(XGBoost, scikit-learn); target gap ≥ −0.005")
print(f"{'split':8}{'test rows (won)':>17}{'XGBoost':>10}{'sklearn':>10}{'best ref':>10}"
      f"{'ls gbdt':>10}{'gap':>9}{'ls logistic':>13}{'gap':>9}")
for s, ref, ls, auc in rows:
    xg, sk = ref["xgboost"]["test_auc"], ref["sklearn"]["test_auc"]
    best = max(xg, sk)
    won = f"{ref['test_rows']:,} ({ref['test_positives']:,})"
    print(f"{s:8}{won:>17}{xg:>10.4f}{sk:>10.4f}{best:>10.4f}"
          f"{auc['gbdt']:>10.4f}{auc['gbdt'] - best:>+9.4f}{auc['logistic']:>13.4f}{auc['logistic'] - best:>+9.4f}")

print("\ntuned: leadscore --tune (train's default) against the references tuned the same way and against the untuned ones;")
print("inner fold: time split, the last fifth of the training rows (the same rows on both sides); random split, a random")
print("fifth of them (the same rule, different draws); same grids, same choice rule, the test rows unseen by both")
print(f"{'split':8}{'XGB tuned':>11}{'skl tuned':>11}{'best tuned':>12}{'ls gbdt':>10}{'gap':>9}{'gap untuned':>13}"
      f"{'ls logistic':>13}{'gap':>9}{'gap untuned':>13}")
for s, ref, ls, auc in rows:
    xt, st = ref["xgboost_tuned"]["test_auc"], ref["sklearn_tuned"]["test_auc"]
    bt = max(xt, st)
    bu = max(ref["xgboost"]["test_auc"], ref["sklearn"]["test_auc"])
    g, l = auc["gbdt-tuned"], auc["logistic-tuned"]
    print(f"{s:8}{xt:>11.4f}{st:>11.4f}{bt:>12.4f}{g:>10.4f}{g - bt:>+9.4f}{g - bu:>+13.4f}"
          f"{l:>13.4f}{l - bt:>+9.4f}{l - bu:>+13.4f}")

print("\nper-family gap to the same-family reference (gbdt − XGBoost, logistic − scikit-learn):")
for s, ref, ls, auc in rows:
    print(f"  {s:8} untuned: gbdt {auc['gbdt'] - ref['xgboost']['test_auc']:+.4f}   logistic {auc['logistic'] - ref['sklearn']['test_auc']:+.4f}"
          f"   tuned: gbdt {auc['gbdt-tuned'] - ref['xgboost_tuned']['test_auc']:+.4f}"
          f"   logistic {auc['logistic-tuned'] - ref['sklearn_tuned']['test_auc']:+.4f}")

print("\nchoices on the inner fold (fold ROC AUC of the chosen candidate; the test rows play no part):")
for s, ref, ls, auc in rows:
    for v in ("gbdt-tuned", "logistic-tuned"):
        t = ls[v]["tuning"]
        c = t["candidates"][t["chosen"]]
        what = (f"C {c['c']:g}, {c.get('knots', 0)} knots, {c.get('pairs', 0)} of up to {c.get('interactions', 0)} pairs" if "c" in c else
                f"depth {c['max_depth']}, min child weight {c['min_child_weight']:g}, {c['trees']} trees")
        print(f"  {s:8} leadscore {v:15} {what} (fold AUC {c['roc_auc']:.4f}; fitted on {t['fit_rows']:,}, judged on {t['fold_rows']:,}, fold {t['fold']})")
        print(f"  {'':8} {'':25} tried: " + "; ".join(
            (f"C {x['c']:g} k{x.get('knots', 0)} p{x.get('pairs', 0)}/{x.get('interactions', 0)} {x['roc_auc']:.4f}" if "c" in x else
             f"d{x['max_depth']} mcw{x['min_child_weight']:g} {x['trees']}t {x['roc_auc']:.4f}") for x in t["candidates"]))
    for name in ("xgboost_tuned", "sklearn_tuned"):
        t = ref[name]
        c = t["candidates"][t["chosen"]]
        what = (f"C {c['c']:g}" if "c" in c else
                f"depth {c['max_depth']}, min child weight {c['min_child_weight']:g}, {c['trees']} trees")
        print(f"  {s:8} {name:25} {what} (fold AUC {c['fold_auc']:.4f})")
        print(f"  {'':8} {'':25} tried: " + "; ".join(
            (f"C {x['c']:g} {x['fold_auc']:.4f}" if "c" in x else
             f"d{x['max_depth']} mcw{x['min_child_weight']:g} {x['trees']}t {x['fold_auc']:.4f}") for x in t["candidates"]))

print("\npoints: learned integer points (`--family points`, no --rules: points per value, quantile bin and signal,")
print(f"{PPD} points double the odds; nothing to tune) against the references; test ROC AUC and ECE")
print(f"{'split':8}{'XGBoost':>10}{'sklearn':>10}{'XGB tuned':>11}{'skl tuned':>11}{'ls points':>11}{'gap best':>10}{'ECE':>8}{'rules':>7}")
for s, ref, ls, auc in rows:
    pt = json.load(open(f"{work}/{s}/leadscore-points.json"))
    best = max(ref[k]["test_auc"] for k in ("xgboost", "sklearn", "xgboost_tuned", "sklearn_tuned"))
    a = pt["validation"]["roc_auc"]
    nrules = sum(1 for l in open(f"{work}/{s}/points.yaml") if l.startswith("  - name:"))
    print(f"{s:8}{ref['xgboost']['test_auc']:>10.4f}{ref['sklearn']['test_auc']:>10.4f}{ref['xgboost_tuned']['test_auc']:>11.4f}"
          f"{ref['sklearn_tuned']['test_auc']:>11.4f}{a:>11.4f}{a - best:>+10.4f}{pt['validation']['ece']:>8.4f}{nrules:>7}")

print("\nauto: train's defaults (--family auto, tuned): the family chosen on the inner fold (the simplest of points,")
print("logistic and gbdt within one DeLong standard error of the best fold ROC AUC), against the better reference")
print(f"{'split':8}{'chosen':>10}{'test AUC':>10}{'best tuned':>12}{'gap':>9}{'best untuned':>14}{'gap':>9}  fold ROC AUC (− below best ± SE)")
for s, ref, ls, auc in rows:
    bt = max(ref["xgboost_tuned"]["test_auc"], ref["sklearn_tuned"]["test_auc"])
    bu = max(ref["xgboost"]["test_auc"], ref["sklearn"]["test_auc"])
    ch = ls["auto"]["family_choice"]
    folds = "; ".join(f"{c['family']} error" if c.get("error") else
                      f"{c['family']} {c['roc_auc']:.4f} (−{c['below_best']:.4f} ± {c['below_best_se']:.4f})" for c in ch["candidates"])
    a = auc["auto"]
    print(f"{s:8}{ch['chosen']:>10}{a:>10.4f}{bt:>12.4f}{a - bt:>+9.4f}{bu:>14.4f}{a - bu:>+9.4f}  {folds}")

print("\ntest ECE (10 equal-width bins, the same definition on both sides: evaluator.Reliability's); the references'")
print("probabilities are XGBoost's own and scikit-learn's predict_proba; gap = leadscore − min(references' ECE); target ≤ +0.01")
print(f"{'split':8}{'XGBoost':>9}{'sklearn':>9}{'XGB tuned':>11}{'skl tuned':>11}{'best':>8}")
for s, ref, ls, auc in rows:
    e = [ref[k]["test_ece"] for k in ("xgboost", "sklearn", "xgboost_tuned", "sklearn_tuned")]
    print(f"{s:8}{e[0]:>9.4f}{e[1]:>9.4f}{e[2]:>11.4f}{e[3]:>11.4f}{min(e):>8.4f}")
print("\nleadscore on the test table: with --test-table (the test rows judge only; before issue 12 they also calibrated)")
print("and trained on the training table alone with train's own split and refit, then `leadscore score` on the test table;")
print("AUC gap to the better reference (untuned variants: the untuned references; tuned: all four), ECE gap to the best-calibrated one")
print(f"{'split':8}{'variant':16}{'protocol':13}{'test AUC':>10}{'AUC gap':>9}{'test ECE':>10}{'ECE gap':>9}{'mean p':>8}{'rate':>7}")
for s, ref, ls, auc in rows:
    best_ece = min(ref[k]["test_ece"] for k in ("xgboost", "sklearn", "xgboost_tuned", "sklearn_tuned"))
    for v in variants:
        keys = ("xgboost", "sklearn") if not v.endswith("tuned") else ("xgboost", "sklearn", "xgboost_tuned", "sklearn_tuned")
        best_auc = max(ref[k]["test_auc"] for k in keys)
        own = json.load(open(f"{work}/{s}/scored-{v}-own.json"))
        for proto, a, e, extra in (("test-table", ls[v]["validation"]["roc_auc"], ls[v]["validation"]["ece"], ""),
                                   ("own+score", own["test_auc"], own["test_ece"],
                                    f"{own['mean_probability']:>8.4f}{own['test_rate']:>7.4f}")):
            print(f"{s:8}{v:16}{proto:13}{a:>10.4f}{a - best_auc:>+9.4f}{e:>10.4f}{e - best_ece:>+9.4f}{extra}")

print("\nfit seconds (context only; leadscore's is the family fit with tuning, without reading, calibration or grid):")
for s, ref, ls, auc in rows:
    print(f"  {s:8} XGBoost {ref['xgboost']['train_seconds']:.2f} (tuned {ref['xgboost_tuned']['train_seconds']:.2f})"
          f"  scikit-learn {ref['sklearn']['train_seconds']:.2f} (tuned {ref['sklearn_tuned']['train_seconds']:.2f};"
          f" {ref['sklearn']['iterations']} iterations{'' if ref['sklearn']['converged'] else ', NOT converged'})"
          f"  leadscore gbdt {ls['gbdt']['seconds']['fit']:.2f} (tuned {ls['gbdt-tuned']['seconds']['fit']:.2f})"
          f"  logistic {ls['logistic']['seconds']['fit']:.2f} (tuned {ls['logistic-tuned']['seconds']['fit']:.2f})"
          f"  auto {ls['auto']['seconds']['fit'] + ls['auto']['seconds']['choose_family']:.2f} (choice and fit)")
PY
