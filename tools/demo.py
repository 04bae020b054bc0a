#!/usr/bin/env python3
"""Tag an EC2 instance, watch it get isolated and released: the whole path, on a local AWS emulator.

    make demo            # or: .venv/bin/python tools/demo.py

1. starts a moto server on 127.0.0.1 (`tools.emulator.Emulator`);
2. applies examples/basic to it with Terraform (a temporary copy, offline provider mirror);
3. launches a small fleet: web-01 (two ENIs, an instance profile) and worker-01 (one ENI, no profile);
4. tags web-01 ``SecurityIsolation=Isolate`` as an analyst would (ec2:CreateTags);
5. builds the "Tag Change on Resource" event EventBridge sends for the tags now on web-01 and routes it
   through the rules read back from the emulator;
6. runs the deployed function's code on it (`tools.deliver`), and prints the function's log;
7. prints web-01 and worker-01 before and after, read from the emulator;
8. sets the same tag on web-01 to ``Release``, routes that event and runs the function on it;
9. prints web-01 before, isolated and released, read from the emulator.

Then ``terraform destroy`` and the emulator is stopped, also on an error or Ctrl-C. The exit status is 0
only when the emulator's state shows web-01 isolated (both ENIs on exactly the isolation group, which
has no rule; the isolation instance profile; the status tag) and worker-01 untouched, and then web-01
released (its ENIs on their groups and its profile, as before; Status=Released); 1 when not; 2 on any
other failure.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import textwrap
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, Final

if __package__ in (None, ""):  # run as a script (`python tools/demo.py`): make `tools` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import boto3

from tools import deliver as eventbridge
from tools.emulator import Deployment, Emulator
from tools.fleet import create_instance_profile, launch_instance
from tools.tfcli import TerraformError

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

WIDTH: Final = 100
STEPS: Final = 9
INDENT: Final = "      "
KEY: Final = "SecurityIsolation"
VALUE: Final = "Isolate"
RELEASE: Final = "Release"

EXIT_ISOLATED: Final = 0
EXIT_NOT_ISOLATED: Final = 1
EXIT_ERROR: Final = 2


class Terminated(Exception):
    """SIGTERM: leave through the clean-up like on Ctrl-C."""


# --------------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------------


def say(text: str = "") -> None:
    print(text, flush=True)


def step(number: int, text: str) -> None:
    say(f"[{number}/{STEPS}] {text}")


def detail(text: str) -> None:
    for line in textwrap.wrap(text, WIDTH - len(INDENT), break_long_words=True, break_on_hyphens=False):
        say(INDENT + line)


def clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 3)] + "..."


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], indent: str = INDENT) -> list[str]:
    """Columns two spaces apart, within `WIDTH`: the widest column gives way (cells clipped with ...)."""
    cells = [list(headers), *[list(row) for row in rows]]
    widths = [max(len(row[column]) for row in cells) for column in range(len(headers))]
    while len(indent) + sum(widths) + 2 * (len(widths) - 1) > WIDTH:
        widest = widths.index(max(widths))
        widths[widest] -= 1
    return [
        (
            indent
            + "  ".join(clip(cell, width).ljust(width) for cell, width in zip(row, widths, strict=True))
        ).rstrip()
        for row in cells
    ]


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    for line in table(headers, rows):
        say(line)


#: log fields shown by a shorter name; fields not worth a column are dropped
_FIELD_NAMES: Final = {
    "network_interface_id": "eni",
    "device_index": "device",
    "previous_groups": "was",
    "previous_arn": "was",
    "group_id": "group",
    "vpc_id": "vpc",
    "rule_ids": "rules",
    "association_id": "association",
}
_DROPPED_FIELDS: Final = frozenset({"timestamp", "logger", "level", "message", "summary", "changed", "error"})
#: the fields every line about one instance carries (its log context): shown once, when they change
CONTEXT_FIELDS: Final = ("event_id", "instance_id", "account", "region", "action", "dry_run")


def _short(value: Any, names: Mapping[str, str]) -> str:
    """A log value in a few characters: known ids by name, ARNs by their last part, lists joined."""
    if isinstance(value, list):
        return ",".join(_short(item, names) for item in value)
    if isinstance(value, dict):
        keys = list(value)
        prefix = keys[0].rpartition(":")[0] + ":" if keys and ":" in keys[0] else ""
        if prefix and all(key.startswith(prefix) for key in keys):
            return prefix + "{" + ",".join(key[len(prefix) :] for key in keys) + "}"
        return ",".join(keys)
    text = str(value)
    if text in names:
        return names[text]
    return text.rsplit("/", 1)[-1] if text.startswith("arn:") else text


def compact_log(lines: Sequence[str], names: Mapping[str, str] | None = None) -> list[str]:
    """The function's log, a terminal line per log line: the context (action, instance, account and
    region, event) on a line of its own whenever it changes, then what each line says (message and
    the fields that tell what the step did: groups, ENIs, profile)."""
    width = WIDTH - len(INDENT) - 2
    shown: list[str] = []
    context: dict[str, Any] = {}
    for line in lines:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            record = None
        if not isinstance(record, dict):
            shown.append(clip(line, width))
            continue
        now = {name: record[name] for name in CONTEXT_FIELDS if name in record}
        if any(context.get(name) != value for name, value in now.items()):
            context = {**context, **now}
            shown.append(clip(_context_line(context, names or {}), width))
        shown.append(compact_log_line(record, names))
    return shown


def _context_line(context: Mapping[str, Any], names: Mapping[str, str]) -> str:
    """``-- isolate i-0abc (web-01) in 123456789012 us-east-1, event 1a2b3c4d``: what the lines below are
    about."""
    words = ["--", str(context.get("action", "event"))]
    if "instance_id" in context:
        instance_id = str(context["instance_id"])
        name = names.get(instance_id)
        words.append(f"{instance_id} ({name})" if name and name != instance_id else instance_id)
    if "account" in context or "region" in context:
        words.append(f"in {context.get('account', '?')} {context.get('region', '?')}")
    words[-1] += ","
    words.append(f"event {str(context.get('event_id', '-'))[:8]}")
    if context.get("dry_run"):
        words.append("(dry run)")
    return " ".join(words)


def compact_log_line(record: Mapping[str, Any], names: Mapping[str, str] | None = None) -> str:
    """One log line (a JSON object) in one terminal line: level, message, the telling fields (not
    the context, which `compact_log` shows once)."""
    width = WIDTH - len(INDENT) - 2
    fields = [
        f"{_FIELD_NAMES.get(name, name)}={_short(value, names or {})}"
        for name, value in record.items()
        if name not in _DROPPED_FIELDS and name not in CONTEXT_FIELDS and value not in (None, [], {}, "")
    ]
    text = f"{record.get('level', ''):<5} {record.get('message', '')}"
    if "exception" in record:
        text += ": " + str(record["exception"]).strip().splitlines()[-1]
    return clip(text + ("  " + " ".join(fields) if fields else ""), width)


def json_lines(value: Any, width: int, indent: str = "") -> list[str]:
    """``value`` as JSON, one line when it fits in ``width``, else an object's members one a line."""
    compact = json.dumps(value)
    if len(indent) + len(compact) <= width or not isinstance(value, dict) or not value:
        return [indent + compact]
    lines = [indent + "{"]
    members = list(value.items())
    for position, (key, member) in enumerate(members):
        comma = "," if position < len(members) - 1 else ""
        inner = json_lines(member, width - len(json.dumps(key)) - 2, indent + "  ")
        lines.append(f"{indent}  {json.dumps(key)}: {inner[0].lstrip()}" + ("" if len(inner) > 1 else comma))
        if len(inner) > 1:
            lines += inner[1:-1]
            lines.append(inner[-1] + comma)
    lines.append(indent + "}")
    return lines


