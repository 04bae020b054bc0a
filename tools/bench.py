"""Benchmark of the isolation handler (`make bench`): the real handler against a local moto server, with
simulated AWS latency and EC2 API throttling.

    python -m tools.bench                      # everything; prints a table, writes build/bench.json
    python -m tools.bench --quick              # a smoke run (small burst, short wait)
    python -m tools.bench --label after        # tag the numbers (e.g. before/after a change)

What is simulated, with botocore event hooks on every client of the run (nothing in the handler changes):

- latency: every HTTP attempt waits ``--latency-ms`` (default 50) before it is sent (a round trip);
- EC2 request throttling: a token bucket per mutating EC2 action (every action but Describe*/Get*/List*),
  ``--bucket-size`` tokens (default 200), refilled at ``--refill-rate`` a second (default 5): the
  documented defaults of EC2's request rate limiting, which is per account, region and API action. An
  attempt that finds the bucket empty is answered ``RequestLimitExceeded`` (HTTP 503) without reaching the
  emulator, and botocore's standard retry mode (the handler's) backs off and retries. Reads are not
  throttled in this model.

What is measured:

- one instance (1 ENI, and 3 ENIs), warm (the VPC's isolation and transition groups exist) and cold (the
  first isolation in the VPC creates them), and the release of the 1-ENI one: time to the network cut
  (the isolation-group ModifyNetworkInterfaceAttribute of the last ENI) and to completion, without the
  untrack wait (the handler's ``sleep`` is injected and not slept) and with it (plus what it asked to
  sleep); sequential round trips on the critical path (the longest chain of attempts that do not overlap
  in time: with a sequential handler, every attempt), API calls (total and mutating) and attempts;
  the timeline of every call, with the containment step that made it, goes to the JSON;
- a burst: ``--burst`` tagged instances (default 1000), one event each, handled by ``--concurrency``
  (default 50) workers, each with its own clients (one Lambda execution environment each), the untrack
  wait slept for real (it holds a concurrency slot, as in Lambda); a failed invocation is run again up to
  twice (Lambda's asynchronous retries, here without their 1 and 2 minute delays): completion time, peak
  concurrency, throttled attempts, failures on the first attempt and in the end (must be 0), and that
  every instance's ENIs are on the isolation group afterwards;
- the Lambda zip's size, and the handler's import time in a fresh interpreter (``-X importtime``).

Timing is wall-clock against an emulator on this machine: moto's own processing time is included (it is
reported: ``emulator_ms`` is the mean time per attempt beyond the injected latency).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import queue
import re
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qs

import boto3
from botocore.awsrequest import AWSResponse, HTTPHeaders

from ec2_isolation.clients import AwsClients
from ec2_isolation.config import Settings
from ec2_isolation.errors import EventIsolationFailed
from ec2_isolation.events import FunctionIdentity
from ec2_isolation.handler import handle
from ec2_isolation.steps import STEP_ACTIONS, required_actions
from tools.emulator import Emulator
from tools.fleet import AMI, INSTANCE_TYPE, create_instance_profile, launch_instance
from tools.tfcli import FAKE_ACCOUNT_ID, FAKE_REGION

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

ROOT: Final = Path(__file__).resolve().parent.parent
ZIP: Final = ROOT / "lambda" / "dist" / "ec2_isolation.zip"
DEFAULT_JSON: Final = ROOT / "build" / "bench.json"
READ_ONLY_PREFIXES: Final = ("Describe", "Get", "List")
TAG_KEY: Final = "SecurityIsolation"
RECORD_TABLE: Final = "ec2-isolation-records"
FUNCTION: Final = FunctionIdentity("aws", FAKE_REGION, FAKE_ACCOUNT_ID)
THROTTLE_XML: Final = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>RequestLimitExceeded</Code>'
    "<Message>Request limit exceeded.</Message></Error></Errors>"
    "<RequestID>00000000-0000-0000-0000-000000000000</RequestID></Response>"
)
#: Lambda's asynchronous invocation retries a failed event twice
ASYNC_RETRIES: Final = 2


def is_mutating(operation: str) -> bool:
    return not operation.startswith(READ_ONLY_PREFIXES)


# ---- the simulated network ---------------------------------------------------------------------------


class TokenBucket:
    """EC2's token bucket: ``capacity`` tokens, ``rate`` added a second, one taken per request."""

    def __init__(self, capacity: float, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity, self.rate, self._clock = capacity, rate, clock
        self._tokens, self._at = capacity, clock()
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rate)
            self._at = now
            if self._tokens >= 1:
                self._tokens -= 1
                return True
            return False


