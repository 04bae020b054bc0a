"""The reconciler's benchmark, a part of `make bench` (`tools/bench.py` runs it after the handler's own
scenarios): the real function code against a moto server of its own for each scenario, through the same
simulated network (`tools.bench.SimulatedNetwork`: the latency on every attempt, EC2's token buckets for
mutating actions).

    python -m tools.bench --reconcile-only                          # these scenarios only
    python -m tools.bench --reconcile-steady 100,1000 --catch-up 200
    python -m tools.bench --no-reconcile                            # the handler's scenarios only

The function runs with the module's defaults (`variables.tf`): Auto Scaling detach on, target group
deregistration on, termination protection on, the reconcile queue and its two schedules, result events.
Every VPC holds one target group with one registered instance that is not isolated, so that the
target-group reads are made and answer something.

- **Steady state** (``--reconcile-steady``, N isolated instances, everything converged). The handler
  isolates one instance (it creates and seals the VPC's isolation group and its transition group, writes
  the record and the status tags, as ever); the other N - 1 are launched in the state it left that one in:
  the ENI on the isolation group, the isolation profile, DeleteOnTermination off, termination protection
  on, the trigger tag and the status tags, and their records written by the handler's own functions
  (`begin_isolation`, `finish_isolation`) with that instance's outcome. Each is launched alone (one
  reservation each), so that moto pages DescribeInstances as EC2 does (moto counts reservations a page,
  EC2 instances). One round: the schedule's "Scheduled Event" (the function scans the open records and
  sends the sweep message), then that message, as the SQS event source mapping delivers it (the sweep).
  Measured: API calls by action, the writes (none but the round's sweep message), the time of the round
  and of the sweep; across the sizes, the calls per extra instance.
- **Catch-up** (``--catch-up``, N instances tagged for isolation whose events were lost: no record, one
  ENI, the application's profile). One round, whose sweep queues one converge message per instance; then
  the converges, as the event source mapping runs them: ``reconcile_maximum_concurrency`` pollers (the
  module's default), each with its own clients (one execution environment each), batch size 1, the
  untrack wait slept for real. A failed message is received again at once (in Lambda, after the visibility
  timeout), and after its third receive it goes to the dead-letter queue (the queue's redrive policy).
  Measured: the time, API calls, throttled attempts by action, failures (first attempt, and in the end:
  must be 0) with their causes, and that every instance's ENI ends on the isolation group.
"""

from __future__ import annotations

import json
import logging
import math
import re
import statistics
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from ec2_isolation.clients import AwsClients
from ec2_isolation.config import Settings
from ec2_isolation.convergence import drift_of
from ec2_isolation.errors import EventIsolationFailed
from ec2_isolation.handler import handle
from ec2_isolation.reconcile import SWEEP_CONFIG, SWEEP_KIND
from ec2_isolation.steps.observe import (
    AUTO_SCALING_IDS_PER_CALL,
    INSTANCES_PER_PAGE,
    VALUES_PER_FILTER,
    Calls,
    instance_profiles,
)
from ec2_isolation.steps.record import begin_isolation, finish_isolation, read_record
from tools.bench import (
    FUNCTION,
    Account,
    Attempt,
    CpuSample,
    FailedAttempt,
    SimulatedNetwork,
    _failure_figures,
    _read_from,
    emulator_errors,
    event_for,
    failed_attempts,
    is_mutating,
    isolated_count,
    launch_fleet,
    machine,
    ms,
    prepare_account,
    tag,
)
from tools.deliver import scheduled_event, sqs_record
from tools.emulator import Emulator
from tools.fleet import AMI, INSTANCE_TYPE, launch_instance
from tools.tfcli import FAKE_ACCOUNT_ID, FAKE_REGION

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageTypeDef

ROOT: Final = Path(__file__).resolve().parent.parent
VARIABLES: Final = ROOT / "variables.tf"
QUEUE_NAME: Final = "ec2-isolation-reconcile"
DEAD_LETTERS_NAME: Final = "ec2-isolation-dead-letters"
RULE_ARN: Final = f"arn:aws:events:{FAKE_REGION}:{FAKE_ACCOUNT_ID}:rule/ec2-isolation-reconcile"
FULL_RULE_ARN: Final = f"arn:aws:events:{FAKE_REGION}:{FAKE_ACCOUNT_ID}:rule/ec2-isolation-reconcile-full"
FUNCTION_ROLE_ARN: Final = f"arn:aws:iam::{FAKE_ACCOUNT_ID}:role/ec2-isolation-lambda"
#: the queue's redrive policy: a message received this many times without success goes to the dead letters
MAX_RECEIVES: Final = 3
#: the pollers when variables.tf has no default for ``reconcile_maximum_concurrency``
FALLBACK_CONCURRENCY: Final = 10
#: a poller that received nothing this long, while messages are left, stops (they are reported)
STALL_SECONDS: Final = 60
#: the actions that change nothing (every other one is a write)
READ_PREFIXES: Final = ("Describe", "Get", "List", "Scan", "Query", "BatchGetItem", "ReceiveMessage")
#: how the round sends its sweep messages: the only write a steady state makes
SWEEP_SEND: Final = "sqs:SendMessageBatch"
#: the goal for the calls a steady-state round makes per extra instance
CALLS_PER_EXTRA_INSTANCE_GOAL: Final = 0.25
#: what one SendMessageBatch takes at most (the reads' limits: `ec2_isolation.steps.observe`)
MESSAGES_PER_BATCH: Final = 10