# --------------------------------------------------------------------------------------------------
# The fleet and its state in the emulator
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fleet:
    vpc_id: str
    subnet_id: str
    group_names: dict[str, str]
    """security group id -> name, for display"""
    profile_arn: str
    web: str
    """web-01: two ENIs (app; mgmt) and the web-app instance profile; the analyst tags it"""
    worker: str
    """worker-01: one ENI (app), no instance profile; never tagged"""

    @property
    def names(self) -> dict[str, str]:
        """Security group and instance ids -> names, for the function's log."""
        return {**self.group_names, self.web: "web-01", self.worker: "worker-01"}


@dataclass(frozen=True)
class InstanceState:
    """What isolation changes, as the emulator reports it."""

    instance_id: str
    enis: dict[str, tuple[int, list[str]]]
    """ENI id -> (device index, security group ids)"""
    profiles: list[str]
    """ARNs of the active instance profile associations"""
    tags: dict[str, str] = field(default_factory=dict)


def read_state(ec2: EC2Client, instance_id: str) -> InstanceState:
    interfaces = ec2.describe_network_interfaces(
        Filters=[{"Name": "attachment.instance-id", "Values": [instance_id]}]
    )["NetworkInterfaces"]
    enis = {
        eni["NetworkInterfaceId"]: (
            eni.get("Attachment", {}).get("DeviceIndex", -1),
            sorted(group["GroupId"] for group in eni.get("Groups", [])),
        )
        for eni in interfaces
    }
    # Not DescribeInstances: the emulator keeps showing the old profile there after a replace.
    associations = ec2.describe_iam_instance_profile_associations(
        Filters=[{"Name": "instance-id", "Values": [instance_id]}]
    )["IamInstanceProfileAssociations"]
    profiles = [
        a["IamInstanceProfile"]["Arn"]
        for a in associations
        if a.get("State") in ("associating", "associated")
    ]
    tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [instance_id]}])["Tags"]
    return InstanceState(instance_id, enis, profiles, {t["Key"]: t["Value"] for t in tags})