@dataclass
class Attempt:
    """One HTTP attempt of an API call, as the simulated network saw it."""

    invocation: str
    service: str
    operation: str
    step: str
    start: float
    end: float = 0.0
    throttled: bool = False
    error: str = ""
    params: dict[str, str] = field(default_factory=dict)


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def _calling_step() -> str:
    """The innermost containment step (a ``@requires`` function of ec2_isolation.steps) on the stack."""
    frame = sys._getframe(2)
    while frame is not None:
        name = frame.f_code.co_name
        if name in STEP_ACTIONS and frame.f_globals.get("__name__", "").startswith("ec2_isolation.steps"):
            return name
        frame = frame.f_back  # type: ignore[assignment]
    return "-"


def _form(body: Any) -> dict[str, str]:
    if isinstance(body, bytes):
        body = body.decode(errors="replace")
    if not isinstance(body, str):
        return {}
    return {k: v[0] for k, v in parse_qs(body).items()}


class SimulatedNetwork:
    """Latency on every attempt, token buckets for EC2's mutating actions, and a timeline of attempts."""

    def __init__(self, latency: float, bucket_size: float, refill_rate: float) -> None:
        self.latency, self.bucket_size, self.refill_rate = latency, bucket_size, refill_rate
        self.attempts: list[Attempt] = []
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()
        self._local = threading.local()
        # A context variable, not the thread: the handler's concurrent calls run in threads of their own,
        # with a copy of the invoking thread's context.
        self._label: ContextVar[str] = ContextVar("bench_invocation", default="")

    def install(self, session: boto3.session.Session) -> boto3.session.Session:
        """Hook ``session``: its clients (created afterwards) go through this network."""
        # botocore's hooks may answer (the throttle does); its stubs type them as returning None.
        session.events.register("before-send", self._before_send)  # type: ignore[arg-type]
        session.events.register("response-received", self._response_received)
        return session

    @contextlib.contextmanager
    def invocation(self, label: str) -> Iterator[None]:
        """Attribute the attempts made inside the block (by this thread, and the threads it starts with a
        copy of its context) to ``label``."""
        token = self._label.set(label)
        try:
            yield
        finally:
            self._label.reset(token)

    def of(self, label: str) -> list[Attempt]:
        with self._lock:
            return [a for a in self.attempts if a.invocation == label]

    def _bucket(self, operation: str) -> TokenBucket:
        with self._lock:
            if operation not in self._buckets:
                self._buckets[operation] = TokenBucket(self.bucket_size, self.refill_rate)
            return self._buckets[operation]

    def _before_send(self, request: Any, event_name: str, **kwargs: Any) -> AWSResponse | None:
        _, service, operation = event_name.split(".", 2)
        attempt = Attempt(
            invocation=self._label.get(),
            service=service,
            operation=operation,
            step=_calling_step(),
            start=time.perf_counter(),
            params=_form(request.body) if service == "ec2" else {},
        )
        self._local.attempt = attempt
        time.sleep(self.latency)
        if service == "ec2" and is_mutating(operation) and not self._bucket(operation).take():
            attempt.throttled = True
            headers = HTTPHeaders()
            headers["Content-Type"] = "text/xml"
            return AWSResponse(request.url, 503, headers, _Raw(THROTTLE_XML.encode()))
        return None

    def _response_received(self, parsed_response: Any = None, exception: Any = None, **_: Any) -> None:
        attempt: Attempt | None = getattr(self._local, "attempt", None)
        if attempt is None:
            return
        self._local.attempt = None
        attempt.end = time.perf_counter()
        if exception is not None:
            attempt.error = type(exception).__name__
        elif isinstance(parsed_response, dict):
            attempt.error = str(parsed_response.get("Error", {}).get("Code", ""))
        with self._lock:
            self.attempts.append(attempt)


