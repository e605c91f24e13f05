#!/usr/bin/env python3
"""Train a model version with the leadscore gRPC API from Python.

A small example to copy, generated code as for score_lead.py:

    PYTHONPATH=gen python3 clients/python/train_model.py --addr localhost:50051

It creates a training job that learns from the history in the server's
store (as `leadscore quickstart` imports it), watches the job's stages to
its end, reads the registered version and prints its lineage: the job, the
data source, the options and who asked. It exits non-zero when something
does not look right. scripts/python-client.sh runs it against a quickstart
server as a test.
"""

import argparse
import sys
import uuid

import grpc
from google.protobuf import timestamp_pb2

from leadscore.v1 import (
    job_pb2,
    model_registry_pb2,
    model_registry_pb2_grpc,
    training_pb2,
    training_pb2_grpc,
)

FINAL = {
    job_pb2.JOB_STATE_SUCCEEDED,
    job_pb2.JOB_STATE_FAILED,
    job_pb2.JOB_STATE_CANCELLED,
}


def fail(message):
    print("train_model: " + message, file=sys.stderr)
    sys.exit(1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addr", default="localhost:50051")
    parser.add_argument("--model", default="python-churn")
    parser.add_argument("--actor", default="python-client")
    parser.add_argument("--until", default="2025-04-01T00:00:00Z",
                        help="learn only from what was known before this time")
    args = parser.parse_args()

    until = timestamp_pb2.Timestamp()
    until.FromJsonString(args.until)
    job = training_pb2.TrainingJob(
        model="models/" + args.model,
        family=job_pb2.MODEL_FAMILY_LOGISTIC,
        data=job_pb2.DataSource(store_history=job_pb2.StoreHistory()),
        parameters={"tune": "false"},
        seed=7,
        until_time=until,
        description="trained from Python",
    )
    metadata = [("x-leadscore-actor", args.actor)]
    with grpc.insecure_channel(args.addr) as channel:
        training = training_pb2_grpc.TrainingServiceStub(channel)
        registry = model_registry_pb2_grpc.ModelRegistryServiceStub(channel)
        created = training.CreateTrainingJob(
            training_pb2.CreateTrainingJobRequest(
                training_job=job, request_id="py-" + uuid.uuid4().hex),
            metadata=metadata, timeout=30).training_job
        print(f"created {created.name} ({job_pb2.JobState.Name(created.state)})")

        last = None
        stages = []
        for msg in training.WatchTrainingJob(
                training_pb2.WatchTrainingJobRequest(name=created.name),
                timeout=300):
            last = msg.training_job
            stage = last.progress.stage
            if not stages or stages[-1] != stage:
                stages.append(stage)
                print(f"  {stage:<16} {last.progress.fraction:5.0%}  {last.progress.message}")
        if last is None or last.state not in FINAL:
            fail("the watch ended before the job did")
        if last.state != job_pb2.JOB_STATE_SUCCEEDED:
            fail(f"{last.name} ended {job_pb2.JobState.Name(last.state)}: "
                 f"{last.error.code} {last.error.message}")
        if not last.model_version.startswith(f"models/{args.model}/versions/"):
            fail(f"registered {last.model_version!r}, not a version of {args.model}")
        auc = last.validation_metrics.get("roc_auc", 0)
        print(f"registered {last.model_version}, held-out ROC AUC {auc:.3f}")

        version = registry.GetModelVersion(
            model_registry_pb2.GetModelVersionRequest(name=last.model_version),
            timeout=30).model_version
        lineage = version.lineage
        print(f"lineage: job {lineage.training_job}, data {lineage.data_source}, "
              f"window {lineage.data_window_start.ToJsonString()} .. "
              f"{lineage.data_window_end.ToJsonString()}, seed {lineage.seed}, "
              f"by {version.creator}")
        print("options: " + ", ".join(f"{k}={v}" for k, v in sorted(lineage.options.items())))
        checks = [
            (lineage.training_job == last.name, "the lineage names the job"),
            (lineage.data_source == "store_history", "the data came from the store"),
            (lineage.seed == 7 and lineage.options.get("seed") == "7", "the seed is recorded"),
            (lineage.options.get("family") == "logistic", "the family asked for is recorded"),
            (lineage.options.get("until_time") == args.until, "the window asked for is recorded"),
            (lineage.data_window_end.ToJsonString() == args.until, "the version learned until --until"),
            (version.creator == args.actor, "the creator is who asked"),
            (0.5 < auc <= 1, "the model ranks better than chance"),
            ("done" in stages and len(stages) > 2, "the watch showed the job's stages"),
        ]
        for ok, what in checks:
            if not ok:
                fail("check failed: " + what)
    print("train_model: PASS")


if __name__ == "__main__":
    main()
