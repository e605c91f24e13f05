#!/usr/bin/env python3
# sample.py wrote sample.json, the hand-made report of a realistic backtest
# (48,210 leads, 6% converted, ten falling deciles) that the rendering tests
# read. The numbers are chosen, not computed from scores; only the sums agree.
# To change the fixture, edit this script, then put the JSON in the form
# Report.JSON writes and regenerate the renderings:
#
#   python3 evaluator/testdata/report/sample.py > evaluator/testdata/report/sample.json
#   go test ./evaluator/ -run 'TestReport(JSON|Markdown|HTML)Golden' -update
import json, math
N, P = 48210, 2893
rate = P / N

def deciles(conv, means, mins):
    out, cum = [], 0
    n = N // 10
    sizes = [n + (1 if i < N - n*10 else 0) for i in range(10)]
    for i, c in enumerate(conv):
        cum += c
        cr = c / sizes[i]
        out.append(dict(decile=i+1, leads=sizes[i], conversions=c, close_rate=round(cr, 6),
                        lift=round(cr / rate, 4), cumulative_gain=round(cum / P, 6),
                        mean_probability=means[i], min_probability=mins[i]))
    return out

def reliability(leads, means, conv):
    out = []
    for b in range(10):
        out.append(dict(lower=b/10, upper=(b+1)/10, leads=leads[b],
                        mean_probability=means[b] if leads[b] else 0,
                        observed_rate=round(conv[b]/leads[b], 6) if leads[b] else 0))
    assert sum(leads) == N, sum(leads)
    assert sum(conv) == P, (sum(conv))
    return out

def quantiles(d):
    # The deciles again, lowest probabilities first: bins of equal leads.
    out = []
    for i in reversed(range(10)):
        upper = round(d[i-1]["min_probability"] - 0.0001, 4) if i > 0 else round(d[0]["mean_probability"] * 2.5, 4)
        out.append(dict(lower=d[i]["min_probability"], upper=upper, leads=d[i]["leads"],
                        mean_probability=d[i]["mean_probability"], observed_rate=d[i]["close_rate"]))
    return out

def group(key, leads, conv, meanp):
    cr = conv/leads if leads else 0
    return dict(key=key, leads=leads, conversions=conv, close_rate=round(cr, 6), lift=round(cr/rate, 4), mean_probability=meanp)

def ece(rel):
    return round(sum(b["leads"]*abs(b["mean_probability"]-b["observed_rate"]) for b in rel)/N, 4)

cand_conv = [1205, 602, 371, 247, 164, 117, 79, 55, 33, 20]
champ_conv = [1090, 590, 385, 262, 180, 128, 95, 70, 53, 40]
base_conv = [720, 520, 410, 330, 260, 200, 160, 120, 98, 75]
assert sum(cand_conv) == sum(champ_conv) == sum(base_conv) == P

cand_rel = reliability([38000, 5200, 2400, 1300, 700, 380, 170, 50, 10, 0],
                       [0.0312, 0.1431, 0.2455, 0.3468, 0.4472, 0.5481, 0.6414, 0.7388, 0.8262, 0],
                       [684, 666, 504, 429, 287, 190, 102, 28, 3, 0])
champ_rel = reliability([35500, 7100, 3000, 1500, 650, 300, 120, 35, 5, 0],
                        [0.0381, 0.1462, 0.2471, 0.3452, 0.4437, 0.5419, 0.6386, 0.7311, 0.8155, 0],
                        [781, 781, 546, 390, 215, 114, 50, 14, 2, 0])
base_rel = reliability([9100, 14200, 11900, 7400, 3600, 1350, 480, 150, 30, 0],
                       [0.0591, 0.1487, 0.2493, 0.3462, 0.4451, 0.5412, 0.6388, 0.7371, 0.8204, 0],
                       [182, 540, 702, 666, 452, 224, 91, 30, 6, 0])

def hist(total, shape):
    w = [shape(i) for i in range(20)]
    s = sum(w)
    c = [int(total * x / s) for x in w]
    c[0] += total - sum(c)
    return c
conv_h = hist(P, lambda i: (i+0.5)**1.3 * math.exp(-(i+0.5)/2.6))
other_h = hist(N - P, lambda i: math.exp(-(i+0.5)/0.9))
conv_h[0], conv_h[1] = sorted([conv_h[0], conv_h[1]])

tiers_leads = [4821, 7232, 12052, 24105]
tiers_conv = [1205, 830, 560, 298]
tier_means = [0.2391, 0.1105, 0.0472, 0.0131]
tiers = [group(k, l, c, m) for k, l, c, m in zip(["very_good", "good", "medium", "low"], tiers_leads, tiers_conv, tier_means)]
acc = dict(top_two_tiers_lead_share=round((4821+7232)/N, 6),
           top_two_tiers_conversion_share=round((1205+830)/P, 6),
           top_to_bottom_close_rate_ratio=round((1205/4821)/(298/24105), 4),
           bottom_tier_conversions=298)