def critical_path(attempts: list[Attempt]) -> int:
    """The most attempts that follow one another without overlapping in time: the sequential round
    trips (for a sequential handler, all of them; concurrent calls count once)."""
    ordered = sorted(attempts, key=lambda a: a.end)
    longest: list[int] = []
    for i, attempt in enumerate(ordered):
        before = [longest[j] for j in range(i) if ordered[j].end <= attempt.start]
        longest.append(1 + max(before, default=0))
    return max(longest, default=0)


# ---- the account -------------------------------------------------------------------------------------


@dataclass
class Account:
    """What the module deploys and a VPC to isolate in, on the emulator."""

    settings: Settings
    subnet_id: str
    group_ids: list[str]
    app_profile_arn: str


def prepare_account(session: boto3.session.Session, settings_overrides: dict[str, Any]) -> Account:
    ec2, iam = session.client("ec2"), session.client("iam")
    session.client("dynamodb").create_table(
        TableName=RECORD_TABLE,
        KeySchema=[{"AttributeName": "instance_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "instance_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.0.0.0/17")["Subnet"]["SubnetId"]
    groups = [
        ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc_id)["GroupId"]
        for name in ("app", "db", "mgmt")
    ]
    settings = Settings(
        isolation_tag_key=TAG_KEY,
        isolation_tag_value="Isolate",
        status_tag_prefix=f"{TAG_KEY}:",
        isolation_security_group_name="ec2-isolation-isolation",
        isolation_instance_profile_arn=create_instance_profile(iam, "ec2-isolation-isolation"),
        managed_tag_key=f"{TAG_KEY}:ManagedBy",
        managed_tag_value="ec2-isolation",
        record_table_name=RECORD_TABLE,
        resource_tags={"team": "security"},
        **settings_overrides,
    )
    return Account(settings, subnet_id, groups, create_instance_profile(iam, "web-app"))


def event_for(instance_id: str, value: str = "Isolate") -> dict[str, Any]:
    """The "Tag Change on Resource" event EventBridge delivers when the analyst tags the instance."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Tag Change on Resource",
        "source": "aws.tag",
        "account": FUNCTION.account,
        "time": datetime.now(tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": FUNCTION.region,
        "resources": [FUNCTION.instance_arn(instance_id)],
        "detail": {
            "changed-tag-keys": [TAG_KEY],
            "service": "ec2",
            "resource-type": "instance",
            "version": 2,
            "tags": {"Name": "web", TAG_KEY: value},
        },
    }


def tag(ec2: EC2Client, instance_ids: list[str], value: str) -> None:
    for start in range(0, len(instance_ids), 500):
        ec2.create_tags(Resources=instance_ids[start : start + 500], Tags=[{"Key": TAG_KEY, "Value": value}])


def hooked_clients(emulator: Emulator, network: SimulatedNetwork) -> AwsClients:
    """One execution environment's clients: a session of its own (a session must not be shared by
    threads), whose clients are created on first use, in the invocation, as in a Lambda cold start."""
    return AwsClients(network.install(emulator.session()))


# ---- one instance ------------------------------------------------------------------------------------


def measure_one(
    network: SimulatedNetwork,
    *,
    clients: AwsClients,
    account: Account,
    instance_id: str,
    label: str,
    action: str = "Isolate",
) -> dict[str, Any]:
    """Run the handler for one event and read its timeline."""
    slept: list[float] = []
    started = time.perf_counter()
    with network.invocation(label):
        summary = handle(
            event_for(instance_id, action),
            settings=account.settings,
            clients=clients,
            function=FUNCTION,
            sleep=slept.append,
        )
    finished = time.perf_counter()
    result = summary["instances"][0]
    attempts = network.of(label)
    calls = [a for a in attempts if not a.throttled]
    wait = sum(slept)
    measured: dict[str, Any] = {
        "status": result["status"],
        "enis": len(result.get("network_interfaces") or []),
        "completion_ms": ms(finished - started),
        "completion_with_wait_ms": ms(finished - started + wait),
        "untrack_wait_s": round(wait, 3),
        "round_trips_total": critical_path(attempts),
        "api_calls": len(calls),
        "api_calls_mutating": sum(is_mutating(a.operation) for a in calls),
        "attempts": len(attempts),
        "throttled_attempts": len(attempts) - len(calls),
        "emulator_ms": ms(statistics.fmean(a.end - a.start - network.latency for a in attempts)),
        "calls_by_operation": dict(Counter(f"{a.service}:{a.operation}" for a in calls)),
    }
    ec2_mutating = Counter(a.operation for a in calls if a.service == "ec2" and is_mutating(a.operation))
    measured["ec2_mutating_max_per_action"] = max(ec2_mutating.values(), default=0)
    group = result.get("isolation_group_id")
    cuts = [
        a
        for a in calls
        if a.operation == "ModifyNetworkInterfaceAttribute"
        and group
        and a.params.get("SecurityGroupId.1") == group
    ]
    if action == "Isolate" and cuts:
        cut_at = max(a.end for a in cuts)
        measured["enis"] = len(cuts)
        measured["cut_ms"] = ms(cut_at - started)
        measured["cut_with_wait_ms"] = ms(cut_at - started + wait)
        measured["first_eni_cut_ms"] = ms(min(a.end for a in cuts) - started)
        measured["round_trips_to_cut"] = critical_path([a for a in attempts if a.end <= cut_at])
        measured.update(wait_phases(attempts, cut_at))
    measured["timeline"] = [
        {
            "start_ms": ms(a.start - started),
            "end_ms": ms(a.end - started),
            "call": f"{a.service}:{a.operation}",
            "step": a.step,
            **({"throttled": True} if a.throttled else {}),
            **({"error": a.error} if a.error and not a.throttled else {}),
        }
        for a in sorted(attempts, key=lambda a: a.start)
    ]
    return measured


#: the steps that move ENIs (the listing and read-back, and each ENI's move)
MOVE_STEPS = frozenset({"move_interfaces", "move_interface"})


def wait_phases(attempts: list[Attempt], cut_at: float) -> dict[str, int]:
    """Round trips before the untrack wait starts (the transition move, verified), inside the wait (the
    steps that run while it lasts), and after it up to the cut. With the wait of 15 s, the cut comes at
    (before + after) round trips + 15 s: the steps inside the wait are off the critical path while they
    take less than the wait."""
    ordered = sorted(attempts, key=lambda a: a.start)
    moves = [i for i, a in enumerate(ordered) if a.step in MOVE_STEPS]
    if not moves:
        return {}
    first_run_end = moves[0]
    while first_run_end + 1 < len(ordered) and ordered[first_run_end + 1].step in MOVE_STEPS:
        first_run_end += 1
    wait_from = ordered[first_run_end].end
    cut_run_start = moves[-1]
    while cut_run_start - 1 > first_run_end and ordered[cut_run_start - 1].step in MOVE_STEPS:
        cut_run_start -= 1
    resumed = ordered[cut_run_start].start
    return {
        "round_trips_before_wait": critical_path([a for a in ordered if a.end <= wait_from]),
        "round_trips_in_wait": critical_path(
            [a for a in ordered if wait_from <= a.start and a.end <= resumed]
        ),
        "round_trips_after_wait_to_cut": critical_path(
            [a for a in ordered if resumed <= a.start and a.end <= cut_at]
        ),
    }


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def single_instance_scenarios(
    emulator: Emulator, network: SimulatedNetwork, account: Account
) -> dict[str, Any]:
    setup = emulator.session().client("ec2")
    clients = hooked_clients(emulator, network)
    app, db, mgmt = account.group_ids

    def launch(enis: list[list[str]]) -> str:
        instance_id = launch_instance(
            setup,
            subnet_id=account.subnet_id,
            enis=enis,
            name="web",
            profile_arn=account.app_profile_arn,
            extra_volumes=1,
        )
        tag(setup, [instance_id], "Isolate")
        return instance_id

    scenarios: dict[str, Any] = {}
    # The first isolation in the VPC creates and seals the isolation and transition groups.
    scenarios["isolate_1eni_cold"] = measure_one(
        network, clients=clients, account=account, instance_id=launch([[app]]), label="cold"
    )
    one = launch([[app, mgmt]])
    scenarios["isolate_1eni"] = measure_one(
        network, clients=clients, account=account, instance_id=one, label="one"
    )
    scenarios["isolate_3eni"] = measure_one(
        network, clients=clients, account=account, instance_id=launch([[app], [db], [mgmt]]), label="three"
    )
    tag(setup, [one], "Release")
    scenarios["release_1eni"] = measure_one(
        network, clients=clients, account=account, instance_id=one, label="release", action="Release"
    )
    return scenarios


# ---- the burst ---------------------------------------------------------------------------------------


def launch_fleet(ec2: EC2Client, account: Account, count: int) -> list[str]:
    """``count`` instances with one ENI and the application's profile, launched in batches."""
    ids: list[str] = []
    while len(ids) < count:
        batch = min(100, count - len(ids))
        reservation = ec2.run_instances(
            ImageId=AMI,
            InstanceType=INSTANCE_TYPE,
            MinCount=batch,
            MaxCount=batch,
            NetworkInterfaces=[
                {"DeviceIndex": 0, "SubnetId": account.subnet_id, "Groups": account.group_ids[:1]}
            ],
            IamInstanceProfile={"Arn": account.app_profile_arn},
            TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "fleet"}]}],
        )
        ids += [i["InstanceId"] for i in reservation["Instances"]]
    return ids