# ---- the module's defaults ---------------------------------------------------------------------------


def module_default(name: str, variables: Path = VARIABLES) -> str | None:
    """The default of variable ``name`` in ``variables``, as written (``5``, ``"rate(1 day)"``), or None
    when the variable, or its default, is not there."""
    try:
        text = variables.read_text(encoding="utf-8")
    except OSError:
        return None
    block = re.search(
        rf'^variable "{re.escape(name)}" \{{\n(?P<body>.*?)^\}}', text, re.DOTALL | re.MULTILINE
    )
    if block is None:
        return None
    default = re.search(r"^\s*default\s*=\s*(?P<value>.+?)\s*$", block["body"], re.MULTILINE)
    return default["value"] if default else None


def module_int(name: str, fallback: int, variables: Path = VARIABLES) -> tuple[int, str]:
    """The whole-number default of ``name`` and where it came from (``fallback`` when there is none)."""
    value = module_default(name, variables)
    if value is not None and value.isdigit():
        return int(value), f"the module's default: {name} = {value} in variables.tf"
    return fallback, f"{fallback}, as variables.tf has no default for {name}"


def module_string(name: str, fallback: str, variables: Path = VARIABLES) -> str:
    value = module_default(name, variables)
    return value.strip('"') if value is not None and value.startswith('"') else fallback


# ---- counting ----------------------------------------------------------------------------------------


def is_write(action: str) -> bool:
    """Whether ``service:Operation`` changes anything (reads: Describe*, Get*, List*, Scan, Query, ...)."""
    return not action.split(":", 1)[-1].startswith(READ_PREFIXES)


def calls_by_action(attempts: Iterable[Attempt]) -> dict[str, int]:
    """The API calls (attempts that were answered, not throttled) by ``service:Operation``."""
    return dict(sorted(Counter(f"{a.service}:{a.operation}" for a in attempts if not a.throttled).items()))