def launch_fleet(session: boto3.session.Session) -> Fleet:
    ec2, iam = session.client("ec2"), session.client("iam")
    vpc_id = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    ec2.create_tags(Resources=[vpc_id], Tags=[{"Key": "Name", "Value": "shop"}])
    subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.20.1.0/24")["Subnet"]["SubnetId"]
    app = ec2.create_security_group(GroupName="app", Description="web tier", VpcId=vpc_id)["GroupId"]
    mgmt = ec2.create_security_group(GroupName="mgmt", Description="management", VpcId=vpc_id)["GroupId"]
    for group, port, cidr in ((app, 443, "0.0.0.0/0"), (mgmt, 22, "10.0.0.0/8")):
        ec2.authorize_security_group_ingress(
            GroupId=group,
            IpPermissions=[
                {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "IpRanges": [{"CidrIp": cidr}]}
            ],
        )
    profile_arn = create_instance_profile(iam, "web-app")
    team = {"team": "shop"}
    web = launch_instance(
        ec2, subnet_id=subnet_id, enis=[[app], [mgmt]], name="web-01", tags=team, profile_arn=profile_arn
    )
    worker = launch_instance(ec2, subnet_id=subnet_id, enis=[[app]], name="worker-01", tags=team)
    return Fleet(vpc_id, subnet_id, {app: "app", mgmt: "mgmt"}, profile_arn, web, worker)


def profile_name(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def fleet_rows(fleet: Fleet, states: Sequence[InstanceState]) -> list[list[str]]:
    rows: list[list[str]] = []
    for state in states:
        first = True
        for eni, (device, groups) in sorted(state.enis.items(), key=lambda item: item[1][0]):
            rows.append(
                [
                    state.tags.get("Name", "") if first else "",
                    state.instance_id if first else "",
                    f"{eni} ({device})",
                    ",".join(fleet.group_names.get(g, g) for g in groups),
                    (",".join(map(profile_name, state.profiles)) or "-") if first else "",
                ]
            )
            first = False
    return rows


def before_after_rows(fleet: Fleet, *states: InstanceState) -> list[list[str]]:
    """One row per ENI, the instance profile and each tag; one column per state, in order (with three
    states, labels are shortened to fit: the status tags as ``:<suffix>``)."""
    compact = len(states) > 2

    def groups(state: InstanceState, eni: str) -> str:
        return ",".join(fleet.group_names.get(g, g) for g in state.enis.get(eni, (0, []))[1]) or "-"

    first = states[0]
    rows = [
        [f"{eni} ({'' if compact else 'device '}{device})", *(groups(state, eni) for state in states)]
        for eni, (device, _) in sorted(first.enis.items(), key=lambda item: item[1][0])
    ]
    rows.append(
        ["instance profile", *(",".join(map(profile_name, state.profiles)) or "-" for state in states)]
    )
    keys = set().union(*(state.tags for state in states))
    for key in sorted(keys, key=lambda k: (k.startswith(f"{KEY}:"), k)):
        label = key.removeprefix(KEY) if compact and key.startswith(f"{KEY}:") else key
        rows.append([f"tag {label}", *(state.tags.get(key, "-") for state in states)])
    return rows


# --------------------------------------------------------------------------------------------------
# Verification: the emulator's state, not the function's word
# --------------------------------------------------------------------------------------------------


def isolation_problems(
    ec2: EC2Client,
    fleet: Fleet,
    outputs: Mapping[str, Any],
    web_before: InstanceState,
    worker_before: InstanceState,
) -> tuple[list[str], str | None]:
    """What is not as isolation requires (empty when web-01 is isolated), and the isolation group id."""
    problems: list[str] = []
    name = outputs["isolation_security_group_name"]
    groups = ec2.describe_security_groups(
        Filters=[{"Name": "group-name", "Values": [name]}, {"Name": "vpc-id", "Values": [fleet.vpc_id]}]
    )["SecurityGroups"]
    group_id = groups[0]["GroupId"] if len(groups) == 1 else None
    web = read_state(ec2, fleet.web)
    if group_id is None:
        problems.append(f"there is no isolation group {name} in {fleet.vpc_id}")
    else:
        fleet.group_names[group_id] = name
        rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group_id]}])
        if rules["SecurityGroupRules"]:
            problems.append(f"the isolation group {group_id} has {len(rules['SecurityGroupRules'])} rule(s)")
        on_group = ec2.describe_network_interfaces(Filters=[{"Name": "group-id", "Values": [group_id]}])
        enis_on_group = {eni["NetworkInterfaceId"] for eni in on_group["NetworkInterfaces"]}
        if missing := sorted(set(web_before.enis) - enis_on_group):
            problems.append(f"ENIs of web-01 not on the isolation group: {', '.join(missing)}")
        for eni, (_, eni_groups) in web.enis.items():
            if eni_groups != [group_id]:
                problems.append(f"{eni} is on {eni_groups}, not only on {group_id}")
    if web.profiles != [outputs["isolation_instance_profile_arn"]]:
        problems.append(f"web-01's instance profile is {web.profiles or 'none'}, not the isolation profile")
    if web.tags.get(f"{KEY}:Status") != "Isolated":
        problems.append(f"web-01 has no {KEY}:Status=Isolated tag")
    worker = read_state(ec2, fleet.worker)
    if (worker.enis, worker.profiles, worker.tags) != (
        worker_before.enis,
        worker_before.profiles,
        worker_before.tags,
    ):
        problems.append("worker-01 changed although it was not tagged")
    return problems, group_id