grades_leads = [9642, 12053, 12052, 14463]
grades_conv = [1302, 868, 463, 260]
grades = [group(k, l, c, round(c/l*1.04, 4)) for k, l, c in zip("ABCD", grades_leads, grades_conv)]
cells = []
for g, gl, gc in zip("ABCD", grades_leads, grades_conv):
    shares = [0.13, 0.21, 0.29, 0.37]
    rel = [3.1, 1.7, 0.75, 0.35]
    ls = [round(gl*s) for s in shares]; ls[-1] = gl - sum(ls[:-1])
    w = [l*r for l, r in zip(ls, rel)]
    cs = [round(gc*x/sum(w)) for x in w]; cs[-1] = gc - sum(cs[:-1])
    for lv in range(4):
        cells.append(group(f"{g}{lv+1}", ls[lv], cs[lv], round(cs[lv]/ls[lv]*0.97, 4)))

campaigns_raw = [
    ("webinar: pricing masterclass 2025-05", 2410, 341), ("google ads | brand", 6120, 552),
    ("google ads | generic", 7930, 402), ("linkedin abm <enterprise>", 3320, 299),
    ("partner_referral", 610, 41), ("spring launch & trial", 5480, 318), ("newsletter", 8830, 246),
    ("content: state of sales 2025", 4210, 164), ("trade show berlin", 1160, 129),
    ("retargeting", 2650, 122), ("g2 reviews", 1290, 98), ("cold outbound", 2190, 46),
    ("podcast sponsorship", 390, 17), ("(none)", 0, 0)]
rest_l = N - sum(l for _, l, _ in campaigns_raw[:-1]); rest_c = P - sum(c for _, _, c in campaigns_raw[:-1])
campaigns_raw[-1] = ("(none)", rest_l, rest_c)
campaigns = [group(k, l, c, round(c/l*1.02, 4)) for k, l, c in campaigns_raw]
sources_raw = [("paid_search", 15050, 954), ("organic", 11210, 812), ("paid_social", 8800, 417), ("email", 7420, 273), ("referral", 2330, 262), ("events", 1160, 129)]
sources_raw.append(("direct", N - sum(l for _, l, _ in sources_raw), P - sum(c for _, _, c in sources_raw)))
sources = [group(k, l, c, round(c/l*0.99, 4)) for k, l, c in sources_raw]
importance = [("pricing_page_views_7d", "engagement", 0.214), ("hand_raise_30d", "engagement", 0.172),
              ("company_size", "fit", 0.121), ("seniority", "fit", 0.098), ("email_clicks_30d", "engagement", 0.081),
              ("industry", "fit", 0.067), ("webinar_attended_90d", "engagement", 0.054), ("days_since_last_activity", "engagement", 0.049),
              ("country", "fit", 0.037), ("source", "fit", 0.031), ("unsubscribed", "engagement", 0.028), ("annual_revenue", "fit", 0.022)]

def metrics(model, family, conv, rel, auc, ci, prauc, ll, brier, ks, hist_c, hist_o, extra):
    d = deciles(conv, *extra)
    m = dict(model=model, family=family, leads=N, conversions=P, base_rate=round(rate, 6),
             roc_auc=auc, roc_auc_ci_lower=ci[0], roc_auc_ci_upper=ci[1], pr_auc=prauc, log_loss=ll, brier=brier,
             ece=ece(rel), ks=ks, lift_top_decile=d[0]["lift"], deciles=d, reliability=rel,
             reliability_quantiles=quantiles(d),
             tiers=tiers, grades=grades, cells=cells, campaigns=campaigns, sources=sources, acceptance=acc,
             histogram=dict(bins=20, converted=hist_c, other=hist_o),
             importance=[dict(feature=f, group=g, share=s) for f, g, s in importance])
    return m

cand = metrics("models/acme-inbound/versions/7", "gbdt", cand_conv, cand_rel, 0.8123, (0.8041, 0.8207), 0.3184, 0.1842, 0.0487, 0.4815, conv_h, other_h,
    ([0.2412, 0.1287, 0.0801, 0.0532, 0.0361, 0.0249, 0.0171, 0.0118, 0.0077, 0.0041],
     [0.1652, 0.1013, 0.0634, 0.0434, 0.0298, 0.0206, 0.0142, 0.0097, 0.0058, 0.0004]))
champ = metrics("models/acme-inbound/versions/5", "logistic", champ_conv, champ_rel, 0.7934, (0.7851, 0.8019), 0.2861, 0.1897, 0.0502, 0.4452, conv_h, other_h,
    ([0.2301, 0.1302, 0.0843, 0.0581, 0.0402, 0.0287, 0.0203, 0.0146, 0.0103, 0.0068],
     [0.1588, 0.1049, 0.0688, 0.0482, 0.0338, 0.0241, 0.0172, 0.0121, 0.0085, 0.0011]))
