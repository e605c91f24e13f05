#!/usr/bin/env bash
# The generator-history benchmark: the three families on the generator's
# history, as a user would train them, compared on the held-out snapshots:
#
#   bash bench/history/run.sh            # LEADS=50000 SEED=1 THREADS=2
#
# It runs `leadscore generate --leads LEADS --seed SEED` into a temporary
# directory, then `leadscore train --history DIR --family F --json` in five
# variants:
#
#   points              the built-in points rules (nothing to tune);
#   logistic, gbdt      --tune=false: the flags' defaults (C=1; 200 trees,
#                       depth 6, learning rate 0.1), as before tuning was
#                       the default;
#   logistic-tuned,     train's default --tune: C and knots (0, or 8 hinges
#   gbdt-tuned          per numeric feature), or depth, min child weight
#                       and trees (early stopping), chosen by ROC AUC on an
#                       inner fold of the TRAINING rows (the latest snapshots,
#                       candidates fitted on rows a horizon earlier), then
#                       refitted on all training rows. The held-out rows play
#                       no part in the choice.
#
# bench/history (Go) then rebuilds the held-out rows exactly as train does
# (trainer.FromHistory), loads each artifact, checks its feature spec and
# that its held-out AUC equals the one train reported, and computes the
# top-decile lift (won rate of the 10% highest raw scores over the base
# rate, ties at the edge counted in proportion). It prints AUC and lift per
# variant, the tuning choices and the fold figures they were made on, and
# the ordering the issue expects (GBDT > logistic > points on both), for
# the untuned and the tuned families. There is no external reference here
# (see bench/bank). Context columns: the fit time (tuning included) and
# Scorer.Raw ns/row (one row at a time, one thread). It exits non-zero only
# on errors.
set -euo pipefail
cd "$(dirname "$0")/../.."

leads=${LEADS:-50000}
seed=${SEED:-1}
threads=${THREADS:-2}
python=/usr/bin/python3

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export GOMAXPROCS=$threads

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
go build -o "$work/leadscore" ./cmd/leadscore
go build -o "$work/history" ./bench/history
"$work/leadscore" generate --leads "$leads" --seed "$seed" --out "$work/h" >&2
args=()
variants=(points logistic gbdt logistic-tuned gbdt-tuned)
for v in "${variants[@]}"; do
  fam=${v%-tuned}
  flags=(--tune=false)
  [ "$v" != "$fam" ] && flags=(--tune)
  echo "training $v (--family $fam ${flags[*]})..." >&2
  # --refit=false: the comparison is on the held-out snapshots, which a
  # refit would have trained on.
  "$work/leadscore" train --history "$work/h" --family "$fam" "${flags[@]}" --refit=false --seed 1 --out "$work/$v.lsa" --json >"$work/$v.json"
  args+=("$v=$work/$v.lsa")
done
echo "measuring the held-out rows..." >&2
"$work/history" -dir "$work/h" "${args[@]}" >"$work/measured.jsonl"
echo "load average after:  $(cut -d' ' -f1-3 /proc/loadavg)"

"$python" - "$work" "$leads" "$seed" <<'PY'
import json, sys
work, leads, seed = sys.argv[1], int(sys.argv[2]), sys.argv[3]
m = {r["name"]: r for r in map(json.loads, open(f"{work}/measured.jsonl"))}
rep = {v: json.load(open(f"{work}/{v}.json")) for v in m}
g = rep["gbdt"]
print(f"\ngenerated history: {leads:,} leads, seed {seed}; {g['features']} features; "
      f"train {g['train_rows']:,} snapshot rows ({g['train_positives']:,} won), "
      f"held out {g['valid_rows']:,} ({g['valid_positives']:,} won, base rate {m['gbdt']['base_won_rate']:.4f})")
print(f"{'variant':16}{'held-out AUC':>14}{'top-decile lift':>17}{'top-decile won rate':>21}"
      f"{'distinct scores':>17}{'fit s':>8}{'Raw ns/row':>12}  parameters")
for v in ("points", "logistic", "gbdt", "logistic-tuned", "gbdt-tuned"):
    r = m[v]
    t = rep[v].get("tuning")
    if v == "points":
        what = "built-in rules"
    elif t is None:
        what = "--tune=false: " + ("C 1" if v == "logistic" else "200 trees, depth 6")
    else:
        c = t["candidates"][t["chosen"]]
        what = (f"tuned: C {c['c']:g}, {c.get('knots', 0)} knots" if "c" in c else
                f"tuned: depth {c['max_depth']}, min child weight {c['min_child_weight']:g}, {c['trees']} trees")
    print(f"{v:16}{r['roc_auc']:>14.4f}{r['top_decile_lift']:>17.3f}{r['top_decile_won_rate']:>21.4f}"
          f"{r['distinct_scores']:>17,}{rep[v]['seconds']['fit']:>8.2f}{r['raw_ns_per_row']:>12.0f}  {what}")

for v in ("logistic-tuned", "gbdt-tuned"):
    t = rep[v]["tuning"]
    print(f"\n{v}: inner fold ({t['fold']}): {t['fold_detail']}")
    print(f"  candidates fitted on {t['fit_rows']:,} training rows ({t['fit_positives']:,} won), "
          f"judged on {t['fold_rows']:,} ({t['fold_positives']:,} won); the held-out rows are not used")
    for i, c in enumerate(t["candidates"]):
        what = (f"C {c['c']:<6g} knots {c.get('knots', 0):<2}" if "c" in c else
                f"depth {c['max_depth']} mcw {c['min_child_weight']:<3g} trees {c['trees']:>4}")
        mark = "  <- chosen" if i == t["chosen"] else ""
        print(f"  {what}  fold AUC {c['roc_auc']:.4f}  fold log loss {c['log_loss']:.4f}  {c['seconds']:6.1f}s{mark}")
    print(f"  refit: {t['refit']}")

def order(names):
    ranked = sorted(names, key=lambda f: -m[f]["roc_auc"]), sorted(names, key=lambda f: -m[f]["top_decile_lift"])
    return ranked
for title, names in (("untuned (--tune=false)", ["points", "logistic", "gbdt"]),
                     ("tuned (train's default)", ["points", "logistic-tuned", "gbdt-tuned"])):
    by_auc, by_lift = order(names)
    print(f"\n{title}:")
    print(f"  ordering by AUC:  {' > '.join(by_auc)}")
    print(f"  ordering by lift: {' > '.join(by_lift)}")
    want = [names[2], names[1], names[0]]
    for ranked, name in ((by_auc, "AUC"), (by_lift, "lift")):
        print(f"  issue's expectation gbdt > logistic > points on {name}: {'met' if ranked == want else 'NOT met'}")
PY