# --------------------------------------------------------------------------------------------------
# The demo
# --------------------------------------------------------------------------------------------------


@contextmanager
def timed(report: Callable[[float], None]) -> Iterator[None]:
    started = time.monotonic()
    yield
    report(time.monotonic() - started)


def deploy(deployment: Deployment) -> dict[str, Any]:
    step(2, "deploying examples/basic with Terraform (init + apply, provider endpoints -> the emulator)")
    with timed(lambda seconds: detail(f"applied in {seconds:.0f} s")):
        outputs = deployment.apply()
        # moto would route every event through the schedule rules and try Docker for the queue's mapping
        eventbridge.take_over_emulator(deployment.emulator.session())
    resources = [a for a in deployment.state_addresses() if ".data." not in a and not a.startswith("data.")]
    detail(
        f"{len(resources)} resources: function {outputs['lambda_function_name']}, rule "
        f"{outputs['event_rule_name']}, deny-all instance profile "
        f"{outputs['isolation_instance_profile_name']}"
    )
    return outputs


def tag_and_route(session: boto3.session.Session, emulator: Emulator, fleet: Fleet) -> dict[str, Any]:
    """Steps 4 and 5: the analyst's tag, and the event EventBridge makes of it, routed."""
    ec2 = session.client("ec2")
    step(4, f"an analyst tags web-01 ({fleet.web}) as compromised:")
    detail(f"aws ec2 create-tags --resources {fleet.web} --tags Key={KEY},Value={VALUE}")
    ec2.create_tags(Resources=[fleet.web], Tags=[{"Key": KEY, "Value": VALUE}])

    step(5, 'EventBridge: the "Tag Change on Resource" event, for the tags now on web-01')
    event = tag_change_event(session, emulator, fleet)
    for line in json_lines(event, WIDTH - len(INDENT)):
        say(INDENT + line)
    route(session, event)
    return event


def tag_change_event(session: boto3.session.Session, emulator: Emulator, fleet: Fleet) -> dict[str, Any]:
    """The event EventBridge makes of a change of the isolation tag on web-01, with its tags now."""
    account = session.client("sts").get_caller_identity()["Account"]
    ec2 = session.client("ec2")
    event = eventbridge.tag_change_event(
        resource_arns=[f"arn:aws:ec2:{emulator.region}:{account}:instance/{fleet.web}"],
        tags=read_state(ec2, fleet.web).tags,
        changed_tag_keys=[KEY],
        account=account,
        region=emulator.region,
    )
    return event


