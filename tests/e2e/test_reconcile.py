"""End to end on a local AWS emulator: the reconciler keeps an isolated instance isolated when the
application team's pipeline, or an operator, undoes part of the isolation.

examples/basic is applied; web-01 (two ENIs, the web-app profile) runs with the application team's stack
applied (tests/e2e/app_stack: its security group on web-01's primary ENI), and is isolated through the
tag rule. Then the stack is re-applied as a routine pipeline does (the primary ENI back on the stack's
group) and an operator puts the web-app profile back by hand. The `<name>-reconcile` schedule comes due
(`deliver_scheduled`), and the reconcile queue is pumped as the Lambda service's event source mapping
would (`pump_queue`: the sweep message, then the converge message it sends): web-01 is isolated again,
and its record says what drifted. An API call of the real CloudTrail shape reaches the
`<name>-on-api-call` rule unless the function's own role made it, and repairs the drift at once.

Everything is read back from the emulator (rules, patterns, targets, the function's role, the queue, the
record), nothing from this repository's Terraform. The tests share one deployment and run in file order.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from boto3.dynamodb.types import TypeDeserializer

from tests.e2e.conftest import HERE, App, associations, eni_groups, groups_named, tags_of
from tests.fixtures.cloudtrail import api_call_event
from tests.fixtures.events import tag_change_event
from tools import deliver, tfcli
from tools.deliver import Invocation, Pump
from tools.emulator import Deployment, Emulator

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

pytestmark = pytest.mark.e2e

KEY, VALUE = "SecurityIsolation", "Isolate"
APP_STACK = HERE / "app_stack"
SWEEP_KIND, CONVERGE_KIND = "ec2-isolation.sweep", "ec2-isolation.converge"
#: the role the application team's pipeline runs as (its calls' session issuer)
PIPELINE_ROLE = "arn:aws:iam::123456789012:role/app-team-pipeline"


# ---- the application team's stack --------------------------------------------------------------------


class AppStack:
    """tests/e2e/app_stack, applied to the emulator from a temporary copy (provider override, offline
    CLI configuration). Never destroyed: it would take the group off an isolated instance's ENI, and the
    emulator goes with the module anyway."""

    def __init__(self, emulator: Emulator, instance_id: str) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="app-stack-"))
        self.directory = self.root / "app_stack"
        shutil.copytree(APP_STACK, self.directory, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*"))
        tfcli.write_provider_override(self.directory, endpoint_url=emulator.url, region=emulator.region)
        self.env = tfcli.terraform_env(self.root / "cli", region=emulator.region)
        self.instance_id = instance_id
        self.emulator = emulator
        self.outputs: dict[str, Any] = {}
        tfcli.run_terraform(["init", "-backend=false", "-input=false"], cwd=self.directory, env=self.env)

    def apply(self) -> dict[str, Any]:
        """``terraform apply``, as the team's pipeline runs it; the outputs. A failure says what the
        emulator answered with a 5xx."""
        self.emulator.terraform(
            ["apply", "-auto-approve", "-input=false", "-lock=false", f"-var=instance_id={self.instance_id}"],
            cwd=self.directory,
            env=self.env,
        )
        shown = tfcli.run_terraform(["output", "-json"], cwd=self.directory, env=self.env)
        self.outputs = {name: output["value"] for name, output in json.loads(shown.stdout).items()}
        return self.outputs

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="module")
def app_stack(emulator: Emulator, ec2: EC2Client, app: App) -> Iterator[AppStack]:
    """Given web-01 deployed with the application team's stack (its group on the primary ENI)."""
    stack = AppStack(emulator, app.instance_id)
    try:
        stack.apply()
        primary = stack.outputs["network_interface_id"]
        assert stack.outputs["security_group_id"] in eni_groups(ec2, app.instance_id)[primary]
        yield stack
    finally:
        stack.close()


# ---- the deployment's reconciler, read back from the emulator ----------------------------------------


@dataclass(frozen=True)
class Reconciler:
    name: str
    function_role_arn: str
    queue_url: str
    schedule_rule: str
    api_call_rule: str
    record_table: str
    packages: tuple[Path, ...]
    """Where the deployed zip is: the deployment's own copy of the repository, whose bytes Terraform
    deployed (the working tree's zip may be rebuilt meanwhile)."""