def burst(
    emulator: Emulator, network: SimulatedNetwork, account: Account, count: int, concurrency: int
) -> dict[str, Any]:
    setup = emulator.session().client("ec2")
    began = time.perf_counter()
    instance_ids = launch_fleet(setup, account, count)
    tag(setup, instance_ids, "Isolate")
    setup_s = time.perf_counter() - began
    environments: queue.Queue[AwsClients] = queue.Queue()
    for _ in range(min(concurrency, count)):
        environments.put(hooked_clients(emulator, network))
    lock = threading.Lock()
    in_flight, peak = 0, 0
    statuses: Counter[str] = Counter()
    failures: dict[str, str] = {}
    first_attempt_failures = 0
    durations: list[float] = []

    def invoke(instance_id: str) -> None:
        nonlocal in_flight, peak, first_attempt_failures
        event = event_for(instance_id)
        for attempt in range(1 + ASYNC_RETRIES):
            clients = environments.get()
            with lock:
                in_flight += 1
                peak = max(peak, in_flight)
            started = time.perf_counter()
            error: Exception | None = None
            try:
                with network.invocation(f"burst:{instance_id}"):
                    summary = handle(
                        event, settings=account.settings, clients=clients, function=FUNCTION, sleep=time.sleep
                    )
            except Exception as exc:  # any failure is counted, and retried as Lambda does
                error = exc
            finally:
                with lock:
                    in_flight -= 1
                    durations.append(time.perf_counter() - started)
                environments.put(clients)
            if error is None:
                with lock:
                    statuses[summary["instances"][0]["status"]] += 1
                    failures.pop(instance_id, None)
                return
            detail = str(error)
            if isinstance(error, EventIsolationFailed):
                detail = json.dumps(error.summary["instances"][0].get("failures"))[:300]
            with lock:
                first_attempt_failures += attempt == 0
                failures[instance_id] = f"{type(error).__name__}: {detail}"

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(invoke, instance_ids))
    elapsed = time.perf_counter() - start
    attempts = [a for a in network.attempts if a.invocation.startswith("burst:")]
    isolated = isolated_count(setup, account, set(instance_ids))
    return {
        "instances": count,
        "concurrency": concurrency,
        "setup_s": round(setup_s, 1),
        "completion_s": round(elapsed, 1),
        "invocation_s_median": round(statistics.median(durations), 2) if durations else None,
        "invocation_s_max": round(max(durations), 2) if durations else None,
        "peak_concurrency": peak,
        "statuses": dict(statuses),
        "attempts": len(attempts),
        "throttled_attempts": sum(a.throttled for a in attempts),
        "throttled_by_operation": dict(Counter(a.operation for a in attempts if a.throttled)),
        "failed_first_attempt": first_attempt_failures,
        "failures": len(failures),
        "failure_samples": dict(list(failures.items())[:5]),
        "isolated_afterwards": isolated,
    }