def route(session: boto3.session.Session, event: Mapping[str, Any]) -> None:
    """Which rules of the default bus (read back from the emulator) match the event, and their targets."""
    events = session.client("events")
    rules = eventbridge.rules_on_bus(events)
    matched = [rule for rule in rules if rule.matches(event)]
    detail(f"{len(rules)} rule(s) on the default bus (patterns read back from the emulator); matching:")
    for rule in matched:
        detail(f"rule {rule.name} ({rule.state.lower()}) matches; its targets:")
        for route in eventbridge.routes_of(events, rule):
            detail(f"  {route.target_id}: {route.target_arn}")
    if not matched:
        detail("no rule matches: nothing will run")


def run_function(session: boto3.session.Session, event: Mapping[str, Any], names: Mapping[str, str]) -> int:
    """Step 6: the deployed function on the event. Returns the number of failed invocations."""
    step(6, "running the deployed function on the event (its zip, its handler, its environment)")
    return invoke_function(session, event, names)


def invoke_function(
    session: boto3.session.Session, event: Mapping[str, Any], names: Mapping[str, str]
) -> int:
    """The deployed function on the event, its compact log; the number of failed invocations."""
    delivery = eventbridge.deliver(session, event)
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    for invocation in delivery.invocations:
        detail(
            f"function {invocation.function_name}, handler {invocation.handler} ({invocation.runtime}; "
            f"run here by Python {python}, in a process of its own)"
        )
        detail(f"code: {invocation.code.source}")
        served = " (Code.Location is not served by moto)" if invocation.code.notes else ""
        detail(f"sha256: {invocation.code.sha256}{served}")
        say(INDENT + "log:")
        for line in compact_log(invocation.log_lines, names):
            say(INDENT + "  " + line)
        if invocation.ok:
            statuses = [str(i.get("status")) for i in invocation.payload.get("instances", [])]
            returned = ", ".join(statuses) or str(invocation.payload.get("action"))
            detail(f"returned {returned} in {invocation.seconds:.1f} s")
        else:
            error = invocation.payload
            detail(f"FAILED ({error.get('errorType')}): {error.get('errorMessage')}")
    return sum(not invocation.ok for invocation in delivery.invocations)


def verdict(
    ec2: EC2Client,
    fleet: Fleet,
    outputs: Mapping[str, Any],
    before: tuple[InstanceState, InstanceState],
    failed_invocations: int,
) -> int:
    """Step 7: before/after from the emulator, and the exit status."""
    step(7, "before and after, read from the emulator")
    web_before, worker_before = before
    problems, group_id = isolation_problems(ec2, fleet, outputs, web_before, worker_before)
    web_after, worker_after = read_state(ec2, fleet.web), read_state(ec2, fleet.worker)
    say()
    print_table([f"web-01 {fleet.web}", "before", "after"], before_after_rows(fleet, web_before, web_after))
    say()
    print_table(
        [f"worker-01 {fleet.worker} (not tagged)", "before", "after"],
        before_after_rows(fleet, worker_before, worker_after),
    )
    say()
    if group_id is not None:
        detail(
            f"{outputs['isolation_security_group_name']} = {group_id}: created by the function in "
            f"{fleet.vpc_id}, no inbound and no outbound rule"
        )
    if failed_invocations:
        problems.append(f"{failed_invocations} invocation(s) of the function failed")
    if problems:
        say("RESULT: web-01 was NOT isolated:")
        for problem in problems:
            detail(f"- {problem}")
        return EXIT_NOT_ISOLATED
    say("RESULT: web-01 is isolated (both ENIs on the rule-less isolation group only, deny-all instance")
    say("        profile, status tags); worker-01 is untouched.")
    return EXIT_ISOLATED


