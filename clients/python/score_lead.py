#!/usr/bin/env python3
"""Score a lead with the leadscore gRPC API from Python.

A small example to copy. It needs grpcio and protobuf, plus Python code
generated from the service's protos:

    protoc -I proto -I /usr/include \\
        --python_out=gen --grpc_out=gen \\
        --plugin=protoc-gen-grpc=/usr/bin/grpc_python_plugin \\
        proto/leadscore/v1/*.proto
    PYTHONPATH=gen python3 clients/python/score_lead.py --addr localhost:50051

(With pip instead of Debian's packages: `pip install grpcio grpcio-tools`
and `python -m grpc_tools.protoc ... --grpc_python_out=gen`.)

It checks the server's health (when the grpc.health.v1 module is
importable, from grpcio-health-checking or generated), scores one inline
lead with Score, then three with ScoreBatch, prints what came back, and
exits non-zero when a result does not look right. scripts/python-client.sh
runs it against a quickstart server as a test.
"""

import argparse
import re
import sys

import grpc
from google.protobuf import timestamp_pb2

from leadscore.v1 import score_pb2, scoring_pb2, scoring_pb2_grpc

try:  # Optional: grpcio-health-checking, or code generated from health.proto.
    from grpc_health.v1 import health_pb2, health_pb2_grpc
except ImportError:
    health_pb2 = health_pb2_grpc = None

SCORING_SERVICE = "leadscore.v1.ScoringService"
CELL = re.compile(r"^[A-D][1-4]$")
VERSION_PREFIX = "models/default/versions/"


def timestamp(rfc3339):
    """Returns a google.protobuf.Timestamp from "2025-07-01T00:00:00Z"."""
    ts = timestamp_pb2.Timestamp()
    ts.FromJsonString(rfc3339)
    return ts


def inline_lead(industry, seniority, company_size, events):
    """Builds an InlineLead: attributes are AttributeValue messages, and
    events are (type, RFC 3339 time) pairs that must be before score_time."""
    lead = scoring_pb2.InlineLead()
    for key, value in (("industry", industry), ("seniority", seniority),
                       ("company_size", company_size)):
        lead.attributes[key].string_value = value
    for event_type, when in events:
        lead.events.add(type=event_type, occur_time=timestamp(when))
    return lead


def check_health(channel, timeout):
    """Asks grpc.health.v1 whether the scoring service is SERVING."""
    if health_pb2 is None:
        print("health: grpc_health.v1 not importable, skipped")
        return True
    stub = health_pb2_grpc.HealthStub(channel)
    resp = stub.Check(health_pb2.HealthCheckRequest(service=SCORING_SERVICE),
                      timeout=timeout)
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status)
    print(f"health: {SCORING_SERVICE} {status}")
    return resp.status == health_pb2.HealthCheckResponse.SERVING


def problems_of(score):
    """Returns what is wrong with a LeadScore, as a list of strings."""
    problems = []
    if not 0 < score.probability < 1:
        problems.append(f"probability {score.probability} not in (0, 1)")
    if not CELL.match(score.cell):
        problems.append(f"cell {score.cell!r} does not match {CELL.pattern}")
    if not score.model_version.startswith(VERSION_PREFIX):
        problems.append(f"model_version {score.model_version!r} does not "
                        f"start with {VERSION_PREFIX!r}")
    return problems


def print_score(score):
    print(f"probability:   {score.probability:.4f} (score {score.score})")
    print(f"cell:          {score.cell}")
    print(f"next_action:   {score.next_action}")
    print(f"model_version: {score.model_version} (alias {score.alias!r})")
    for f in score.factors:
        group = score_pb2.FactorGroup.Name(f.group)
        print(f"  factor {f.contribution:+.3f} {f.feature} = {f.value!r} "
              f"[{group}] {f.description}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--addr", default="localhost:50051",
                        help="the gRPC address of the leadscore server")
    parser.add_argument("--score-time", default="2025-07-01T00:00:00Z",
                        help="score as of this time (the quickstart history "
                             "ends on 2025-07-01)")
    parser.add_argument("--timeout", type=float, default=10.0,
                        help="the deadline of each call, in seconds")
    args = parser.parse_args()

    problems = []
    # No TLS and no credentials: for a local server only. In production use
    # grpc.secure_channel with grpc.ssl_channel_credentials().
    with grpc.insecure_channel(args.addr) as channel:
        if not check_health(channel, args.timeout):
            problems.append("scoring service is not SERVING")

        stub = scoring_pb2_grpc.ScoringServiceStub(channel)
        options = scoring_pb2.ScoreOptions(
            explain=True, max_factors=3, score_time=timestamp(args.score_time))

        # Score: one lead, given inline, with one demo request the day before.
        lead = inline_lead("software", "vp", "51-200",
                           [("demo_request", "2025-06-30T00:00:00Z")])
        resp = stub.Score(scoring_pb2.ScoreRequest(
            item=scoring_pb2.ScoreItem(inline_lead=lead, key="crm-1"),
            options=options), timeout=args.timeout)
        print("== Score")
        print_score(resp.score)
        if resp.unknown_attributes:
            print(f"unknown attributes: {list(resp.unknown_attributes)}")
        problems += problems_of(resp.score)

        # ScoreBatch: up to 1000 leads, one model version, one result per
        # item in order; an item that fails carries its own error.
        batch = [
            ("crm-1", lead),
            ("crm-2", inline_lead("retail", "individual_contributor", "1-10", [])),
            ("crm-3", inline_lead("healthcare", "director", "201-500",
                                  [("page_view", "2025-06-28T12:00:00Z")])),
        ]
        bresp = stub.ScoreBatch(scoring_pb2.ScoreBatchRequest(
            items=[scoring_pb2.ScoreItem(key=k, inline_lead=l) for k, l in batch],
            options=options), timeout=args.timeout)
        print(f"== ScoreBatch ({bresp.model_version}, alias {bresp.alias!r})")
        if len(bresp.results) != len(batch):
            problems.append(f"ScoreBatch returned {len(bresp.results)} "
                            f"results for {len(batch)} items")
        for (key, _), result in zip(batch, bresp.results):
            if result.key != key:
                problems.append(f"ScoreBatch result key {result.key!r}, "
                                f"want {key!r}")
            if result.WhichOneof("result") == "error":
                problems.append(f"{key}: {result.error.code} "
                                f"{result.error.message}")
                continue
            s = result.score
            print(f"{result.key}: probability {s.probability:.4f} cell "
                  f"{s.cell} next_action {s.next_action}")
            problems += [f"{key}: {p}" for p in problems_of(s)]

    for p in problems:
        print(f"FAIL: {p}", file=sys.stderr)
    if problems:
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except grpc.RpcError as err:
        print(f"FAIL: {err.code().name}: {err.details()}", file=sys.stderr)
        sys.exit(1)