base = metrics("builtin:points", "points", base_conv, base_rel, 0.6912, (0.6818, 0.7004), 0.1533, 0.2411, 0.0561, 0.2784, conv_h, other_h,
    ([0.4012, 0.3105, 0.2601, 0.2212, 0.1854, 0.1523, 0.1201, 0.0902, 0.0633, 0.0388],
     [0.3411, 0.2821, 0.2398, 0.2031, 0.1688, 0.1362, 0.1055, 0.0771, 0.0511, 0.0102]))
# Only the candidate's groups matter to the renderings; the others keep theirs short.
for m in (champ, base):
    m["importance"] = m["importance"][:5]
champ["histogram"] = dict(bins=20, converted=hist(P, lambda i: (i+0.5)**1.1 * math.exp(-(i+0.5)/2.4)), other=hist(N-P, lambda i: math.exp(-(i+0.5)/1.0)))
base["histogram"] = dict(bins=20, converted=hist(P, lambda i: math.exp(-((i-6)/3.5)**2)), other=hist(N-P, lambda i: math.exp(-((i-3)/2.5)**2)))

names = ["roc_auc", "pr_auc", "log_loss", "brier", "ece", "ks", "lift_top_decile"]
deltas = []
for ref, m in (("champion", champ), ("baseline", base)):
    for k in names:
        deltas.append(dict(metric=k, reference=ref, candidate_value=cand[k], reference_value=m[k], delta=round(cand[k]-m[k], 6)))

def chk(metric, hib, cv, rv, passed, msg, **bounds):
    rule = dict(metric=metric, higher_is_better=hib, **bounds)
    return dict(rule=rule, candidate_value=cv, reference_value=rv, passed=passed, message=msg)

checks = [
    chk("roc_auc", True, cand["roc_auc"], champ["roc_auc"], True, "roc_auc 0.812 is at least 0.7. roc_auc 0.812 improved 0.0189 on champion 0.793; a regression of at most 0.005 is allowed", min_value=0.70, max_regression=0.005, severity="fail"),
    chk("pr_auc", True, cand["pr_auc"], champ["pr_auc"], True, "pr_auc 0.318 improved 0.0323 on champion 0.286 (-11.3% of the champion's value); a regression of at most 5% is allowed", max_relative_regression=0.05, severity="fail"),
    chk("lift_top_decile", True, cand["lift_top_decile"], champ["lift_top_decile"], True, "lift_top_decile 4.17 is at least 2", min_value=2.0, severity="fail"),
    chk("log_loss", False, cand["log_loss"], champ["log_loss"], True, "log_loss 0.184 improved 0.0055 on champion 0.19; a regression of at most 0.002 is allowed", max_regression=0.002, severity="fail"),
    chk("brier", False, cand["brier"], champ["brier"], True, "brier 0.0487 improved 0.0015 on champion 0.0502; a regression of at most 0.001 is allowed", max_regression=0.001, severity="fail"),
    chk("ece", False, cand["ece"], None, False, "ece 0.0156 is above the maximum 0.01", min_value=0.01, severity="warn"),
    chk("top_two_tiers_lead_share", True, acc["top_two_tiers_lead_share"], None, True, "top_two_tiers_lead_share 0.25 is at least 0.15. top_two_tiers_lead_share 0.25 is at most 0.35", min_value=0.15, max_value=0.35, severity="warn"),
    chk("ks", True, cand["ks"], champ["ks"], True, "ks 0.482 improved 0.0363 on champion 0.445; an improvement of at least 0.01 is required", min_improvement=0.01, severity="fail"),
]
for m in (cand, champ, base):
    for k in ("campaigns", "sources"):
        m[k].sort(key=lambda g: (-g["leads"], g["key"]))
report = dict(
    schema_version=1, verdict="pass", candidate=cand, champion=champ, baseline=base, deltas=deltas,
    gate=dict(policy="gatePolicies/default/revisions/3", reference="champion", passed=True, checks=checks),
    warnings=["gate warning: ece 0.0156 is above the maximum 0.01"],
    data=dict(kind="history", source="testdata/acme/leads.csv, testdata/acme/events.csv, testdata/acme/outcomes.csv",
              cutoff="2025-06-01T00:00:00Z", horizon="2160h0m0s", window_start="2025-06-01T00:00:00Z", window_end="2025-08-30T00:00:00Z",
              rows=N, positives=P, sha256="9c2f4e1ab07d3386e5a0f1b2c4d6e8fa1357924680bdf0ace2468013579bdf02"),
    seed=20250601, created_at="2025-09-02T10:15:30Z")
print(json.dumps(report, indent=2, ensure_ascii=False))
