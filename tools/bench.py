"""Benchmark of the isolation handler (`make bench`): the real handler against a local moto server, with
simulated AWS latency and EC2 API throttling.

    python -m tools.bench                      # everything; prints a table, writes build/bench.json
    python -m tools.bench --quick              # a smoke run (small burst, short wait)
    python -m tools.bench --label after        # tag the numbers (e.g. before/after a change)
    python -m tools.bench --reconcile-only     # only the reconciler's scenarios (tools/bench_reconcile.py)
    python -m tools.bench --package-only       # only the package's figures, after a change to the handler

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
  sleep); sequential round trips on the critical path (the longest chain of attempts each of which
  waited for the one before it, followed through the handler's threads and context copies rather than
  read off the clock: with a sequential handler, every attempt), API calls (total and mutating) and attempts;
  the timeline of every call, with the containment step that made it, goes to the JSON;
- a burst: ``--burst`` tagged instances (default 1000), one event each, handled by ``--concurrency``
  (default 50) workers, each with its own clients (one Lambda execution environment each), the untrack
  wait slept for real (it holds a concurrency slot, as in Lambda); a failed invocation is run again up to
  twice (Lambda's asynchronous retries, here without their 1 and 2 minute delays): completion time, peak
  concurrency, throttled attempts, failures on the first attempt and in the end (must be 0), and that
  every instance's ENIs are on the isolation group afterwards;
- the Lambda zip's size, and the handler's import time in a fresh interpreter (``-X importtime``);
- the reconciler (`tools.bench_reconcile`, each scenario on an emulator of its own): a steady-state round
  over ``--reconcile-steady`` isolated instances (default 100 and 1,000: calls by action, writes, time,
  calls per extra instance) and the catch-up of ``--catch-up`` instances whose events were lost (default
  200, by the module's ``reconcile_maximum_concurrency`` pollers); ``--no-reconcile`` leaves it out,
  ``--reconcile-only`` runs it alone. A run that leaves a part out keeps that part's figures of the
  figures file it rewrites.

Timing is wall-clock against an emulator on this machine: moto's own processing time is included (it is
reported: ``emulator_ms`` is the mean time per attempt beyond the injected latency).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import logging
import os
import platform
import queue
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qs

import boto3
from botocore.awsrequest import AWSResponse, HTTPHeaders

from ec2_isolation.clients import AwsClients
from ec2_isolation.config import Settings
from ec2_isolation.errors import EventIsolationFailed, InstanceIsolationFailed
from ec2_isolation.events import FunctionIdentity
from ec2_isolation.handler import handle
from ec2_isolation.steps import STEP_ACTIONS, required_actions
from tools import benchdocs
from tools.benchdocs import DOCS, FIGURES
from tools.emulator import Emulator
from tools.fleet import AMI, INSTANCE_TYPE, create_instance_profile, launch_instance
from tools.tfcli import FAKE_ACCOUNT_ID, FAKE_REGION

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

ROOT: Final = Path(__file__).resolve().parent.parent
ZIP: Final = ROOT / "lambda" / "dist" / "ec2_isolation.zip"
DEFAULT_JSON: Final = ROOT / "build" / "bench.json"
#: the last commit whose handler made every call up to the transition move one after the other (12 to 13
#: round trips): what `make bench` measures as "before"
BEFORE_REF: Final = "b6868988e11c3a07611df966d860f57910539df4"
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
    #: the attempt this one waited for: the deepest one that had ended in its line of calls (its own
    #: thread and context, and the tasks that line started and waited for) when it was sent
    predecessor: Attempt | None = field(default=None, repr=False, compare=False)
    #: sequential round trips up to and including this one (1 + the predecessor's)
    depth: int = 1

    def waited_for(self, other: Attempt) -> bool:
        """Whether ``other`` is among the attempts this one (through its predecessors) waited for."""
        earlier = self.predecessor
        while earlier is not None:
            if earlier is other:
                return True
            earlier = earlier.predecessor
        return False


def at_once(a: Attempt, b: Attempt) -> bool:
    """Neither attempt waited for the other: they were made at the same time (whatever the scheduler did
    with the threads that made them)."""
    return not a.waited_for(b) and not b.waited_for(a)


def _deeper(a: Attempt | None, b: Attempt | None) -> Attempt | None:
    if a is None or (b is not None and b.depth > a.depth):
        return b
    return a


@dataclass
class _Sink:
    """The deepest attempt that ended in a line of calls or in any line it started."""

    deepest: Attempt | None = None


@dataclass(frozen=True)
class _Line:
    """A line of calls: one thread in one context (a task of ``in_parallel`` runs in a copy of its
    caller's context, in a thread of its own). ``sinks``: its own sink last, its callers' before it."""

    last: Attempt | None
    thread: int
    sinks: tuple[_Sink, ...]


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
        # What an attempt waited for, from the calls' causality rather than their times: a task whose
        # thread the scheduler starts late must not look like a round trip after its siblings.
        self._line: ContextVar[_Line | None] = ContextVar("bench_line", default=None)

    def install(self, session: boto3.session.Session) -> boto3.session.Session:
        """Hook ``session``: its clients (created afterwards) go through this network."""
        # botocore's hooks may answer (the throttle does); its stubs type them as returning None.
        session.events.register("before-send", self._before_send)  # type: ignore[arg-type]
        session.events.register("response-received", self._response_received)
        return session

    def hook(self, client: Any) -> Any:
        """Hook one client that exists already (a unit test's, on moto in-process): its attempts go
        through this network, the latency before any other before-send handler (moto's answer)."""
        client.meta.events.register_first("before-send", self._before_send)
        client.meta.events.register("response-received", self._response_received)
        return client

    @contextlib.contextmanager
    def invocation(self, label: str) -> Iterator[None]:
        """Attribute the attempts made inside the block (by this thread, and the threads it starts with a
        copy of its context) to ``label``."""
        token, line = self._label.set(label), self._line.set(None)
        try:
            yield
        finally:
            self._line.reset(line)
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
        line, thread = self._line.get(), threading.get_ident()
        if line is None or line.thread != thread:
            # the first call of a line: of the invocation, or of a task started by the line it continues
            line = _Line(line.last if line else None, thread, (line.sinks if line else ()) + (_Sink(),))
        with self._lock:
            attempt.predecessor = _deeper(line.last, line.sinks[-1].deepest)
        attempt.depth = 1 + (attempt.predecessor.depth if attempt.predecessor else 0)
        self._local.attempt, self._local.line = attempt, line
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
        line: _Line = self._local.line
        self._line.set(_Line(attempt, line.thread, line.sinks))
        with self._lock:
            for sink in line.sinks:
                sink.deepest = _deeper(sink.deepest, attempt)
        if exception is not None:
            attempt.error = type(exception).__name__
        elif isinstance(parsed_response, dict):
            attempt.error = str(parsed_response.get("Error", {}).get("Code", ""))
        with self._lock:
            self.attempts.append(attempt)


def critical_path(attempts: list[Attempt]) -> int:
    """The longest chain of ``attempts`` each of which waited for the one before it: the sequential round
    trips (for a sequential handler, all of them; calls made at the same time count once). Causal, not
    timed: a thread started late under load does not add a round trip."""
    inside = {id(a) for a in attempts}
    longest = 0
    for attempt in attempts:
        length, earlier = 1, attempt.predecessor
        while earlier is not None and id(earlier) in inside:
            length, earlier = length + 1, earlier.predecessor
        longest = max(longest, length)
    return longest


def is_eni_move(attempt: Attempt) -> bool:
    """A ModifyNetworkInterfaceAttribute that puts an ENI on groups (not a connection-tracking change)."""
    return attempt.operation == "ModifyNetworkInterfaceAttribute" and "SecurityGroupId.1" in attempt.params


def first_eni_move(attempts: list[Attempt]) -> Attempt | None:
    """The first attempt that moves an ENI (onto the transition group, or without one the cut): the one
    that waited for the fewest round trips, the earliest of those."""
    moves = [a for a in attempts if is_eni_move(a)]
    return min(moves, key=lambda a: (a.depth, a.start)) if moves else None


def round_trips_before_first_move(attempts: list[Attempt]) -> int | None:
    """Sequential round trips the first ENI move waited for (the record's write among them); not the calls
    that merely ended before it started: those running beside it do not delay it."""
    first = first_eni_move(attempts)
    if first is None:
        return None
    return first.depth - 1


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
    first = first_eni_move(attempts)
    if action == "Isolate" and first is not None:
        before = round_trips_before_first_move(attempts)
        measured["round_trips_before_first_move"] = before
        measured["first_move_ms"] = ms(first.start - started)
        measured["first_move_ms_at_latency"] = round((before or 0) * network.latency * 1000, 1)
    if action == "Isolate" and cuts:
        cut_at = max(a.end for a in cuts)
        measured["enis"] = len(cuts)
        measured["cut_ms"] = ms(cut_at - started)
        measured["cut_with_wait_ms"] = ms(cut_at - started + wait)
        measured["first_eni_cut_ms"] = ms(min(a.end for a in cuts) - started)
        measured["round_trips_to_cut"] = max(a.depth for a in cuts)
        measured.update(wait_phases(attempts, cut_at, group))
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


def wait_phases(attempts: list[Attempt], cut_at: float, isolation_group: str) -> dict[str, int]:
    """Round trips before the untrack wait starts (up to the last ENI move onto the transition group),
    inside the wait (the steps that run while it lasts), and after it up to the cut (its ENI read, the
    moves). With the wait of 15 s, the cut comes at (before + after) round trips + 15 s: the steps inside
    the wait are off the critical path while they take less than the wait."""
    moves = [a for a in attempts if is_eni_move(a)]
    transition = [a for a in moves if a.params.get("SecurityGroupId.1") != isolation_group]
    cut = [a for a in moves if a.params.get("SecurityGroupId.1") == isolation_group]
    if not transition or not cut:
        return {}
    wait_from = max(a.end for a in transition)
    # the cut starts with its read of the ENIs: the last move_interfaces read that began before its moves
    first_cut = min(a.start for a in cut)
    reads = [a for a in attempts if a.step in MOVE_STEPS and not is_eni_move(a) and a.end <= first_cut]
    resumed = max((a.start for a in reads if a.start >= wait_from), default=first_cut)
    return {
        "round_trips_before_wait": max(a.depth for a in transition),
        "round_trips_in_wait": critical_path(
            [a for a in attempts if wait_from <= a.start and a.end <= resumed]
        ),
        "round_trips_after_wait_to_cut": critical_path(
            [a for a in attempts if resumed <= a.start and a.end <= cut_at]
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

    def launch(enis: list[list[str]], subnet_id: str = account.subnet_id) -> str:
        instance_id = launch_instance(
            setup,
            subnet_id=subnet_id,
            enis=enis,
            name="web",
            profile_arn=account.app_profile_arn,
            extra_volumes=1,
        )
        tag(setup, [instance_id], "Isolate")
        return instance_id

    scenarios: dict[str, Any] = {}
    # The execution environment's first invocation (its clients built, botocore's models loaded), in a
    # VPC of its own: the Lambda cold start, apart from the first isolation in the measured VPC.
    other_vpc = setup.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    other_subnet = setup.create_subnet(VpcId=other_vpc, CidrBlock="10.1.0.0/17")["Subnet"]["SubnetId"]
    other_group = setup.create_security_group(GroupName="app", Description="app", VpcId=other_vpc)["GroupId"]
    scenarios["isolate_1eni_cold_start"] = measure_one(
        network,
        clients=clients,
        account=account,
        instance_id=launch([[other_group]], other_subnet),
        label="cold-start",
    )
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
    """``count`` instances with one ENI and the application's profile (each one associated with it),
    launched in batches."""
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
    associate_each(ec2, ids, account.app_profile_arn)
    return ids


def associate_each(ec2: EC2Client, instance_ids: list[str], profile_arn: str) -> None:
    """Associate ``profile_arn`` with each of ``instance_ids`` that has no association: EC2 associates the
    profile given to RunInstances with every instance it launches, moto with the first of the reservation
    only (the others would be isolated without the profile swap and the credential revocation)."""
    associated: set[str] = set()
    paginator = ec2.get_paginator("describe_iam_instance_profile_associations")
    for start in range(0, len(instance_ids), 200):
        pages = paginator.paginate(
            Filters=[
                {"Name": "instance-id", "Values": instance_ids[start : start + 200]},
                {"Name": "state", "Values": ["associating", "associated"]},
            ]
        )
        associated |= {a["InstanceId"] for page in pages for a in page["IamInstanceProfileAssociations"]}
    for instance_id in instance_ids:
        if instance_id not in associated:
            ec2.associate_iam_instance_profile(
                InstanceId=instance_id, IamInstanceProfile={"Arn": profile_arn}
            )


@dataclass
class FailedAttempt:
    """One failed invocation of the burst: which instance, which attempt (0: the first), and why."""

    instance_id: str
    attempt: int
    step: str
    error: str
    message: str

    @property
    def cause(self) -> str:
        return failure_cause(self.step, self.error, self.message)

    def as_dict(self) -> dict[str, Any]:
        return {
            "instance_id": self.instance_id,
            "attempt": self.attempt,
            "step": self.step,
            "error": self.error,
            "message": self.message[:500],
            "cause": self.cause,
        }


#: "An error occurred (Code) when calling the Operation operation": botocore's ClientError message
_CLIENT_ERROR = re.compile(
    r"An error occurred \((?P<code>[^)]+)\) when calling the (?P<operation>\w+) operation"
)
#: resource ids, ARNs and numbers: what differs between two failures of one cause
_VARYING = re.compile(r"arn:[^\s'\"]+|\b[a-z]+-[0-9a-f]{8,17}\b|\d+(\.\d+)?")


#: the title of an HTML error page (what moto's server answers when it fails internally)
_TITLE = re.compile(r"<title>(?P<title>[^<]+)</title>")


def failure_cause(step: str, error: str, message: str) -> str:
    """What a failure is, without what varies between instances: the step, the error type and, for an
    AWS error, its code and operation (``snapshots: ClientError RequestLimitExceeded (CreateSnapshots)``);
    for an answer that is an HTML error page, its title."""
    found = _CLIENT_ERROR.search(message)
    if found:
        return f"{step}: {error} {found['code']} ({found['operation']})"
    first_line = _VARYING.sub("#", message.splitlines()[0] if message else "")[:120]
    page = _TITLE.search(message)
    return (
        f"{step}: {error}"
        + (f": {first_line}" if first_line else "")
        + (f" [the answer: an HTML page, {page['title']}]" if page else "")
    )


#: a Python traceback in the emulator's log: its innermost frame and the exception it ends with
_TRACEBACK = re.compile(
    r"Traceback \(most recent call last\):\n"
    r"(?P<frames>(?:[ \t]+.*\n)+)"
    r"(?P<exception>[A-Za-z_][\w.]*(?::[^\n]*)?)"
)
_FRAME = re.compile(r'File "(?P<path>[^"]+)", line \d+, in (?P<function>\S+)')


def emulator_errors(log: str) -> dict[str, int]:
    """The exceptions moto's server raised (and answered HTTP 500 for), counted by exception and where
    (the innermost moto frame), from its log."""
    found: Counter[str] = Counter()
    for traceback in _TRACEBACK.finditer(log):
        frames = [f for f in _FRAME.finditer(traceback["frames"]) if "/moto/" in f["path"]]
        where = ""
        if frames:
            path = frames[-1]["path"]
            where = f" (in {path[path.rindex('/moto/') + 1 :]}: {frames[-1]['function']})"
        found[_VARYING.sub("#", traceback["exception"].strip())[:160] + where] += 1
    return dict(found.most_common())


def failed_attempts(instance_id: str, attempt: int, error: BaseException) -> list[FailedAttempt]:
    """Every failure of one failed invocation: one per failed step of the instance's result (an isolation
    that ran: an event's, or a reconciler converge's), or the exception itself with the handler's function
    it came from (one that did not)."""
    if isinstance(error, InstanceIsolationFailed) and error.failures:
        return [
            FailedAttempt(instance_id, attempt, step, *_split_error(str(why)))
            for step, why in error.failures.items()
        ]
    if isinstance(error, EventIsolationFailed):
        instances = error.summary.get("instances") or [{}]
        failures = instances[0].get("failures") or {}
        if failures:
            return [
                FailedAttempt(instance_id, attempt, step, *_split_error(str(why)))
                for step, why in failures.items()
            ]
        reason = str(instances[0].get("reason") or instances[0].get("error") or error)
        return [FailedAttempt(instance_id, attempt, "-", *_split_error(reason))]
    return [FailedAttempt(instance_id, attempt, _raised_in(error), type(error).__name__, str(error))]


def _split_error(why: str) -> tuple[str, str]:
    """``"ClientError: An error occurred ..."`` (a step's failure, `Outcome.run`) -> type, message."""
    head, sep, rest = why.partition(": ")
    if sep and re.fullmatch(r"[A-Z]\w*", head):
        return head, rest
    return "-", why


def _raised_in(error: BaseException) -> str:
    """The innermost function of the handler's package in the traceback (where it was raised)."""
    where = "-"
    tb = error.__traceback__
    while tb is not None:
        if tb.tb_frame.f_globals.get("__name__", "").startswith("ec2_isolation"):
            where = tb.tb_frame.f_code.co_name
        tb = tb.tb_next
    return where


class RaisedIn(logging.Handler):
    """Where the handler's errors outside any step were raised: the handler logs them with their
    traceback ("isolate failed"), and its result names only the action. By instance id, the last one."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.where: dict[str, str] = {}
        self._lock_where = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        if not record.exc_info or record.exc_info[1] is None or not record.getMessage().endswith(" failed"):
            return
        instance_id = (getattr(record, "context", None) or {}).get("instance_id")
        if instance_id:
            with self._lock_where:
                self.where[str(instance_id)] = _raised_in(record.exc_info[1])

    def step(self, instance_id: str, step: str) -> str:
        """``step``, with where it was raised when it is the whole action (an error outside the steps)."""
        with self._lock_where:
            where = self.where.get(instance_id)
        return f"{step} (in {where})" if step in ("isolation", "release") and where else step


def causes(failures: list[FailedAttempt]) -> dict[str, int]:
    """Failures counted by cause, most frequent first."""
    return dict(Counter(f.cause for f in failures).most_common())


def _cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU time of process ``pid`` so far (Linux /proc), or None."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _machine_jiffies() -> tuple[int, int] | None:
    """(busy, total) jiffies of all cores so far (every process of the machine, not only the bench's)."""
    try:
        first = Path("/proc/stat").read_text().splitlines()[0].split()
    except OSError:
        return None
    values = [int(v) for v in first[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return sum(values) - idle, sum(values)


@dataclass
class CpuSample:
    """CPU used so far by the emulator, by this process (the handler's threads) and by the machine."""

    wall: float
    emulator: float | None
    bench: float
    machine: tuple[int, int] | None

    @classmethod
    def take(cls, emulator_pid: int | None) -> CpuSample:
        return cls(time.perf_counter(), _cpu_seconds(emulator_pid), time.process_time(), _machine_jiffies())

    def since(self, earlier: CpuSample) -> dict[str, Any]:
        wall = self.wall - earlier.wall
        used: dict[str, Any] = {
            "emulator_cpu_cores": None
            if self.emulator is None or earlier.emulator is None
            else round((self.emulator - earlier.emulator) / wall, 2),
            "bench_cpu_cores": round((self.bench - earlier.bench) / wall, 2),
            "machine_busy_share": None,
        }
        if self.machine and earlier.machine and self.machine[1] > earlier.machine[1]:
            busy = self.machine[0] - earlier.machine[0]
            used["machine_busy_share"] = round(busy / (self.machine[1] - earlier.machine[1]), 2)
        return used


@dataclass
class _Burst:
    """The burst's Lambda: execution environments (clients), and what the invocations did."""

    network: SimulatedNetwork
    account: Account
    environments: queue.Queue[AwsClients]
    lock: threading.Lock = field(default_factory=threading.Lock)
    in_flight: int = 0
    peak: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    #: the last failure of each instance whose retries have not succeeded (yet)
    unresolved: dict[str, str] = field(default_factory=dict)
    #: every failed step of every failed invocation, kept when a retry then succeeds
    failed: list[FailedAttempt] = field(default_factory=list)
    first_attempt_failures: int = 0
    durations: list[float] = field(default_factory=list)
    raised_in: RaisedIn = field(default_factory=RaisedIn)

    def invoke(self, instance_id: str) -> None:
        """One event, and Lambda's asynchronous retries of it while it fails."""
        event = event_for(instance_id)
        for attempt in range(1 + ASYNC_RETRIES):
            if self._attempt(instance_id, event, attempt):
                return

    def _attempt(self, instance_id: str, event: dict[str, Any], attempt: int) -> bool:
        clients = self.environments.get()
        with self.lock:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        started = time.perf_counter()
        error: Exception | None = None
        try:
            with self.network.invocation(f"burst:{instance_id}"):
                summary = handle(
                    event,
                    settings=self.account.settings,
                    clients=clients,
                    function=FUNCTION,
                    sleep=time.sleep,
                )
        except Exception as exc:  # any failure is counted, and retried as Lambda does
            error = exc
        finally:
            with self.lock:
                self.in_flight -= 1
                self.durations.append(time.perf_counter() - started)
            self.environments.put(clients)
        with self.lock:
            if error is None:
                self.statuses[summary["instances"][0]["status"]] += 1
                self.unresolved.pop(instance_id, None)
                return True
            detail = str(error)
            if isinstance(error, EventIsolationFailed):
                detail = json.dumps(error.summary["instances"][0].get("failures"))[:300]
            self.first_attempt_failures += attempt == 0
            self.unresolved[instance_id] = f"{type(error).__name__}: {detail}"
            for failure in failed_attempts(instance_id, attempt, error):
                failure.step = self.raised_in.step(instance_id, failure.step)
                self.failed.append(failure)
        return False


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
    run = _Burst(network, account, environments)
    handler_log = logging.getLogger("ec2_isolation")
    level = handler_log.level
    handler_log.addHandler(run.raised_in)
    handler_log.setLevel(min(level or logging.ERROR, logging.ERROR))
    log_from = emulator.log_path.stat().st_size if emulator.log_path.exists() else 0
    cpu_before = CpuSample.take(emulator.pid)
    load_before = os.getloadavg()
    start = time.perf_counter()
    try:
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            list(pool.map(run.invoke, instance_ids))
    finally:
        handler_log.removeHandler(run.raised_in)
        handler_log.setLevel(level)
    elapsed = time.perf_counter() - start
    cpu = CpuSample.take(emulator.pid).since(cpu_before)
    attempts = [a for a in network.attempts if a.invocation.startswith("burst:")]
    answered = [a for a in attempts if not a.throttled]
    durations = run.durations
    return {
        "instances": count,
        "concurrency": concurrency,
        "setup_s": round(setup_s, 1),
        "completion_s": round(elapsed, 1),
        "invocation_s_median": round(statistics.median(durations), 2) if durations else None,
        "invocation_s_max": round(max(durations), 2) if durations else None,
        "peak_concurrency": run.peak,
        "statuses": dict(run.statuses),
        "attempts": len(attempts),
        "throttled_attempts": sum(a.throttled for a in attempts),
        "throttled_by_operation": dict(Counter(a.operation for a in attempts if a.throttled)),
        "error_answers_by_code": dict(Counter(a.error for a in answered if a.error).most_common()),
        "emulator_ms_per_attempt": ms(statistics.fmean(a.end - a.start - network.latency for a in answered))
        if answered
        else None,
        **_failure_figures(run.failed, run.first_attempt_failures, run.unresolved),
        "emulator_errors": emulator_errors(_read_from(emulator.log_path, log_from)),
        "isolated_afterwards": isolated_count(setup, account, set(instance_ids)),
        "cpu": {**cpu, "load_average_before": [round(x, 2) for x in load_before]},
    }


def _read_from(path: Path, offset: int) -> str:
    try:
        with path.open("rb") as log:
            log.seek(offset)
            return log.read().decode(errors="replace")
    except OSError:
        return ""


def _failure_figures(failed: list[FailedAttempt], first: int, unresolved: dict[str, str]) -> dict[str, Any]:
    """The burst's failures: how many invocations failed their first attempt, the cause of every failed
    step of those (kept also when Lambda's retry then succeeds), the retries' own, and what is left."""
    first_attempt = [f for f in failed if f.attempt == 0]
    return {
        "failed_first_attempt": first,
        "first_attempt_failure_causes": causes(first_attempt),
        "first_attempt_failures": [f.as_dict() for f in first_attempt],
        "retry_failure_causes": causes([f for f in failed if f.attempt > 0]),
        "failures": len(unresolved),
        "failure_samples": dict(list(unresolved.items())[:5]),
    }


def burst_bound(results: dict[str, Any]) -> dict[str, Any]:
    """What bounds the burst on this machine, from what was measured: the least time EC2's (simulated)
    buckets allow; the least time the workers allow (every invocation as fast as one alone); the least
    time the emulator allows (moto answers in one Python process, so on one core at most: the CPU time it
    spent per attempt, times the attempts); and how busy the machine's cores were (it is shared)."""
    b = results["burst"]
    alone = results["single"]["isolate_1eni"]
    waves = -(-b["instances"] // b["concurrency"])
    cpu = b["cpu"]
    emulator_cores = cpu.get("emulator_cpu_cores")
    emulator_cpu_ms = (
        round(emulator_cores * b["completion_s"] * 1000 / b["attempts"], 1)
        if emulator_cores and b["attempts"]
        else None
    )
    bounds = {
        "throttling_s": results["throttle_bound"].get(f"burst_{b['instances']}_s") or 0.0,
        "workers_s": round(waves * alone["completion_with_wait_ms"] / 1000, 1),
        "emulator_s": round(emulator_cpu_ms * b["attempts"] / 1000, 1) if emulator_cpu_ms else 0.0,
    }
    by = max(bounds, key=lambda k: bounds[k]).removesuffix("_s")
    cores = (results.get("machine") or {}).get("cores") or os.cpu_count() or 1
    ours = (emulator_cores or 0) + cpu["bench_cpu_cores"]
    busy = cpu.get("machine_busy_share")
    return {
        "by": by,
        # the cores were busy, and not with the bench: the machine's other processes took them
        "shared": bool(busy is not None and busy >= 0.85 and ours < 0.6 * cores),
        "completion_s": b["completion_s"],
        **bounds,
        "attempts_per_s": round(b["attempts"] / b["completion_s"], 1) if b["completion_s"] else None,
        "emulator_cpu_ms_per_attempt": emulator_cpu_ms,
        "throttled_share": round(b["throttled_attempts"] / b["attempts"], 3) if b["attempts"] else 0.0,
        "emulator_ms_per_attempt": b.get("emulator_ms_per_attempt"),
        "emulator_ms_per_attempt_alone": alone.get("emulator_ms"),
        **{k: v for k, v in cpu.items() if k != "load_average_before"},
        "cores": cores,
        "load_average_before": cpu.get("load_average_before"),
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


def _fresh_package() -> bytes:
    """The Lambda zip lambda/build.py builds from the sources now (in memory: lambda/dist is untouched)."""
    spec = importlib.util.spec_from_file_location("ec2_isolation_build", ROOT / "lambda" / "build.py")
    if spec is None or spec.loader is None:
        raise RuntimeError("lambda/build.py cannot be loaded")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fresh: bytes = module.build()
    return fresh


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
    fresh = _fresh_package()
    return {
        # the package of the sources the bench ran (lambda/build.py is reproducible), and the committed one
        "zip_bytes": len(fresh),
        "zip_committed_bytes": ZIP.stat().st_size if ZIP.exists() else None,
        "zip_committed_is_current": ZIP.exists() and ZIP.read_bytes() == fresh,
        "handler_import_ms": round(handler_us / 1000, 1),
        "boto3_import_ms": round(boto_us / 1000, 1),
        "iam_actions": len(required_actions()),
    }


# ---- the report --------------------------------------------------------------------------------------


ROWS: Final = (
    ("round_trips_before_first_move", "sequential round trips before the first ENI move"),
    ("first_move_ms_at_latency", "  that, in ms at the injected latency"),
    ("first_move_ms", "  time to the first ENI move, measured (ms)"),
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


def _table(scenarios: dict[str, dict[str, Any]], width: int) -> list[str]:
    names = list(scenarios)
    lines = ["".ljust(width) + "".join(n.rjust(18) for n in names)]
    for key, label in ROWS:
        cells = [scenarios[n].get(key) for n in names]
        lines.append(label.ljust(width) + "".join(("-" if c is None else f"{c:g}").rjust(18) for c in cells))
    return lines


def _before_after(results: dict[str, Any]) -> list[str]:
    before = results.get("before") or {}
    if "single" not in before:
        return ["", f"before: not measured ({before.get('error', 'no --before-ref')})"]
    lines = [
        "",
        f"round trips before the first ENI move (ms at {results['latency_ms']:g} ms a call), before "
        f"({before['commit'][:7]}) -> after:",
    ]
    for name, after in results["single"].items():
        old = before["single"].get(name, {})
        if after.get("round_trips_before_first_move") is None:
            continue
        lines.append(
            f"  {name:<22} {old.get('round_trips_before_first_move', '-')} "
            f"({old.get('first_move_ms_at_latency', '-')} ms) -> {after['round_trips_before_first_move']} "
            f"({after['first_move_ms_at_latency']} ms); measured {old.get('first_move_ms', '-')} ms -> "
            f"{after['first_move_ms']} ms"
        )
    return lines


def _burst_lines(b: dict[str, Any], bound: dict[str, Any] | None) -> list[str]:
    lines = [
        "",
        f"burst: {b['instances']} instances, concurrency {b['concurrency']} "
        f"(setup {b['setup_s']} s, not counted)",
        f"  completion {b['completion_s']} s; invocation median {b['invocation_s_median']} s, "
        f"max {b['invocation_s_max']} s; peak concurrency {b['peak_concurrency']}",
        f"  attempts {b['attempts']}, throttled {b['throttled_attempts']} {b['throttled_by_operation']}; "
        f"error answers {b['error_answers_by_code']}",
        f"  failed on first attempt {b['failed_first_attempt']}, failures after Lambda's retries "
        f"{b['failures']}; isolated afterwards {b['isolated_afterwards']} / {b['instances']}; "
        f"statuses {b['statuses']}",
    ]
    if b.get("emulator_errors"):
        lines.append("  the emulator's own errors (it answered HTTP 500):")
        lines += [f"    {count:>4}  {error}" for error, count in b["emulator_errors"].items()]
    if b["first_attempt_failure_causes"]:
        lines.append("  first-attempt failures by cause (each failed step of each failed invocation):")
        lines += [f"    {count:>4}  {cause}" for cause, count in b["first_attempt_failure_causes"].items()]
        lines.append("  every first-attempt failure:")
        lines += [
            f"    {f['instance_id']}  {f['step']}  {f['error']}: {f['message'][:160]}"
            for f in b["first_attempt_failures"]
        ]
    if b["retry_failure_causes"]:
        lines.append("  failures of Lambda's retries by cause:")
        lines += [f"    {count:>4}  {cause}" for cause, count in b["retry_failure_causes"].items()]
    if bound:
        lines.append(
            f"  bound by: {bound['by']}{' (machine shared)' if bound['shared'] else ''} (least time: "
            f"throttling {bound['throttling_s']} s, workers {bound['workers_s']} s, emulator on one core "
            f"{bound['emulator_s']} s; machine busy {bound['machine_busy_share']}, moto "
            f"{bound['emulator_cpu_cores']} cores, bench {bound['bench_cpu_cores']} cores; emulator "
            f"{bound['emulator_ms_per_attempt']} ms per attempt vs {bound['emulator_ms_per_attempt_alone']} "
            f"alone; load average before {bound['load_average_before']})"
        )
    return lines


def report(results: dict[str, Any], reconciler: Sequence[str] = ()) -> str:
    """The printed table; ``reconciler``: the reconciler's lines (`tools.bench_reconcile.report_lines`)."""
    width = max(len(label) for _, label in ROWS) + 2
    lines = [
        f"EC2 isolation bench ({results['label']}): latency {results['latency_ms']:g} ms, EC2 mutating "
        f"bucket {results['bucket_size']:g} / {results['refill_rate']:g} per s per action, untrack wait "
        f"{results['untrack_wait_seconds']} s",
    ]
    if "single" in results:
        lines += ["", *_table(results["single"], width)]
        before = results.get("before") or {}
        if "single" in before:
            lines += ["", f"before ({before['commit'][:7]}):", *_table(before["single"], width)]
        lines += _before_after(results)
    if results.get("burst"):
        lines += _burst_lines(results["burst"], results.get("burst_bound"))
    bound = results.get("throttle_bound")
    if bound:
        lines += [
            "",
            "least time EC2's buckets allow (busiest action, 1-ENI isolations): "
            + ", ".join(
                f"{k.removeprefix('burst_').removesuffix('_s')} instances >= {v} s"
                for k, v in bound.items()
                if k.startswith("burst_")
            ),
        ]
    p = results.get("package")
    if p:
        lines += [
            "",
            f"zip {p['zip_bytes']} bytes built from these sources (committed zip {p['zip_committed_bytes']} "
            f"bytes, {'current' if p['zip_committed_is_current'] else 'stale'}); "
            f"handler import {p['handler_import_ms']} ms "
            f"(boto3 {p['boto3_import_ms']} ms of it); {p['iam_actions']} IAM actions",
        ]
    lines += reconciler
    m = results.get("machine")
    if m:
        lines.append(
            f"machine: {m['cores']} cores ({m['cpu']}), {m['memory_gib']} GiB, {m['platform']}, Python "
            f"{m['python']}, moto {m['moto']}, boto3 {m['boto3']}, botocore {m['botocore']}"
        )
    lines.append(f"bench took {results['bench_s']} s")
    return "\n".join(lines)


@contextlib.contextmanager
def phase(phases: dict[str, float], name: str) -> Iterator[None]:
    """Time a part of the bench run (reported, so that a slow run says where its time went)."""
    began = time.perf_counter()
    try:
        yield
    finally:
        phases[name] = round(time.perf_counter() - began, 1)


# ---- the machine, the old handler, the committed figures ----------------------------------------------


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    memory_kib = cpu = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        meminfo = Path("/proc/meminfo").read_text()
        memory_kib = int(re.search(r"MemTotal:\s+(\d+)", meminfo)[1])  # type: ignore[index]
    with contextlib.suppress(OSError, TypeError):
        cpu = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())[1].strip()  # type: ignore[index]
    return {
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu": cpu or platform.processor() or "-",
        "memory_gib": round(memory_kib / 1024**2, 1) if memory_kib else None,
        "platform": f"{platform.system()} {platform.release()} {platform.machine()}",
        "python": platform.python_version(),
        "moto": version("moto"),
        "boto3": version("boto3"),
        "botocore": version("botocore"),
    }


def _git(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, check=False)  # noqa: S603, S607


def measure_before(ref: str, args: argparse.Namespace, wait: int) -> dict[str, Any]:
    """The single-instance scenarios of the handler of commit ``ref`` (its lambda/ec2_isolation, taken with
    ``git archive``), run by this bench in a subprocess on an emulator of its own. Never fails the run:
    what went wrong is the result."""
    resolved = _git("rev-parse", "--verify", f"{ref}^{{commit}}")
    if resolved.returncode:
        return {"ref": ref, "error": f"git rev-parse: {resolved.stderr.decode().strip()}"}
    commit = resolved.stdout.decode().strip()
    with tempfile.TemporaryDirectory(prefix="bench-before-") as tmp:
        archive = _git("archive", "--format=tar", commit, "lambda/ec2_isolation")
        if archive.returncode:
            return {"ref": ref, "commit": commit, "error": f"git archive: {archive.stderr.decode().strip()}"}
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(tmp, filter="data")
        out = Path(tmp) / "before.json"
        command = [
            sys.executable,
            "-m",
            "tools.bench",
            "--single-only",
            *(["--quick"] if args.quick else []),
            "--label",
            f"before {commit[:7]}",
            "--latency-ms",
            str(args.latency_ms),
            "--bucket-size",
            str(args.bucket_size),
            "--refill-rate",
            str(args.refill_rate),
            "--untrack-wait",
            str(wait),
            "--json-out",
            str(out),
        ]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(tmp) / "lambda"), str(ROOT)])}
        done = subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
            command, cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=1800
        )
        if done.returncode:
            return {"ref": ref, "commit": commit, "error": done.stderr[-1000:]}
        measured = json.loads(out.read_text(encoding="utf-8"))
    return {"ref": ref, "commit": commit, "handler": measured.get("handler"), "single": measured["single"]}


def figures(results: dict[str, Any]) -> dict[str, Any]:
    """What the docs are generated from (docs/bench.json): the results without the call timelines."""

    def without_timelines(scenarios: dict[str, Any]) -> dict[str, Any]:
        return {name: {k: v for k, v in s.items() if k != "timeline"} for name, s in scenarios.items()}

    kept = {k: v for k, v in results.items() if k not in ("single", "before")}
    # where the handlers were imported from, without this machine's paths
    kept["handler"] = "lambda/ec2_isolation"
    if "single" in results:
        kept["single"] = without_timelines(results["single"])
    before = results.get("before")
    if before:
        kept["before"] = {
            **before,
            **({"handler": f"lambda/ec2_isolation of {before['commit'][:7]}"} if "handler" in before else {}),
            **({"single": without_timelines(before["single"])} if "single" in before else {}),
        }
    return kept


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: a burst of 10, a 1 s untrack wait")
    parser.add_argument("--latency-ms", type=float, default=50.0, help="injected per-attempt latency (50)")
    parser.add_argument("--bucket-size", type=float, default=200.0, help="EC2 mutating bucket size (200)")
    parser.add_argument("--refill-rate", type=float, default=5.0, help="EC2 mutating refill per second (5)")
    parser.add_argument("--burst", type=int, default=None, help="instances in the burst (1000; quick: 10)")
    parser.add_argument("--concurrency", type=int, default=50, help="workers = reserved concurrency (50)")
    parser.add_argument("--untrack-wait", type=int, default=None, help="untrack wait seconds (15; quick: 1)")
    parser.add_argument("--label", default="after", help="name of this run in the JSON and table (after)")
    parser.add_argument("--json-out", type=Path, default=DEFAULT_JSON, help=f"(default {DEFAULT_JSON})")
    parser.add_argument(
        "--before-ref",
        default=BEFORE_REF,
        help=f"measure the handler of this commit too, as 'before' ('' for none; default {BEFORE_REF[:7]})",
    )
    parser.add_argument(
        "--figures-out",
        type=Path,
        default=None,
        help=f"write the figures there and regenerate --docs from them (default for a run that is neither "
        f"--quick nor --single-only: {FIGURES.relative_to(ROOT)})",
    )
    parser.add_argument("--no-figures", action="store_true", help="write no figures, leave the docs alone")
    parser.add_argument("--docs", type=Path, default=DOCS, help=f"(default {DOCS.relative_to(ROOT)})")
    parser.add_argument("--single-only", action="store_true", help="only the single-instance scenarios")
    parser.add_argument(
        "--reconcile-steady",
        type=sizes,
        default=None,
        help="isolated instances of the reconciler's steady-state rounds (100,1000; quick: 3,6)",
    )
    parser.add_argument(
        "--catch-up",
        type=int,
        default=None,
        help="instances whose events were lost, for the reconciler to catch up (200; quick: 3; 0: none)",
    )
    parser.add_argument(
        "--reconcile-concurrency",
        type=int,
        default=None,
        help="pollers of the catch-up (default: the module's reconcile_maximum_concurrency)",
    )
    reconciler = parser.add_mutually_exclusive_group()
    reconciler.add_argument("--no-reconcile", action="store_true", help="leave the reconciler out")
    reconciler.add_argument("--reconcile-only", action="store_true", help="only the reconciler's scenarios")
    reconciler.add_argument(
        "--package-only",
        action="store_true",
        help="only the package's figures (the zip, the import time), into the figures file: after a change "
        "to the handler's sources (seconds)",
    )
    args = parser.parse_args(argv)
    if args.package_only and (args.quick or args.single_only or args.no_figures):
        parser.error(
            "--package-only updates the figures file: not with --quick, --single-only or --no-figures"
        )
    return args


def sizes(text: str) -> list[int]:
    """``100,1000`` -> [100, 1000] (``--reconcile-steady``)."""
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of whole numbers: {text!r}") from exc
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"instance counts must be 1 or more: {text!r}")
    return values


def figures_target(args: argparse.Namespace) -> Path | None:
    """Where this run writes the figures the docs are generated from (None: nowhere)."""
    if args.no_figures:
        return None
    if args.figures_out is not None:
        return Path(args.figures_out)
    return None if args.quick or args.single_only else FIGURES


def merged_figures(
    new: dict[str, Any], previous: dict[str, Any] | None, args: argparse.Namespace
) -> dict[str, Any]:
    """The figures a run writes: what it measured and, from the figures file it rewrites, the part it
    left out (a --reconcile-only run keeps the handler's figures, a --no-reconcile run the reconciler's);
    each part names the machine and the run it was measured in."""
    if args.reconcile_only:
        return {**(previous or {}), "reconcile": new["reconcile"]}
    if args.no_reconcile and previous and previous.get("reconcile"):
        return {**new, "reconcile": previous["reconcile"]}
    return new


def package_only(args: argparse.Namespace) -> int:
    """Measure the package alone and put its figures into the figures file (the other parts as they
    were, each with the run it was measured in), then regenerate the docs from it."""
    target = figures_target(args)
    assert target is not None  # parse_args refuses --no-figures with --package-only
    if not target.is_file():
        print(f"bench: {target} does not exist: a full `make bench` writes it first", file=sys.stderr)
        return 2
    package = {**package_numbers(3), "date": datetime.now(tz=UTC).date().isoformat(), "machine": machine()}
    previous = json.loads(target.read_text(encoding="utf-8"))
    target.write_text(json.dumps({**previous, "package": package}, indent=2) + "\n", encoding="utf-8")
    changed = benchdocs.write(target, args.docs)
    print(
        f"package: {package['zip_bytes']:,} bytes, handler import {package['handler_import_ms']:g} ms; "
        f"figures: {target}; {args.docs} {'regenerated' if changed else 'unchanged'}"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.package_only:
        return package_only(args)
    # The handler's JSON log lines (thousands in a burst) are not the bench's output.
    logging.getLogger("ec2_isolation").addHandler(logging.NullHandler())
    logging.getLogger("ec2_isolation").propagate = False
    handler_parts = not args.reconcile_only
    count = (
        0
        if args.single_only or not handler_parts
        else args.burst
        if args.burst is not None
        else (10 if args.quick else 1000)
    )
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
        "handler": str(Path(sys.modules[handle.__module__].__file__ or "").parent),
        "machine": machine(),
    }
    phases: dict[str, float] = {}
    if handler_parts:
        handler_scenarios(args, network, results, phases, count=count, wait=wait)
    reconciler: list[str] = []
    if not args.single_only and not args.no_reconcile:
        # tools.bench_reconcile builds on this module's parts: imported once this module is whole
        from tools import bench_reconcile  # noqa: PLC0415

        with phase(phases, "reconcile"):
            results["reconcile"] = bench_reconcile.run(
                latency=args.latency_ms / 1000,
                bucket_size=args.bucket_size,
                refill_rate=args.refill_rate,
                steady_sizes=args.reconcile_steady or ([3, 6] if args.quick else [100, 1000]),
                catch_up_count=args.catch_up if args.catch_up is not None else (3 if args.quick else 200),
                concurrency=args.reconcile_concurrency,
                wait=wait,
            )
        reconciler = bench_reconcile.report_lines(results["reconcile"])
    if handler_parts and not args.single_only:
        with phase(phases, "package"):
            results["package"] = package_numbers(1 if args.quick else 3)
    results["phases_s"] = phases
    results["bench_s"] = round(time.perf_counter() - began, 1)
    args.json_out.parent.mkdir(parents=True, exist_ok=True)
    args.json_out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(report(results, reconciler))
    print(f"JSON: {args.json_out}")
    target = figures_target(args)
    if target is not None:
        previous = json.loads(target.read_text(encoding="utf-8")) if target.exists() else None
        written = merged_figures(figures(results), previous, args)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(written, indent=2) + "\n", encoding="utf-8")
        changed = benchdocs.write(target, args.docs)
        print(f"figures: {target}; {args.docs} {'regenerated' if changed else 'unchanged'}")
    return 0


def handler_scenarios(
    args: argparse.Namespace,
    network: SimulatedNetwork,
    results: dict[str, Any],
    phases: dict[str, float],
    *,
    count: int,
    wait: int,
) -> None:
    """The handler's scenarios: the handler of --before-ref, then this one's single instances and burst."""
    if args.before_ref and not args.single_only:
        with phase(phases, "before"):
            results["before"] = measure_before(args.before_ref, args, wait)
    with phase(phases, "emulator"), Emulator() as emulator:
        with phase(phases, "account"):
            account = prepare_account(emulator.session(), {"untrack_wait_seconds": wait})
        with phase(phases, "single"):
            results["single"] = single_instance_scenarios(emulator, network, account)
        if not args.single_only:
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
                results["burst"] = (
                    burst(emulator, network, account, count, args.concurrency) if count else None
                )
            if results["burst"]:
                results["burst_bound"] = burst_bound(results)


if __name__ == "__main__":
    sys.exit(main())