def release(
    session: boto3.session.Session, emulator: Emulator, fleet: Fleet, web_before: InstanceState
) -> int:
    """Steps 8 and 9: the analyst sets the same tag to Release; the recorded state comes back."""
    ec2 = session.client("ec2")
    isolated = read_state(ec2, fleet.web)
    step(8, f"the incident is over: the analyst sets the same tag on web-01 to {RELEASE}")
    detail(f"aws ec2 create-tags --resources {fleet.web} --tags Key={KEY},Value={RELEASE}")
    ec2.create_tags(Resources=[fleet.web], Tags=[{"Key": KEY, "Value": RELEASE}])
    event = tag_change_event(session, emulator, fleet)
    detail(f"event {event['id']}: tags.{KEY} = {RELEASE}")
    route(session, event)
    failed = invoke_function(session, event, fleet.names)

    step(9, "before, isolated and released, read from the emulator")
    released = read_state(ec2, fleet.web)
    say()
    print_table(
        [f"web-01 {fleet.web}", "before", "isolated", "released"],
        before_after_rows(fleet, web_before, isolated, released),
    )
    say()
    problems = release_problems(web_before, released)
    if failed:
        problems.append(f"{failed} invocation(s) of the function failed")
    if problems:
        say("RESULT: web-01 was NOT released:")
        for problem in problems:
            detail(f"- {problem}")
        return EXIT_NOT_ISOLATED
    say("RESULT: web-01 is released: its ENIs are back on their groups and its instance profile is back,")
    say("        as recorded before the isolation; the status tags say Released.")
    return EXIT_ISOLATED


def release_problems(before: InstanceState, after: InstanceState) -> list[str]:
    """What is not as it was recorded before the isolation (empty when web-01 is released)."""
    problems = [
        f"{eni} is on {after.enis.get(eni, (0, []))[1]}, not back on {groups}"
        for eni, (_, groups) in before.enis.items()
        if after.enis.get(eni, (0, []))[1] != groups
    ]
    if after.profiles != before.profiles:
        problems.append(f"web-01's instance profile is {after.profiles or 'none'}, not {before.profiles}")
    if after.tags.get(f"{KEY}:Status") != "Released":
        problems.append(f"web-01 has no {KEY}:Status=Released tag")
    return problems


def run(deployment: Deployment, emulator: Emulator, *, deliver: bool) -> int:
    """Steps 2 to 7; the exit status."""
    session = emulator.session()
    ec2 = session.client("ec2")
    outputs = deploy(deployment)

    step(3, "launching a small fleet: VPC, subnet, security groups app and mgmt, instance profile web-app")
    fleet = launch_fleet(session)
    before = read_state(ec2, fleet.web), read_state(ec2, fleet.worker)
    say()
    print_table(["name", "instance", "ENI (device)", "groups", "profile"], fleet_rows(fleet, before))
    say()

    event = tag_and_route(session, emulator, fleet)
    if deliver:
        failed = run_function(session, event, fleet.names)
    else:
        step(6, "skipped (--no-deliver): the event is not delivered, the function does not run")
        failed = 0
    status = verdict(ec2, fleet, outputs, before, failed)
    say()
    if status != EXIT_ISOLATED:
        step(8, "skipped: web-01 was not isolated, there is nothing to release")
        step(9, "skipped")
        return status
    return release(session, emulator, fleet, before[0])


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise Terminated(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    # For the test of the demo's own verdict: everything but the delivery, so isolation does not happen.
    parser.add_argument("--no-deliver", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)

    say("EC2 isolation demo: Terraform, EventBridge routing and the deployed Lambda code, all on a local")
    say(f"AWS emulator; no AWS account, fake credentials, nothing leaves this machine (pid {os.getpid()})")
    say()
    status = EXIT_ERROR
    emulator = Emulator()
    try:
        with emulator:  # the kernel picks the port: it is known once the server answers
            step(1, f"starting the AWS emulator on {emulator.host}:{emulator.port}")
            detail(f"moto server, pid {emulator.pid}, answering at {emulator.url}")
            deployment = Deployment(emulator)
            try:
                status = run(deployment, emulator, deliver=not args.no_deliver)
            finally:
                say()
                if deployment.applied:
                    say("[cleanup] terraform destroy")
                    try:
                        destroyed = deployment.destroy()
                        summary = [
                            line for line in destroyed.stdout.splitlines() if "Destroy complete" in line
                        ]
                        detail(summary[-1] if summary else "done")
                    except TerraformError as error:
                        detail(f"terraform destroy FAILED: {str(error).splitlines()[0]}")
                        status = EXIT_ERROR
                deployment.close(destroy=False)
                say("[cleanup] stopping the emulator")
    except (KeyboardInterrupt, Terminated):
        say("interrupted: cleaned up")
        return 130
    except TerraformError as error:
        say(f"ERROR: {error}")
        return EXIT_ERROR
    except Exception as error:
        traceback.print_exc()
        say(f"ERROR: {type(error).__name__}: {error} (traceback on stderr)")
        return EXIT_ERROR
    say("[cleanup] done")
    return status


if __name__ == "__main__":
    sys.exit(main())