def throttle_bound_s(per_instance: dict[str, int], count: int, bucket: float, rate: float) -> float:
    """The least time EC2's per-action buckets allow for ``count`` isolations (the busiest action)."""
    busiest = max(per_instance.values(), default=0)
    return round(max(0.0, busiest * count - bucket) / rate, 1) if rate else float("inf")


def isolated_count(ec2: EC2Client, account: Account, instance_ids: set[str]) -> int:
    """How many of ``instance_ids`` have every ENI on exactly the isolation group."""
    group = ec2.describe_security_groups(
        Filters=[{"Name": "group-name", "Values": [account.settings.isolation_security_group_name]}]
    )["SecurityGroups"][0]["GroupId"]
    verdict: dict[str, bool] = {}
    for page in ec2.get_paginator("describe_network_interfaces").paginate():
        for eni in page["NetworkInterfaces"]:
            owner = eni.get("Attachment", {}).get("InstanceId")
            if owner in instance_ids:
                on_group = [g["GroupId"] for g in eni.get("Groups", [])] == [group]
                verdict[owner] = verdict.get(owner, True) and on_group
    return sum(verdict.values())


# ---- package and import ------------------------------------------------------------------------------


def package_numbers(runs_wanted: int = 3) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "lambda"), "PYTHONDONTWRITEBYTECODE": "1"}
    runs: list[dict[str, int]] = []
    for _ in range(runs_wanted):
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", "import ec2_isolation.handler"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        cumulative: dict[str, int] = {}
        for line in done.stderr.splitlines():
            found = re.match(r"import time:\s+\d+ \|\s+(\d+) \|\s*(\S+)", line)
            if found:
                cumulative.setdefault(found[2], int(found[1]))
        runs.append(cumulative)
    handler_us = statistics.median(r.get("ec2_isolation.handler", 0) for r in runs)
    boto_us = statistics.median(r.get("boto3", 0) for r in runs)
    return {
        "zip_bytes": ZIP.stat().st_size if ZIP.exists() else None,
        "handler_import_ms": round(handler_us / 1000, 1),
        "boto3_import_ms": round(boto_us / 1000, 1),
        "iam_actions": len(required_actions()),
    }


