"""The function's CloudWatch metrics, written as Embedded Metric Format log lines: CloudWatch Logs turns
each line into data points, so a metric costs no API call and no IAM permission, and it is in the log
beside the lines that explain it. Namespace ``METRICS_NAMESPACE``, dimension ``FunctionName``."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from typing import Any

from ec2_isolation.log import log

#: the reconciler's counts (each a Count, summed per period; the drift alarm watches the first two)
DRIFT_REPAIRED = "DriftRepaired"
GROUPS_RESEALED = "GroupsResealed"
CAUGHT_UP = "CaughtUp"
REFUSED = "Refused"
RECORDS_CLOSED = "RecordsClosed"
SWEEP_FAILED = "SweepFailed"
SWEEP_YIELDED = "SweepYielded"
#: evidence snapshots that reached the security account, and custody moves that failed
EVIDENCE_IN_CUSTODY = "EvidenceInCustody"
CUSTODY_FAILED = "CustodyFailed"
METRICS = (
    DRIFT_REPAIRED,
    GROUPS_RESEALED,
    CAUGHT_UP,
    REFUSED,
    RECORDS_CLOSED,
    SWEEP_FAILED,
    SWEEP_YIELDED,
    EVIDENCE_IN_CUSTODY,
    CUSTODY_FAILED,
)


def function_name() -> str:
    """The function's name, as the Lambda runtime gives it (the module's default outside Lambda)."""
    return os.environ.get("AWS_LAMBDA_FUNCTION_NAME") or "ec2-isolation"


def emf_document(
    namespace: str, counts: Mapping[str, int], *, function: str, timestamp_ms: int
) -> dict[str, Any]:
    """The Embedded Metric Format fields of one line: the ``_aws`` metadata, the dimension and the values."""
    unknown = sorted(set(counts) - set(METRICS))
    if unknown:
        raise ValueError(f"unknown metrics {unknown}; known: {list(METRICS)}")
    return {
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [
                {
                    "Namespace": namespace,
                    "Dimensions": [["FunctionName"]],
                    "Metrics": [{"Name": name, "Unit": "Count"} for name in counts],
                }
            ],
        },
        "FunctionName": function,
        **counts,
    }


def count(namespace: str, **counts: int) -> None:
    """Write one metric line with the non-zero ``counts`` (nothing when all are zero)."""
    kept = {name: value for name, value in counts.items() if value}
    if not kept:
        return
    document = emf_document(namespace, kept, function=function_name(), timestamp_ms=int(time.time() * 1000))
    log(logging.INFO, "metrics", **document)