@pytest.fixture(scope="module")
def reconciler(session: boto3.session.Session, deployment: Deployment, outputs: dict[str, Any]) -> Reconciler:
    """The deployed reconciler's names; its schedules and its queue's event source mapping are taken
    over by the harness before the function runs (`deliver.take_over_emulator`: see there why)."""
    name = outputs["lambda_function_name"]
    configuration = session.client("lambda").get_function_configuration(FunctionName=name)
    queue_url = session.client("sqs").get_queue_url(QueueName=f"{name}-reconcile")["QueueUrl"]
    queue_arn = session.client("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    taken = deliver.take_over_emulator(session)
    assert sorted(rule.name for rule in taken.schedule_rules) == [
        f"{name}-reconcile",
        f"{name}-reconcile-full",
    ]
    [mapping] = taken.event_source_mappings
    assert (mapping.function_arn, mapping.event_source_arn) == (configuration["FunctionArn"], queue_arn)
    assert mapping.batch_size == 1 and mapping.reports_batch_item_failures
    return Reconciler(
        name=name,
        function_role_arn=configuration["Role"],
        queue_url=queue_url,
        schedule_rule=f"{name}-reconcile",
        api_call_rule=f"{name}-on-api-call",
        record_table=outputs["record_table_name"],
        packages=(deployment.module / "lambda" / "dist",),
    )


@dataclass(frozen=True)
class Isolated:
    group_id: str
    enis: tuple[str, ...]
    primary_eni: str
    stack_group_id: str


@pytest.fixture(scope="module")
def isolated(
    session: boto3.session.Session,
    ec2: EC2Client,
    app: App,
    outputs: dict[str, Any],
    app_stack: AppStack,
    reconciler: Reconciler,
) -> Isolated:
    """When the analyst tags web-01 and the tag rule delivers the event: web-01 is isolated."""
    ec2.create_tags(Resources=[app.instance_id], Tags=[{"Key": KEY, "Value": VALUE}])
    event = tag_change_event([app.instance_id], tags=tags_of(ec2, app.instance_id), changed_keys=[KEY])
    [invocation] = deliver.deliver(session, event, local_packages=reconciler.packages).invocations
    assert invocation.ok, explain(invocation)
    [group] = groups_named(ec2, outputs["isolation_security_group_name"], app.vpc_id)
    enis = eni_groups(ec2, app.instance_id)
    assert enis == {eni: [group["GroupId"]] for eni in enis}
    assert [arn for _, arn in associations(ec2, app.instance_id)] == [
        outputs["isolation_instance_profile_arn"]
    ]
    return Isolated(
        group_id=group["GroupId"],
        enis=tuple(sorted(enis)),
        primary_eni=app_stack.outputs["network_interface_id"],
        stack_group_id=app_stack.outputs["security_group_id"],
    )


def record_of(session: boto3.session.Session, table: str, instance_id: str) -> dict[str, Any]:
    """The instance's record, as the function wrote it to the record table."""
    item = session.client("dynamodb").get_item(
        TableName=table, Key={"instance_id": {"S": instance_id}}, ConsistentRead=True
    )
    assert "Item" in item, f"no record of {instance_id} in {table}"
    deserializer = TypeDeserializer()
    return {key: deserializer.deserialize(value) for key, value in item["Item"].items()}


def attempts_of(session: boto3.session.Session, table: str, instance_id: str) -> list[dict[str, Any]]:
    return list(record_of(session, table, instance_id).get("attempts") or [])


def bodies(pump: Pump) -> list[dict[str, Any]]:
    """The message bodies of each batch the queue's function got, in order."""
    return [json.loads(record["body"]) for batch in pump.batches for record in batch.event["Records"]]


def run_the_schedule(session: boto3.session.Session, reconciler: Reconciler) -> Pump:
    """The `<name>-reconcile` schedule comes due, then the Lambda service works through its queue."""
    delivery = deliver.deliver_scheduled(
        session, reconciler.schedule_rule, local_packages=reconciler.packages
    )
    [invocation] = delivery.invocations
    assert invocation.ok, explain(invocation)
    pump = deliver.pump_queue(
        session, reconciler.queue_url, max_invocations=20, local_packages=reconciler.packages
    )
    for batch in pump.batches:
        assert batch.invocation.ok and batch.failed == (), (batch.outcome, explain(batch.invocation))
    assert pump.drained, f"left in the reconcile queue: {pump.visible} visible, {pump.in_flight} in flight"
    return pump


def explain(invocation: Invocation) -> str:
    """What an invocation returned, and the warnings and errors it logged (for a failed assertion)."""
    logged = [
        line
        for line in invocation.json_log_lines()
        if str(line.get("level", "")).upper() in ("WARNING", "ERROR")
    ]
    return json.dumps({"payload": invocation.payload, "logged": logged[-10:]}, indent=1, default=str)


def mentions(entry: Any, *values: str) -> bool:
    text = json.dumps(entry, default=str)
    return all(value in text for value in values)


# ---- the scheduled sweep -----------------------------------------------------------------------------


def test_a_sweep_of_a_fresh_isolation_changes_nothing(
    session: boto3.session.Session, ec2: EC2Client, app: App, reconciler: Reconciler, isolated: Isolated
) -> None:
    # Given web-01 just isolated
    groups, profiles = eni_groups(ec2, app.instance_id), associations(ec2, app.instance_id)
    attempts = attempts_of(session, reconciler.record_table, app.instance_id)
    # When the schedule comes due and the queue is worked through
    pump = run_the_schedule(session, reconciler)
    # Then nothing changed: the ENIs, the profile, the record's attempts (no drift repair)
    assert eni_groups(ec2, app.instance_id) == groups
    assert associations(ec2, app.instance_id) == profiles
    new = attempts_of(session, reconciler.record_table, app.instance_id)[len(attempts) :]
    assert new == [], json.dumps(new, indent=1, default=str)
    # and the sweep ran (one account and region) and queued no convergence: web-01 needs no EC2 change
    assert [body["kind"] for body in bodies(pump)][:1] == [SWEEP_KIND]
    converges = [body for body in bodies(pump) if body["kind"] != SWEEP_KIND]
    assert converges == [], json.dumps([converges, pump.results], indent=1, default=str)


def test_a_re_applied_app_stack_and_a_profile_put_back_by_hand_are_repaired_by_the_sweep(
    session: boto3.session.Session,
    ec2: EC2Client,
    app: App,
    outputs: dict[str, Any],
    app_stack: AppStack,
    reconciler: Reconciler,
    isolated: Isolated,
) -> None:
    # Given the isolated web-01, when the team's pipeline re-applies its stack (the primary ENI is back on
    # the stack's group, beside the isolation group) and an operator puts the web-app profile back
    app_stack.apply()
    assert isolated.stack_group_id in eni_groups(ec2, app.instance_id)[isolated.primary_eni]
    [(association_id, _)] = associations(ec2, app.instance_id)
    ec2.replace_iam_instance_profile_association(
        AssociationId=association_id, IamInstanceProfile={"Arn": app.profile_arn}
    )
    assert [arn for _, arn in associations(ec2, app.instance_id)] == [app.profile_arn]
    # When the schedule comes due and the queue is worked through
    pump = run_the_schedule(session, reconciler)
    # Then the sweep message came first, and the converge message it sent for web-01 after it
    kinds = [body["kind"] for body in bodies(pump)]
    assert kinds[0] == SWEEP_KIND
    converged = [body for body in bodies(pump) if body["kind"] == CONVERGE_KIND]
    assert [body["instance_id"] for body in converged] == [app.instance_id]
    sweep = bodies(pump)[0]
    assert (sweep["mode"], sweep["account"], sweep["region"]) == ("sweep", "123456789012", "us-east-1")
    # and web-01 is isolated again: every ENI on the isolation group alone, the isolation profile
    assert eni_groups(ec2, app.instance_id) == {eni: [isolated.group_id] for eni in isolated.enis}
    assert [arn for _, arn in associations(ec2, app.instance_id)] == [
        outputs["isolation_instance_profile_arn"]
    ]
    # and its record's last attempt is a drift repair that names what drifted
    last = attempts_of(session, reconciler.record_table, app.instance_id)[-1]
    assert last["action"] == "drift"
    assert mentions(last, isolated.primary_eni, isolated.stack_group_id), last
    assert mentions(last, app.profile_arn), last
    assert tags_of(ec2, app.instance_id)[KEY] == VALUE


# ---- API calls recorded by CloudTrail ----------------------------------------------------------------


def test_an_api_call_of_the_real_shape_reaches_the_rule_unless_the_function_made_it(
    session: boto3.session.Session, app: App, reconciler: Reconciler, isolated: Isolated
) -> None:
    # Given the deployed rule, read back with its pattern, and the function's role (from the emulator)
    rule = deliver.describe_rule(session.client("events"), reconciler.api_call_rule)
    assert rule.state == "ENABLED" and rule.event_pattern
    groups = [isolated.group_id, isolated.stack_group_id]
    # When CloudTrail records the pipeline's ModifyNetworkInterfaceAttribute on web-01's primary ENI
    by_pipeline = api_call_event(
        "modify_network_interface_attribute",
        network_interface_id=isolated.primary_eni,
        group_ids=groups,
        issuer_role_arn=PIPELINE_ROLE,
    )
    # Then the rule matches it (and no other rule of the bus does)
    assert [r.name for r in deliver.matching_rules(session, by_pipeline)] == [reconciler.api_call_rule]
    # but not the same call made by the function's own role (its isolation, its repairs)
    by_the_function = api_call_event(
        "modify_network_interface_attribute",
        network_interface_id=isolated.primary_eni,
        group_ids=[isolated.group_id],
        issuer_role_arn=reconciler.function_role_arn,
    )
    assert deliver.matching_rules(session, by_the_function) == []
    # nor a call that failed
    failed = api_call_event(
        "modify_network_interface_attribute",
        network_interface_id=isolated.primary_eni,
        group_ids=groups,
        issuer_role_arn=PIPELINE_ROLE,
        error_code="Client.UnauthorizedOperation",
    )
    assert deliver.matching_rules(session, failed) == []
    # while calls of an IAM user's access key (no sessionContext) and of a console session (an empty
    # sessionIssuer) match, whatever the service of the call
    by_access_key = api_call_event("authorize_security_group_ingress", group_ids=[isolated.group_id])
    in_the_console = api_call_event(
        "modify_instance_attribute_disable_api_termination", instance_id=app.instance_id
    )
    by_the_root_user = api_call_event(
        "attach_network_interface", instance_id=app.instance_id, network_interface_id=isolated.primary_eni
    )
    for event in (by_access_key, in_the_console, by_the_root_user):
        assert [r.name for r in deliver.matching_rules(session, event)] == [reconciler.api_call_rule], event
    for name in ("attach_instances", "exit_standby", "register_targets"):
        event = api_call_event(name, instance_id=app.instance_id, issuer_role_arn=PIPELINE_ROLE)
        assert [r.name for r in deliver.matching_rules(session, event)] == [reconciler.api_call_rule], name


def test_the_api_call_of_a_re_apply_repairs_the_drift_at_once(
    session: boto3.session.Session,
    ec2: EC2Client,
    app: App,
    app_stack: AppStack,
    reconciler: Reconciler,
    isolated: Isolated,
) -> None:
    # Given the isolated web-01, when the pipeline re-applies the stack once more
    app_stack.apply()
    groups_now = eni_groups(ec2, app.instance_id)[isolated.primary_eni]
    assert isolated.stack_group_id in groups_now
    attempts = attempts_of(session, reconciler.record_table, app.instance_id)
    # and EventBridge delivers the ModifyNetworkInterfaceAttribute CloudTrail recorded for it
    event = api_call_event(
        "modify_network_interface_attribute",
        network_interface_id=isolated.primary_eni,
        group_ids=groups_now,
        issuer_role_arn=PIPELINE_ROLE,
    )
    delivery = deliver.deliver(session, event, local_packages=reconciler.packages)
    # Then the rule ran the function once, and web-01 is back on the isolation group alone
    assert [rule.name for rule in delivery.matched] == [reconciler.api_call_rule]
    [invocation] = delivery.invocations
    assert invocation.ok, explain(invocation)
    assert eni_groups(ec2, app.instance_id) == {eni: [isolated.group_id] for eni in isolated.enis}
    # and the record's new attempt is a drift repair naming the ENI and the group that came back
    new = attempts_of(session, reconciler.record_table, app.instance_id)[len(attempts) :]
    assert [attempt["action"] for attempt in new] == ["drift"]
    assert mentions(new[0], isolated.primary_eni, isolated.stack_group_id), new[0]
    # and nothing was left for the queue
    assert deliver.pump_queue(session, reconciler.queue_url, local_packages=reconciler.packages).batches == ()