# ---- the report --------------------------------------------------------------------------------------


ROWS: Final = (
    ("cut_ms", "time to network cut, no wait (ms)"),
    ("cut_with_wait_ms", "time to network cut, with untrack wait (ms)"),
    ("completion_ms", "time to completion, no wait (ms)"),
    ("completion_with_wait_ms", "time to completion, with wait (ms)"),
    ("round_trips_to_cut", "sequential round trips to the cut"),
    ("round_trips_before_wait", "  before the untrack wait starts"),
    ("round_trips_in_wait", "  inside the wait"),
    ("round_trips_after_wait_to_cut", "  after the wait, to the cut"),
    ("round_trips_total", "sequential round trips in all"),
    ("api_calls", "API calls"),
    ("api_calls_mutating", "  of which mutating"),
    ("ec2_mutating_max_per_action", "  most EC2 mutating calls of one action"),
    ("throttled_attempts", "throttled attempts"),
    ("emulator_ms", "emulator time per attempt (ms, beyond latency)"),
)


def report(results: dict[str, Any]) -> str:
    scenarios: dict[str, dict[str, Any]] = results["single"]
    names = list(scenarios)
    width = max(len(label) for _, label in ROWS) + 2
    lines = [
        f"EC2 isolation bench ({results['label']}): latency {results['latency_ms']:g} ms, EC2 mutating "
        f"bucket {results['bucket_size']:g} / {results['refill_rate']:g} per s per action, untrack wait "
        f"{results['untrack_wait_seconds']} s",
        "",
        "".ljust(width) + "".join(n.rjust(18) for n in names),
    ]
    for key, label in ROWS:
        cells = [scenarios[n].get(key) for n in names]
        lines.append(label.ljust(width) + "".join(("-" if c is None else f"{c:g}").rjust(18) for c in cells))
    b = results.get("burst")
    if b:
        lines += [
            "",
            f"burst: {b['instances']} instances, concurrency {b['concurrency']} "
            f"(setup {b['setup_s']} s, not counted)",
            f"  completion {b['completion_s']} s; invocation median {b['invocation_s_median']} s, "
            f"max {b['invocation_s_max']} s; peak concurrency {b['peak_concurrency']}",
            f"  attempts {b['attempts']}, throttled {b['throttled_attempts']} {b['throttled_by_operation']}",
            f"  failed on first attempt {b['failed_first_attempt']}, failures after Lambda's retries "
            f"{b['failures']}; isolated afterwards {b['isolated_afterwards']} / {b['instances']}; "
            f"statuses {b['statuses']}",
        ]
    bound = results["throttle_bound"]
    lines += [
        "",
        "least time EC2's buckets allow (busiest action, 1-ENI isolations): "
        + ", ".join(
            f"{k.removeprefix('burst_').removesuffix('_s')} instances >= {v} s"
            for k, v in bound.items()
            if k.startswith("burst_")
        ),
    ]
    p = results["package"]
    lines += [
        "",
        f"zip {p['zip_bytes']} bytes; handler import {p['handler_import_ms']} ms "
        f"(boto3 {p['boto3_import_ms']} ms of it); {p['iam_actions']} IAM actions",
        f"bench took {results['bench_s']} s",
    ]
    return "\n".join(lines)