def added(*counts: Mapping[str, int]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for count in counts:
        total.update(count)
    return dict(sorted(total.items()))


def mutating_calls(round_calls: Mapping[str, int], sweep_calls: Mapping[str, int]) -> dict[str, int]:
    """The writes of a steady-state round besides the round's sending of its sweep messages (the one
    write allowed): every write of the sweep, and the round's other ones."""
    writes = {a: n for a, n in round_calls.items() if is_write(a) and a != SWEEP_SEND}
    return added(writes, {a: n for a, n in sweep_calls.items() if is_write(a)})


def paged_calls(
    *, tagged: int, isolated: int, target_groups: int, scan_pages: int, sweeps: int = 1
) -> dict[str, int]:
    """The calls a steady-state round makes if they grow with pages, not instances: the Scan's pages
    (1 MB each), the sweep messages (10 a call), the isolation groups (one read), the tagged instances
    (1,000 a page), their instance profile associations (200 ids a call), their Auto Scaling memberships
    (50 ids a call), the target groups (400 a page) and the registrations of each one in the instances'
    VPCs."""
    return {
        "auto-scaling:DescribeAutoScalingInstances": math.ceil(isolated / AUTO_SCALING_IDS_PER_CALL),
        "dynamodb:Scan": scan_pages,
        "ec2:DescribeIamInstanceProfileAssociations": math.ceil(isolated / VALUES_PER_FILTER),
        "ec2:DescribeInstances": max(1, math.ceil(tagged / INSTANCES_PER_PAGE)),
        "ec2:DescribeSecurityGroups": 1,
        "elastic-load-balancing-v2:DescribeTargetGroups": 1,
        "elastic-load-balancing-v2:DescribeTargetHealth": target_groups,
        SWEEP_SEND: math.ceil(sweeps / MESSAGES_PER_BATCH),
    }


def calls_per_extra_instance(steady: list[dict[str, Any]]) -> float | None:
    """(calls of the largest run - calls of the smallest) / (their difference in instances): what one
    more isolated instance costs a round (None with fewer than two sizes)."""
    runs = sorted(steady, key=lambda s: int(s["instances"]))
    if len(runs) < 2 or runs[-1]["instances"] == runs[0]["instances"]:
        return None
    extra = int(runs[-1]["instances"]) - int(runs[0]["instances"])
    return round((int(runs[-1]["api_calls"]) - int(runs[0]["api_calls"])) / extra, 4)


# ---- the deployment ----------------------------------------------------------------------------------


@dataclass
class Deployment:
    """What the module deploys, on an emulator: the account (its VPC, record table, profiles), the
    reconcile queue and its dead letters, a target group, and one instance the handler isolated."""

    account: Account
    vpc_id: str
    queue_url: str
    queue_arn: str
    dead_letters_url: str
    target_group_arn: str
    isolation_group_id: str
    #: the instance the handler isolated (the model of the others), and its outcome
    seed: str
    seed_event_id: str
    lambda_timeout_s: int
    #: the bench's own SQS client (the Lambda service's side of the queue: no simulated latency)
    sqs: SQSClient


@dataclass
class Environment:
    """One Lambda execution environment's clients: the function's, and the sweep's readers (fewer
    retries), each of a session of its own, created on first use (a cold start)."""

    clients: AwsClients
    readers: AwsClients


def environment(emulator: Emulator, network: SimulatedNetwork) -> Environment:
    return Environment(
        AwsClients(network.install(emulator.session())),
        AwsClients(network.install(emulator.session()), config=SWEEP_CONFIG),
    )


def deploy(emulator: Emulator, *, wait: int) -> Deployment:
    """The module's deployment with its defaults, and one instance isolated by the handler (which creates
    the VPC's isolation and transition groups)."""
    timeout, _ = module_int("lambda_timeout", 120)
    session = emulator.session()
    sqs = session.client("sqs")
    dead_letters = sqs.create_queue(QueueName=DEAD_LETTERS_NAME)["QueueUrl"]
    # the module's queue: visibility 6 x the function's timeout
    queue_url = sqs.create_queue(QueueName=QUEUE_NAME, Attributes={"VisibilityTimeout": str(6 * timeout)})[
        "QueueUrl"
    ]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    account = prepare_account(
        session,
        {
            "untrack_wait_seconds": wait,
            "reconcile_queue_url": queue_url,
            "reconcile_rule_arn": RULE_ARN,
            "reconcile_full_rule_arn": FULL_RULE_ARN,
            "reconcile_on_api_calls": True,
            "function_role_arn": FUNCTION_ROLE_ARN,
            "result_event_source": module_string("result_event_source", "ec2-isolation"),
        },
    )
    ec2, elbv2 = session.client("ec2"), session.client("elbv2")
    vpc_id = ec2.describe_subnets(SubnetIds=[account.subnet_id])["Subnets"][0]["VpcId"]
    app = launch_instance(ec2, subnet_id=account.subnet_id, enis=[account.group_ids[:1]], name="app")
    target_group = elbv2.create_target_group(
        Name="web", Protocol="HTTP", Port=80, VpcId=vpc_id, TargetType="instance"
    )["TargetGroups"][0]["TargetGroupArn"]
    elbv2.register_targets(TargetGroupArn=target_group, Targets=[{"Id": app}])
    seed = launch_instance(
        ec2,
        subnet_id=account.subnet_id,
        enis=[account.group_ids[:1]],
        name="fleet",
        profile_arn=account.app_profile_arn,
    )
    tag(ec2, [seed], "Isolate")
    event = event_for(seed)
    result = isolate_seed(event, account, AwsClients(session))
    group = str(result["isolation_group_id"])
    described = ec2.describe_instances(InstanceIds=[seed])["Reservations"][0]["Instances"][0]
    drift = drift_of(
        account.settings, described, group, profiles=instance_profiles(ec2, [seed], Calls())[seed]
    )
    if drift:
        raise RuntimeError(
            f"the instance the handler isolated is not isolated as the sweep reads it: {drift}"
        )
    return Deployment(
        account=account,
        vpc_id=vpc_id,
        queue_url=queue_url,
        queue_arn=queue_arn,
        dead_letters_url=dead_letters,
        target_group_arn=target_group,
        isolation_group_id=group,
        seed=seed,
        seed_event_id=str(event["id"]),
        lambda_timeout_s=timeout,
        sqs=sqs,
    )


def isolate_seed(event: dict[str, Any], account: Account, clients: AwsClients) -> dict[str, Any]:
    """The handler's isolation of the first instance, with Lambda's two retries of a failed event (moto
    sometimes fails a request under load); its result."""
    failure = ""
    for _ in range(3):
        try:
            summary = handle(
                event, settings=account.settings, clients=clients, function=FUNCTION, sleep=lambda _s: None
            )
        except EventIsolationFailed as exc:
            failure = json.dumps(exc.summary.get("instances"), default=str)[:2000]
            continue
        result: dict[str, Any] = summary["instances"][0]
        if result["status"] == "isolated":
            return result
        failure = json.dumps(result, default=str)[:2000]
    raise RuntimeError(f"the handler did not isolate the first instance: {failure}")


def _plain(value: Any) -> Any:
    """A record's value as JSON (DynamoDB's numbers as ints or floats)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def isolated_fleet(emulator: Emulator, deployment: Deployment, count: int) -> list[str]:
    """``count`` instances in the state the handler left the first one in, each with its record (see the
    module docstring); their ids."""
    session = emulator.session()
    ec2, dynamodb = session.client("ec2"), session.client("dynamodb")
    settings = deployment.account.settings
    seed = ec2.describe_instances(InstanceIds=[deployment.seed])["Reservations"][0]["Instances"][0]
    seed_eni = seed["NetworkInterfaces"][0]["NetworkInterfaceId"]
    root = seed.get("RootDeviceName", "/dev/sda1")
    root_volume = next(m["Ebs"]["VolumeId"] for m in seed["BlockDeviceMappings"] if m["DeviceName"] == root)
    root_size = ec2.describe_volumes(VolumeIds=[root_volume])["Volumes"][0]["Size"]
    seed_tags = {t["Key"]: t["Value"] for t in seed.get("Tags", []) if t["Key"] != "Name"}
    record = read_record(dynamodb, settings.record_table_name, deployment.seed)
    if record is None or not record.get("attempts"):
        raise RuntimeError(f"the handler wrote no record of {deployment.seed}")
    model = json.dumps(
        {"prior": record["prior"], "attempt": record["attempts"][-1], "tags": seed_tags}, default=_plain
    )
    ids: list[str] = []
    for _ in range(count):
        event_id = str(uuid.uuid4())
        # one instance a reservation: moto pages DescribeInstances by reservations, EC2 by instances
        instance = ec2.run_instances(
            ImageId=AMI,
            InstanceType=INSTANCE_TYPE,
            MinCount=1,
            MaxCount=1,
            NetworkInterfaces=[
                {
                    "DeviceIndex": 0,
                    "SubnetId": deployment.account.subnet_id,
                    "Groups": [deployment.isolation_group_id],
                }
            ],
            IamInstanceProfile={"Arn": settings.isolation_instance_profile_arn},
            BlockDeviceMappings=[
                {"DeviceName": root, "Ebs": {"VolumeSize": root_size, "DeleteOnTermination": False}}
            ],
            InstanceInitiatedShutdownBehavior="stop",
        )["Instances"][0]
        instance_id, eni = instance["InstanceId"], instance["NetworkInterfaces"][0]["NetworkInterfaceId"]
        ec2.modify_instance_attribute(InstanceId=instance_id, DisableApiTermination={"Value": True})
        own = json.loads(
            model.replace(deployment.seed, instance_id)
            .replace(seed_eni, eni)
            .replace(deployment.seed_event_id, event_id)
        )
        tags = {"Name": "fleet", **own["tags"]}
        ec2.create_tags(Resources=[instance_id], Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
        now = datetime.now(tz=UTC)
        begin_isolation(
            dynamodb,
            settings.record_table_name,
            instance_id=instance_id,
            event_id=event_id,
            prior=own["prior"],
            now=now,
            lock_seconds=settings.record_lock_seconds,
        )
        attempt = own["attempt"]
        finish_isolation(
            dynamodb,
            settings.record_table_name,
            instance_id=instance_id,
            event_id=event_id,
            result={k: attempt[k] for k in ("status", "steps", "changes", "failures") if k in attempt},
            now=now,
            trigger=attempt.get("trigger"),
        )
        ids.append(instance_id)
    return ids


# ---- the invocations ---------------------------------------------------------------------------------


def remaining_ms(timeout_s: int) -> Callable[[], int]:
    """The context's get_remaining_time_in_millis of an invocation that starts now."""
    deadline = time.monotonic() + timeout_s
    return lambda: int((deadline - time.monotonic()) * 1000)


def invoke(
    network: SimulatedNetwork,
    deployment: Deployment,
    env: Environment,
    event: dict[str, Any],
    label: str,
) -> tuple[dict[str, Any], float]:
    """One invocation of the function, its attempts attributed to ``label``: its result and duration.
    Its waits (the untrack wait, retry backoffs) are slept for real, as in Lambda."""
    began = time.perf_counter()
    with network.invocation(label):
        result = handle(
            event,
            settings=deployment.account.settings,
            clients=env.clients,
            readers=env.readers,
            function=FUNCTION,
            sleep=time.sleep,
            remaining_ms=remaining_ms(deployment.lambda_timeout_s),
        )
    return result, time.perf_counter() - began


def receive(sqs: SQSClient, deployment: Deployment, most: int) -> list[MessageTypeDef]:
    """What the event source mapping's poller receives (with its attributes), hidden for the module's
    visibility timeout."""
    answer = sqs.receive_message(
        QueueUrl=deployment.queue_url,
        MaxNumberOfMessages=most,
        VisibilityTimeout=6 * deployment.lambda_timeout_s,
        MessageSystemAttributeNames=["All"],
    )
    return list(answer.get("Messages", []))


def sqs_event(message: MessageTypeDef, deployment: Deployment) -> dict[str, Any]:
    return {"Records": [sqs_record(message, deployment.queue_arn)]}


def left_in(sqs: SQSClient, queue_url: str) -> int:
    """The messages of a queue: visible, in flight and delayed."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ],
    )["Attributes"]
    return sum(int(value) for value in attributes.values())


@dataclass
class Round:
    """A schedule's round and the sweeps it started: what the function returned, and how long it took."""

    summary: dict[str, Any]
    round_s: float
    sweeps: list[dict[str, Any]] = field(default_factory=list)
    sweep_s: float = 0.0
    #: the other messages the sweeps queued (the converges), left in the queue
    queued: list[dict[str, Any]] = field(default_factory=list)


def run_round(
    network: SimulatedNetwork, deployment: Deployment, env: Environment, label: str, *, follow: bool
) -> Round:
    """The schedule's "Scheduled Event", then the sweep messages it sent, delivered as the event source
    mapping would. ``follow``: then every sweep message the sweeps sent (a sweep handing its rest on),
    while the queue holds only those; what else the sweeps queued (the converges) is counted, and left
    (hidden for the visibility timeout: only a steady state, which queues nothing, follows)."""
    event = scheduled_event(RULE_ARN, FAKE_ACCOUNT_ID, FAKE_REGION)
    summary, round_s = invoke(network, deployment, env, event, f"{label}:round")
    done = Round(summary, round_s)
    sqs = deployment.sqs
    sent: list[MessageTypeDef] = []
    # the round's own messages, all taken before the first sweep runs (which may queue converges)
    while len(sent) < len(summary.get("sweeps", [])):
        messages = receive(sqs, deployment, MESSAGES_PER_BATCH)
        if not messages:
            break
        sent += messages
    _sweep_each(network, deployment, env, label, messages=sent, done=done)
    for _ in range(100 if follow else 0):  # a bound: a sweep that hands its rest on sends one more message
        messages = receive(sqs, deployment, MESSAGES_PER_BATCH)
        if not messages:
            break
        _sweep_each(network, deployment, env, label, messages=messages, done=done)
    return done


def _sweep_each(
    network: SimulatedNetwork,
    deployment: Deployment,
    env: Environment,
    label: str,
    *,
    messages: list[MessageTypeDef],
    done: Round,
) -> None:
    for message in messages:
        body = json.loads(message.get("Body", "{}"))
        if body.get("kind") != SWEEP_KIND:
            done.queued.append(body)
            continue
        outcome, elapsed = invoke(network, deployment, env, sqs_event(message, deployment), f"{label}:sweep")
        done.sweep_s += elapsed
        done.sweeps += outcome["results"]
        if outcome["batchItemFailures"]:
            raise RuntimeError(f"the sweep failed: {json.dumps(outcome)[:1000]}")
        deployment.sqs.delete_message(QueueUrl=deployment.queue_url, ReceiptHandle=message["ReceiptHandle"])


# ---- the steady state --------------------------------------------------------------------------------


def records_size(emulator: Emulator, deployment: Deployment) -> int:
    """About how many bytes the record table holds (its items as JSON; moto reports no table size), which
    its Scan pages (1 MB each) follow."""
    dynamodb = emulator.session().client("dynamodb")
    size = 0
    for page in dynamodb.get_paginator("scan").paginate(
        TableName=deployment.account.settings.record_table_name
    ):
        size += sum(len(json.dumps(item, separators=(",", ":"))) for item in page.get("Items", []))
    return size


def steady_state(network: SimulatedNetwork, count: int, *, wait: int) -> dict[str, Any]:
    """``count`` isolated instances, everything converged, and one round (see the module docstring)."""
    with Emulator() as emulator:
        began = time.perf_counter()
        deployment = deploy(emulator, wait=wait)
        isolated_fleet(emulator, deployment, count - 1)
        setup_s = time.perf_counter() - began
        label = f"reconcile:steady-{count}"
        done = run_round(network, deployment, environment(emulator, network), label, follow=True)
        table_bytes = records_size(emulator, deployment)
    round_attempts, sweep_attempts = network.of(f"{label}:round"), network.of(f"{label}:sweep")
    round_calls, sweep_calls = calls_by_action(round_attempts), calls_by_action(sweep_attempts)
    calls = added(round_calls, sweep_calls)
    decisions: Counter[str] = Counter()
    for sweep in done.sweeps:
        decisions.update({kind: len(ids) for kind, ids in sweep.get("decisions", {}).items()})
    attempts = round_attempts + sweep_attempts
    return {
        "instances": count,
        "setup_s": round(setup_s, 1),
        "round_ms": ms(done.round_s),
        "sweep_ms": ms(done.sweep_s),
        "total_ms": ms(done.round_s + done.sweep_s),
        "sweep_invocations": len(done.sweeps),
        "api_calls": sum(calls.values()),
        "calls_by_action": calls,
        "round_calls_by_action": round_calls,
        "sweep_calls_by_action": sweep_calls,
        "writes_by_action": {a: n for a, n in calls.items() if is_write(a)},
        "mutating_calls": mutating_calls(round_calls, sweep_calls),
        "calls_if_by_pages": paged_calls(
            tagged=count,
            isolated=count,
            target_groups=1,
            scan_pages=int(done.summary.get("scan_pages", 0)),
            sweeps=len(done.summary.get("sweeps", [])),
        ),
        "scan_pages": done.summary.get("scan_pages"),
        "open_records": done.summary.get("open_records"),
        "record_table_bytes": table_bytes,
        "decisions": dict(sorted(decisions.items())),
        "converges_queued": sum(int(s.get("converges_queued", 0)) for s in done.sweeps),
        "messages_left": len(done.queued),
        "sweep_counted_calls": added(*(s.get("calls", {}) for s in done.sweeps)),
        "throttled_attempts": sum(a.throttled for a in attempts),
        "emulator_ms": ms(statistics.fmean(a.end - a.start - network.latency for a in attempts))
        if attempts
        else None,
    }


def steady_verdict(steady: list[dict[str, Any]]) -> dict[str, Any]:
    """Across the sizes: the calls per extra instance against the goal, whether every round wrote nothing
    but its sweep message and queued nothing, and whether the calls are the pages."""
    per_extra = calls_per_extra_instance(steady)
    return {
        "calls_per_extra_instance": per_extra,
        "calls_per_extra_instance_goal": CALLS_PER_EXTRA_INSTANCE_GOAL,
        "within_goal": per_extra is not None and per_extra <= CALLS_PER_EXTRA_INSTANCE_GOAL,
        "no_mutating_call": all(not s["mutating_calls"] for s in steady),
        "nothing_queued": all(s["converges_queued"] == 0 and s["messages_left"] == 0 for s in steady),
        "calls_are_pages": all(s["calls_by_action"] == s["calls_if_by_pages"] for s in steady),
    }


# ---- the catch-up ------------------------------------------------------------------------------------


class MessageErrors(logging.Handler):
    """The exception each failed reconcile message ended with (the function logs it, with its traceback,
    as "the reconcile message failed: it is retried"), by message id."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self._errors: dict[str, BaseException] = {}
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        if not record.exc_info or record.exc_info[1] is None:
            return
        if not record.getMessage().startswith("the reconcile message failed"):
            return
        message_id = (getattr(record, "context", None) or {}).get("message_id")
        if message_id:
            with self._guard:
                self._errors[str(message_id)] = record.exc_info[1]

    def take(self, message_id: str) -> BaseException | None:
        with self._guard:
            return self._errors.pop(message_id, None)


@dataclass
class _Mapping:
    """The reconcile queue's event source mapping: pollers (one execution environment each) that receive
    one message at a time, invoke the function with it, delete what succeeded, receive again what failed,
    and move to the dead letters what failed its third receive."""

    network: SimulatedNetwork
    deployment: Deployment
    label: str
    errors: MessageErrors
    lock: threading.Lock = field(default_factory=threading.Lock)
    in_flight: int = 0
    peak: int = 0
    deliveries: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    failed: list[FailedAttempt] = field(default_factory=list)
    first_attempt_failures: int = 0
    unresolved: dict[str, str] = field(default_factory=dict)
    dead_lettered: list[str] = field(default_factory=list)
    durations: list[float] = field(default_factory=list)

    def poll(self, poller: tuple[Environment, SQSClient]) -> None:
        """One poller, until the queue is empty and no other poller holds a message (or nothing could be
        received for ``STALL_SECONDS``: what is left is reported)."""
        env, sqs = poller
        idle_since: float | None = None
        while True:
            messages = receive(sqs, self.deployment, 1)
            if not messages:
                with self.lock:
                    idle = self.in_flight == 0
                if idle and left_in(sqs, self.deployment.queue_url) == 0:
                    return
                idle_since = idle_since or time.monotonic()
                if time.monotonic() - idle_since > STALL_SECONDS:
                    return
                time.sleep(0.05)
                continue
            idle_since = None
            with self.lock:
                self.in_flight += 1
                self.peak = max(self.peak, self.in_flight)
            try:
                self._deliver(env, sqs, messages[0])
            finally:
                with self.lock:
                    self.in_flight -= 1

    def _deliver(self, env: Environment, sqs: SQSClient, message: MessageTypeDef) -> None:
        body = json.loads(message.get("Body", "{}"))
        subject = str(body.get("instance_id") or body.get("kind"))
        receives = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
        outcome, elapsed = invoke(
            self.network, self.deployment, env, sqs_event(message, self.deployment), self.label
        )
        failed = {f["itemIdentifier"] for f in outcome["batchItemFailures"]}
        with self.lock:
            self.deliveries += 1
            self.durations.append(elapsed)
        if message["MessageId"] not in failed:
            sqs.delete_message(QueueUrl=self.deployment.queue_url, ReceiptHandle=message["ReceiptHandle"])
            with self.lock:
                for result in outcome["results"]:
                    self.statuses[str(result.get("status", "-"))] += 1
                self.unresolved.pop(subject, None)
            return
        error = self.errors.take(message["MessageId"]) or RuntimeError("the message failed (no error logged)")
        with self.lock:
            self.first_attempt_failures += receives == 1
            self.unresolved[subject] = f"{type(error).__name__}: {str(error)[:300]}"
            self.failed += failed_attempts(subject, receives - 1, error)
            if receives >= MAX_RECEIVES:
                self.dead_lettered.append(subject)
        if receives >= MAX_RECEIVES:
            sqs.send_message(QueueUrl=self.deployment.dead_letters_url, MessageBody=message.get("Body", ""))
            sqs.delete_message(QueueUrl=self.deployment.queue_url, ReceiptHandle=message["ReceiptHandle"])
        else:
            sqs.change_message_visibility(
                QueueUrl=self.deployment.queue_url,
                ReceiptHandle=message["ReceiptHandle"],
                VisibilityTimeout=0,
            )


def catch_up(
    network: SimulatedNetwork, count: int, *, concurrency: int, concurrency_source: str, wait: int
) -> dict[str, Any]:
    """``count`` instances tagged for isolation whose events were lost, one round, and the converges it
    queued, run by ``concurrency`` pollers (see the module docstring)."""
    with Emulator() as emulator:
        began = time.perf_counter()
        deployment = deploy(emulator, wait=wait)
        setup = emulator.session().client("ec2")
        instance_ids = launch_fleet(setup, deployment.account, count)
        tag(setup, instance_ids, "Isolate")
        pollers = [
            (environment(emulator, network), emulator.session().client("sqs")) for _ in range(concurrency)
        ]
        setup_s = time.perf_counter() - began
        label = "reconcile:catch-up"
        errors = MessageErrors()
        mapping = _Mapping(network, deployment, f"{label}:converge", errors)
        handler_log = logging.getLogger("ec2_isolation")
        level = handler_log.level
        handler_log.addHandler(errors)
        handler_log.setLevel(min(level or logging.ERROR, logging.ERROR))
        log_from = emulator.log_path.stat().st_size if emulator.log_path.exists() else 0
        cpu_before = CpuSample.take(emulator.pid)
        start = time.perf_counter()
        try:
            done = run_round(network, deployment, pollers[0][0], label, follow=False)
            converges_from = time.perf_counter()
            with ThreadPoolExecutor(max_workers=concurrency) as pool:
                list(pool.map(mapping.poll, pollers))
        finally:
            handler_log.removeHandler(errors)
            handler_log.setLevel(level)
        finished = time.perf_counter()
        cpu = CpuSample.take(emulator.pid).since(cpu_before)
        sqs = deployment.sqs
        left, dead_letters = left_in(sqs, deployment.queue_url), left_in(sqs, deployment.dead_letters_url)
        isolated = isolated_count(setup, deployment.account, set(instance_ids))
        log = _read_from(emulator.log_path, log_from)
    attempts = [a for a in network.attempts if a.invocation.startswith(f"{label}:")]
    converge_attempts = [a for a in attempts if a.invocation == mapping.label]
    answered = [a for a in attempts if not a.throttled]
    calls = calls_by_action(attempts)
    converge_calls = calls_by_action(converge_attempts)
    ec2_mutating = {
        a: n for a, n in converge_calls.items() if a.startswith("ec2:") and is_mutating(a.split(":", 1)[1])
    }
    busiest = max(ec2_mutating.items(), key=lambda item: item[1], default=("-", 0))
    bucket, rate = network.bucket_size, network.refill_rate
    durations = mapping.durations
    waves = math.ceil(count / concurrency) if concurrency else 0
    return {
        "instances": count,
        "concurrency": concurrency,
        "concurrency_source": concurrency_source,
        "max_receives": MAX_RECEIVES,
        "setup_s": round(setup_s, 1),
        "round_ms": ms(done.round_s),
        "sweep_ms": ms(done.sweep_s),
        "converges_queued": sum(int(s.get("converges_queued", 0)) for s in done.sweeps),
        "decisions": {kind: len(ids) for s in done.sweeps for kind, ids in s.get("decisions", {}).items()},
        "converges_s": round(finished - converges_from, 1),
        "total_s": round(finished - start, 1),
        "deliveries": mapping.deliveries,
        "invocation_s_median": round(statistics.median(durations), 2) if durations else None,
        "invocation_s_max": round(max(durations), 2) if durations else None,
        "peak_concurrency": mapping.peak,
        "statuses": dict(mapping.statuses),
        "api_calls": sum(calls.values()),
        "calls_by_action": calls,
        "attempts": len(attempts),
        "throttled_attempts": sum(a.throttled for a in attempts),
        "throttled_by_action": dict(Counter(f"{a.service}:{a.operation}" for a in attempts if a.throttled)),
        "error_answers_by_code": dict(Counter(a.error for a in answered if a.error).most_common()),
        "emulator_ms_per_attempt": ms(statistics.fmean(a.end - a.start - network.latency for a in answered))
        if answered
        else None,
        **_failure_figures(mapping.failed, mapping.first_attempt_failures, mapping.unresolved),
        "dead_lettered": len(mapping.dead_lettered),
        "dead_letters_in_queue": dead_letters,
        "left_in_queue": left,
        "isolated_afterwards": isolated,
        "emulator_errors": emulator_errors(log),
        "bound": {
            "busiest_ec2_action": busiest[0],
            "busiest_ec2_action_calls": busiest[1],
            "throttling_s": round(max(0.0, busiest[1] - bucket) / rate, 1) if rate else None,
            "workers_s": round(waves * statistics.median(durations), 1) if durations else None,
            "waves": waves,
        },
        "cpu": cpu,
    }


# ---- the whole part ----------------------------------------------------------------------------------


def run(
    *,
    latency: float,
    bucket_size: float,
    refill_rate: float,
    steady_sizes: list[int],
    catch_up_count: int,
    concurrency: int | None,
    wait: int,
) -> dict[str, Any]:
    """The reconciler's scenarios, each on an emulator (an account) of its own with EC2's buckets full,
    and what they were measured on."""
    source = "given: --reconcile-concurrency"
    if concurrency is None:
        concurrency, source = module_int("reconcile_maximum_concurrency", FALLBACK_CONCURRENCY)
    timeout, _ = module_int("lambda_timeout", 120)

    def network() -> SimulatedNetwork:
        return SimulatedNetwork(latency, bucket_size, refill_rate)

    began = time.perf_counter()
    steady = [steady_state(network(), n, wait=wait) for n in sorted(set(steady_sizes))]
    results: dict[str, Any] = {
        "date": datetime.now(tz=UTC).date().isoformat(),
        "machine": machine(),
        "latency_ms": round(latency * 1000, 3),
        "bucket_size": bucket_size,
        "refill_rate": refill_rate,
        "untrack_wait_seconds": wait,
        "lambda_timeout_s": timeout,
        "settings": {
            **{
                f.name: f.default
                for f in fields(Settings)
                if f.name in ("auto_scaling_action", "deregister_targets", "protect_from_termination")
            },
            "target_groups_in_vpc": 1,
            "result_events": True,
        },
        "steady": steady,
        **steady_verdict(steady),
        "catch_up": catch_up(
            network(), catch_up_count, concurrency=concurrency, concurrency_source=source, wait=wait
        )
        if catch_up_count > 0
        else None,
    }
    results["bench_s"] = round(time.perf_counter() - began, 1)
    return results


def _cells(values: Iterable[Any], width: int = 14) -> str:
    return "".join(
        ("-" if v is None else f"{v:g}" if isinstance(v, float) else str(v)).rjust(width) for v in values
    )


def report_lines(r: dict[str, Any]) -> list[str]:
    """The reconciler's part of the printed table."""
    lines = [
        "",
        f"reconciler ({r['date']}; module defaults: Auto Scaling detach, target groups on, "
        f"{r['settings']['target_groups_in_vpc']} target group in the VPC; {r['latency_ms']:g} ms a request)",
    ]
    steady: list[dict[str, Any]] = r["steady"]
    if steady:
        width = 56
        actions = sorted({a for s in steady for a in s["calls_by_action"]})
        lines += [
            "  steady state: isolated instances".ljust(width) + _cells(s["instances"] for s in steady),
            "  round (schedule -> sweep message), ms".ljust(width) + _cells(s["round_ms"] for s in steady),
            "  sweep, ms".ljust(width) + _cells(s["sweep_ms"] for s in steady),
            "  API calls".ljust(width) + _cells(s["api_calls"] for s in steady),
            *(
                f"    {a}".ljust(width) + _cells(s["calls_by_action"].get(a, 0) for s in steady)
                for a in actions
            ),
            "  mutating calls (beyond the sweep message)".ljust(width)
            + _cells(sum(s["mutating_calls"].values()) for s in steady),
            "  converges queued".ljust(width) + _cells(s["converges_queued"] for s in steady),
            "  Scan pages (record table bytes)".ljust(width)
            + "".join(f"{s['scan_pages']} ({s['record_table_bytes']})".rjust(14) for s in steady),
            f"  calls per extra instance {r['calls_per_extra_instance']} (goal <= "
            f"{r['calls_per_extra_instance_goal']:g}: {'met' if r['within_goal'] else 'NOT met'}); "
            f"no mutating call: {r['no_mutating_call']}; nothing queued: {r['nothing_queued']}; "
            f"calls are the pages: {r['calls_are_pages']}",
        ]
        for s in steady:
            if s["mutating_calls"]:
                lines.append(f"  MUTATING CALLS at {s['instances']}: {s['mutating_calls']}")
    c = r.get("catch_up")
    if c:
        b = c["bound"]
        lines += [
            f"  catch-up: {c['instances']} instances whose events were lost, {c['concurrency']} pollers "
            f"({c['concurrency_source']}; setup {c['setup_s']} s, not counted)",
            f"    total {c['total_s']} s (round {c['round_ms']} ms, sweep {c['sweep_ms']} ms, converges "
            f"{c['converges_s']} s); {c['converges_queued']} converges queued, {c['deliveries']} deliveries; "
            f"invocation median {c['invocation_s_median']} s, max {c['invocation_s_max']} s; peak "
            f"{c['peak_concurrency']}",
            f"    API calls {c['api_calls']}, attempts {c['attempts']}, throttled {c['throttled_attempts']} "
            f"{c['throttled_by_action']}; error answers {c['error_answers_by_code']}",
            f"    failed on first receive {c['failed_first_attempt']}, failures in the end (dead letters) "
            f"{c['failures']} ({c['dead_lettered']}); isolated afterwards {c['isolated_afterwards']} / "
            f"{c['instances']}; statuses {c['statuses']}; left in the queue {c['left_in_queue']}",
            f"    least time: EC2's buckets {b['throttling_s']} s ({b['busiest_ec2_action']} x "
            f"{b['busiest_ec2_action_calls']}), the pollers {b['workers_s']} s ({b['waves']} waves)",
        ]
        if c["first_attempt_failure_causes"]:
            lines.append("    first-attempt failures by cause:")
            lines += [f"      {n:>4}  {cause}" for cause, n in c["first_attempt_failure_causes"].items()]
        if c["retry_failure_causes"]:
            lines.append("    failures of the receives after the first by cause:")
            lines += [f"      {n:>4}  {cause}" for cause, n in c["retry_failure_causes"].items()]
        if c.get("emulator_errors"):
            lines.append("    the emulator's own errors (it answered HTTP 500):")
            lines += [f"      {n:>4}  {error}" for error, n in c["emulator_errors"].items()]
    return lines
