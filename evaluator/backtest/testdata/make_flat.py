#!/usr/bin/python3
"""Writes the flat-table fixtures of the backtest tests: one row per lead
with a label, as a CRM export looks. Run from evaluator/backtest/testdata:

    /usr/bin/python3 make_flat.py

flat_train.csv holds leads created in January to June 2025 and
flat_backtest.csv those created in July to October 2025; a lead converts
with a probability set by its industry, size, source and webinar
attendance, so a model learns a ranking that holds on the later rows.
The fixture is made up; it copies nothing.
"""
import csv
import math
import random
from datetime import datetime, timedelta

rng = random.Random(20261122)
industries = {"software": 0.9, "finance": 0.4, "retail": -0.3, "education": -0.8, "manufacturing": 0.0}
sources = {"referral": 1.0, "paid_search": -0.2, "organic_search": 0.0, "events": 0.3}
campaigns = ["spring-webinar", "q2-ebook", "brand", ""]


def rows(n, start, days, first_id):
    out = []
    for k in range(n):
        created = start + timedelta(seconds=rng.randrange(days * 86400))
        industry = rng.choice(list(industries))
        source = rng.choice(list(sources))
        employees = int(math.exp(rng.gauss(4.5, 1.5)))
        webinar = rng.random() < 0.25
        z = -3.4 + 1.6 * industries[industry] + 1.4 * sources[source] + 0.5 * math.log10(employees + 1) + (1.6 if webinar else 0)
        p = 1 / (1 + math.exp(-z))
        out.append({
            "Lead ID": f"F{first_id + k:05d}",
            "created_at": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "industry": industry,
            "employees": employees if rng.random() > 0.05 else "",
            "Lead Source": source,
            "utm_campaign": rng.choice(campaigns),
            "webinar": "yes" if webinar else "no",
            "converted": "yes" if rng.random() < p else "no",
        })
    out.sort(key=lambda r: r["created_at"])
    return out


def write(name, rs):
    with open(name, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rs[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rs)


write("flat_train.csv", rows(1200, datetime(2025, 1, 1), 181, 1))
write("flat_backtest.csv", rows(800, datetime(2025, 7, 1), 123, 5001))