@contextlib.contextmanager
def phase(phases: dict[str, float], name: str) -> Iterator[None]:
    """Time a part of the bench run (reported, so that a slow run says where its time went)."""
    began = time.perf_counter()
    try:
        yield
    finally:
        phases[name] = round(time.perf_counter() - began, 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: a burst of 10, a 1 s untrack wait")
    parser.add_argument("--latency-ms", type=float, default=50.0, help="injected per-attempt latency (50)")
    parser.add_argument("--bucket-size", type=float, default=200.0, help="EC2 mutating bucket size (200)")
    parser.add_argument("--refill-rate", type=float, default=5.0, help="EC2 mutating refill per second (5)")
    parser.add_argument("--burst", type=int, default=None, help="instances in the burst (1000; quick: 10)")
    parser.add_argument("--concurrency", type=int, default=50, help="workers = reserved concurrency (50)")
    parser.add_argument("--untrack-wait", type=int, default=None, help="untrack wait seconds (15; quick: 1)")
    parser.add_argument("--label", default="before", help="name of this run in the JSON and table")
    parser.add_argument("--json-out", type=Path, default=DEFAULT_JSON, help=f"(default {DEFAULT_JSON})")
    args = parser.parse_args(argv)
    # The handler's JSON log lines (thousands in a burst) are not the bench's output.
    logging.getLogger("ec2_isolation").addHandler(logging.NullHandler())
    logging.getLogger("ec2_isolation").propagate = False
    count = args.burst if args.burst is not None else (10 if args.quick else 1000)
    wait = args.untrack_wait if args.untrack_wait is not None else (1 if args.quick else 15)
    began = time.perf_counter()
    network = SimulatedNetwork(args.latency_ms / 1000, args.bucket_size, args.refill_rate)
    results: dict[str, Any] = {
        "label": args.label,
        "quick": args.quick,
        "latency_ms": args.latency_ms,
        "bucket_size": args.bucket_size,
        "refill_rate": args.refill_rate,
        "untrack_wait_seconds": wait,
    }
    phases: dict[str, float] = {}
    with phase(phases, "emulator"), Emulator() as emulator:
        with phase(phases, "account"):
            account = prepare_account(emulator.session(), {"untrack_wait_seconds": wait})
        with phase(phases, "single"):
            results["single"] = single_instance_scenarios(emulator, network, account)
        per_action = {
            op.split(":", 1)[1]: n
            for op, n in results["single"]["isolate_1eni"]["calls_by_operation"].items()
            if op.startswith("ec2:") and is_mutating(op.split(":", 1)[1])
        }
        results["throttle_bound"] = {
            "ec2_mutating_calls_per_isolation_by_action": per_action,
            "burst_1000_s": throttle_bound_s(per_action, 1000, args.bucket_size, args.refill_rate),
            f"burst_{count}_s": throttle_bound_s(per_action, count, args.bucket_size, args.refill_rate),
        }
        with phase(phases, "burst"):
            results["burst"] = burst(emulator, network, account, count, args.concurrency) if count else None
    with phase(phases, "package"):
        results["package"] = package_numbers(1 if args.quick else 3)
    results["phases_s"] = phases
    results["bench_s"] = round(time.perf_counter() - began, 1)
    args.json_out.parent.mkdir(parents=True, exist_ok=True)
    args.json_out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(report(results))
    print(f"JSON: {args.json_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
