"""Specification of cross-account and cross-region isolation: the handler acts on the
instance in the event's own account and region, through the member account's executor role (with a
session policy) or a client of the other region, while the record, the notifications and the result
events stay in the function's own account."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from ec2_isolation.accounts import (
    MAX_SESSION_POLICY_CHARS,
    VIA_EC2_KMS_ACTIONS,
    clients_for,
    member_actions,
    session_name,
    session_policy,
)
from ec2_isolation.clients import AwsClients
from ec2_isolation.config import Settings
from ec2_isolation.errors import ConfigurationError, EventIsolationFailed, InvalidEvent
from ec2_isolation.events import FunctionIdentity, Target, parse_event
from ec2_isolation.steps import required_actions
from ec2_isolation.steps.record import read_record
from tests.fixtures.events import (
    ACCOUNT,
    REGION,
    SECURITY_HUB_ACTION_ARN,
    guardduty_finding_event,
    security_hub_action_event,
    tag_change_event,
)
from tests.fixtures.faults import Fault, inject, record_calls
from tests.fixtures.iam_calls import record_on
from tests.unit.conftest import (
    FUNCTION_ARN,
    RECORD_TABLE,
    Invoke,
    Launch,
    Network,
    eni_groups,
    groups_named,
    make_network,
    profile_arns,
    tags_of,
)
from tools.fleet import create_instance_profile, launch_instance

MEMBER = "210987654321"
#: an account neither the default settings nor ``xsettings`` serve
STRANGER = "111122223333"
OTHER_REGION = "eu-west-1"
ROLE = "security/ec2-isolation-executor"
EXTERNAL_ID = "ec2-isolation-ir"
HERE = FunctionIdentity.from_function_arn(FUNCTION_ARN)
#: an account id in fullwidth digits (regex \\d matches them; an account id may not)
FULLWIDTH_ACCOUNT = "".join(chr(0xFF10 + int(digit)) for digit in "123456789012")


@pytest.fixture
def xsettings(settings: Settings) -> Settings:
    """The central function's settings, serving the member account and its own other regions."""
    return dataclasses.replace(
        settings,
        member_account_ids=frozenset({MEMBER, ACCOUNT}),
        executor_role_name=ROLE,
        executor_external_id=EXTERNAL_ID,
    )


@pytest.fixture
def sts_calls(clients: AwsClients) -> Any:
    """The central STS client's calls (recorded for the policy coverage test too)."""
    record_on(clients.sts)
    return record_calls(clients.sts)


def member_session(region: str = REGION) -> boto3.session.Session:
    """A session acting in the member account (moto keeps accounts apart by the assumed role's account)."""
    credentials = boto3.client("sts", region_name=REGION).assume_role(
        RoleArn=f"arn:aws:iam::{MEMBER}:role/setup", RoleSessionName="setup"
    )["Credentials"]
    return boto3.session.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=region,
    )


@pytest.fixture
def member() -> dict[str, Any]:
    """The member account: its isolation and app instance profiles, a VPC, and an instance."""
    session = member_session()
    ec2, iam = session.client("ec2"), session.client("iam")
    isolation = create_instance_profile(iam, "ec2-isolation-isolation")
    app = create_instance_profile(iam, "web-app")
    network = make_network(ec2, "10.7.0.0/16")
    instance_id = launch_instance(
        ec2, subnet_id=network.subnet_id, enis=[[network.app_group_id]], name="member-web", profile_arn=app
    )
    return {"ec2": ec2, "iam": iam, "isolation": isolation, "app": app, "net": network, "id": instance_id}


@pytest.fixture
def xtriggers(xsettings: Settings) -> Settings:
    """The central function of a GuardDuty and Security Hub administrator account, both triggers on."""
    return dataclasses.replace(
        xsettings,
        guardduty_trigger=True,
        guardduty_minimum_severity=7.0,
        security_hub_action_arn=SECURITY_HUB_ACTION_ARN,
    )


def central_record(key: str) -> dict[str, Any] | None:
    return read_record(boto3.client("dynamodb", region_name=REGION), RECORD_TABLE, key)


def assert_isolated_in(ec2: Any, instance_id: str, vpc_id: str, profile_arn: str) -> None:
    """The instance is isolated by the EC2 client of its own account: ENIs on that account's isolation
    group, its isolation profile, the status tag."""
    (group,) = groups_named(ec2, "ec2-isolation-isolation", vpc_id)
    assert eni_groups(ec2, instance_id)
    assert all(groups == [group["GroupId"]] for groups in eni_groups(ec2, instance_id).values())
    assert profile_arns(ec2, instance_id) == [profile_arn]
    assert tags_of(ec2, instance_id)["SecurityIsolation:Status"] == "Isolated"


def isolate_event(instance_id: str, account: str = MEMBER, region: str = REGION, **kw: Any) -> dict[str, Any]:
    return tag_change_event(
        [instance_id], tags={"SecurityIsolation": "Isolate"}, account=account, region=region, **kw
    )


class TestSettings:
    def test_the_defaults_serve_the_functions_own_account_and_region_only(self, settings: Settings) -> None:
        assert settings.member_account_ids == frozenset()
        assert (settings.organization_id, settings.executor_role_name, settings.executor_external_id) == (
            "",
            "",
            "",
        )
        assert not settings.serves_other_accounts

    def test_the_environment_names_members_organization_role_and_external_id(
        self, function_env: dict[str, str]
    ) -> None:
        env = {
            **function_env,
            "MEMBER_ACCOUNT_IDS": f" {MEMBER},111122223333 ,",
            "ORGANIZATION_ID": "o-abc123def4",
            "EXECUTOR_ROLE_NAME": ROLE,
            "EXECUTOR_EXTERNAL_ID": EXTERNAL_ID,
        }
        settings = Settings.from_env(env)
        assert settings.member_account_ids == {MEMBER, "111122223333"}
        assert settings.organization_id == "o-abc123def4"
        assert settings.executor_role_name == ROLE
        assert settings.executor_external_id == EXTERNAL_ID

    @pytest.mark.parametrize(
        ("name", "value", "message"),
        [
            ("MEMBER_ACCOUNT_IDS", "12345", "12-digit"),
            ("MEMBER_ACCOUNT_IDS", FULLWIDTH_ACCOUNT, "12-digit"),
            ("ORGANIZATION_ID", "r-abcd", "organization id"),
            ("EXECUTOR_ROLE_NAME", "bad role", "EXECUTOR_ROLE_NAME"),
            ("EXECUTOR_EXTERNAL_ID", "x", "EXECUTOR_EXTERNAL_ID"),
        ],
    )
    def test_an_invalid_value_is_refused(
        self, function_env: dict[str, str], name: str, value: str, message: str
    ) -> None:
        env = {**function_env, "MEMBER_ACCOUNT_IDS": MEMBER, "EXECUTOR_ROLE_NAME": ROLE, name: value}
        with pytest.raises(ConfigurationError, match=message):
            Settings.from_env(env)

    def test_members_need_an_executor_role(self, function_env: dict[str, str]) -> None:
        with pytest.raises(ConfigurationError, match="EXECUTOR_ROLE_NAME is needed"):
            Settings.from_env({**function_env, "MEMBER_ACCOUNT_IDS": MEMBER})

    def test_a_member_accounts_isolation_profile_has_the_central_path_and_name(
        self, settings: Settings
    ) -> None:
        central = settings.isolation_instance_profile_arn
        assert settings.isolation_profile_for(ACCOUNT) == central
        assert settings.isolation_profile_for(MEMBER) == central.replace(f":{ACCOUNT}:", f":{MEMBER}:")
        assert settings.for_account(ACCOUNT) is settings


class TestEvents:
    def test_by_default_another_account_or_region_is_refused(self) -> None:
        for account, region in ((MEMBER, REGION), (ACCOUNT, OTHER_REGION)):
            with pytest.raises(InvalidEvent, match=f"event is from account {account} in {region}"):
                parse_event(isolate_event("i-0123456789abcdef0", account, region), HERE)

    def test_a_member_account_is_served_in_any_region_and_another_account_is_not(self) -> None:
        members = frozenset({MEMBER})
        parsed = parse_event(
            isolate_event("i-0123456789abcdef0", MEMBER, OTHER_REGION), HERE, member_account_ids=members
        )
        assert (parsed.account, parsed.region) == (MEMBER, OTHER_REGION)
        with pytest.raises(InvalidEvent, match=f"serves {ACCOUNT} in {REGION} and accounts {MEMBER}"):
            parse_event(
                isolate_event("i-0123456789abcdef0", "111122223333"), HERE, member_account_ids=members
            )
        # the function's own other regions only when its account is listed
        with pytest.raises(InvalidEvent):
            parse_event(
                isolate_event("i-0123456789abcdef0", ACCOUNT, OTHER_REGION), HERE, member_account_ids=members
            )

    def test_an_organization_without_a_member_list_serves_any_well_formed_account(self) -> None:
        parsed = parse_event(
            isolate_event("i-0123456789abcdef0", "111122223333", "ap-southeast-2"),
            HERE,
            organization_id="o-abc123def4",
        )
        assert parsed.account == "111122223333"
        event = isolate_event("i-0123456789abcdef0", FULLWIDTH_ACCOUNT)
        with pytest.raises(InvalidEvent):
            parse_event(event, HERE, organization_id="o-abc123def4")

    @pytest.mark.parametrize(
        "arn",
        [
            f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/i-0123456789abcdef0",  # the function's, not the event's
            f"arn:aws:ec2:{OTHER_REGION}:{MEMBER}:instance/i-0123456789abcdef0",
            f"arn:aws-cn:ec2:{REGION}:{MEMBER}:instance/i-0123456789abcdef0",
        ],
    )
    def test_the_instances_must_be_of_the_events_account_and_region_and_the_functions_partition(
        self, arn: str
    ) -> None:
        event = isolate_event("i-0123456789abcdef0", MEMBER, REGION)
        event["resources"] = [arn]
        with pytest.raises(InvalidEvent, match="outside this function's partition, account and region"):
            parse_event(event, HERE, member_account_ids={MEMBER})

    def test_each_event_lists_its_targets_where_they_are(self) -> None:
        # a tag event: every instance in the event's account and region
        tag = parse_event(
            isolate_event("i-0123456789abcdef0", MEMBER, OTHER_REGION), HERE, member_account_ids={MEMBER}
        )
        assert tag.targets == (Target(MEMBER, OTHER_REGION, "i-0123456789abcdef0"),)
        # a GuardDuty finding on the central bus: its instance in the finding's account and region
        finding = guardduty_finding_event("i-0123456789abcdef0", finding_account=MEMBER)
        parsed = parse_event(finding, HERE, member_account_ids={MEMBER})
        assert parsed.targets == (Target(MEMBER, REGION, "i-0123456789abcdef0"),)
        # a Security Hub custom action: each instance where its ARN says, the same id in two accounts twice
        action = security_hub_action_event(
            ["i-0123456789abcdef0", "i-0123456789abcdef0"], accounts=[ACCOUNT, MEMBER]
        )
        assert parse_event(action, HERE, member_account_ids={MEMBER}).targets == (
            Target(ACCOUNT, REGION, "i-0123456789abcdef0"),
            Target(MEMBER, REGION, "i-0123456789abcdef0"),
        )

    def test_by_default_a_finding_of_another_account_is_refused(self) -> None:
        finding = guardduty_finding_event("i-0123456789abcdef0", finding_account=MEMBER)
        with pytest.raises(
            InvalidEvent, match=f"is about account {MEMBER} in {REGION}; this function serves"
        ):
            parse_event(finding, HERE)
        action = security_hub_action_event(["i-0123456789abcdef0"], account=MEMBER)
        with pytest.raises(InvalidEvent, match=f"in account {MEMBER} in {REGION}; this function serves"):
            parse_event(action, HERE)

    def test_an_organization_without_a_member_list_serves_the_findings_of_any_well_formed_account(
        self,
    ) -> None:
        finding = guardduty_finding_event("i-0123456789abcdef0", finding_account=STRANGER)
        finding["detail"]["region"] = "ap-southeast-2"
        parsed = parse_event(finding, HERE, organization_id="o-abc123def4")
        assert parsed.targets == (Target(STRANGER, "ap-southeast-2", "i-0123456789abcdef0"),)
        action = security_hub_action_event(["i-0123456789abcdef0"], account=STRANGER)
        assert parse_event(action, HERE, organization_id="o-abc123def4").targets == (
            Target(STRANGER, REGION, "i-0123456789abcdef0"),
        )
        finding["detail"]["accountId"] = FULLWIDTH_ACCOUNT
        with pytest.raises(InvalidEvent, match="is about account"):
            parse_event(finding, HERE, organization_id="o-abc123def4")

    def test_a_security_hub_instance_of_another_partition_is_refused_even_of_a_member(self) -> None:
        action = security_hub_action_event(["i-0123456789abcdef0"], account=MEMBER)
        arn = action["detail"]["findings"][0]["Resources"][0]["Id"]
        action["detail"]["findings"][0]["Resources"][0]["Id"] = arn.replace("arn:aws:", "arn:aws-cn:")
        with pytest.raises(InvalidEvent, match="outside this function's partition"):
            parse_event(action, HERE, member_account_ids={MEMBER})


class TestSessionPolicy:
    def test_it_allows_exactly_the_steps_actions_but_the_central_services_and_ec2s_kms_calls(self) -> None:
        policy = session_policy()
        assert len(policy) <= MAX_SESSION_POLICY_CHARS
        (statement,) = json.loads(policy)["Statement"]
        assert statement == {"Effect": "Allow", "Action": member_actions(), "Resource": "*"}
        central = {
            a for a in required_actions() if a.split(":")[0] in {"dynamodb", "sns", "events", "sqs", "sts"}
        }
        # and what EC2 calls in KMS with the session's permissions when it copies evidence under a key
        assert set(statement["Action"]) == (required_actions() - central) | VIA_EC2_KMS_ACTIONS
        assert {"kms:CreateGrant", "kms:Decrypt", "kms:ReEncryptTo"} <= set(statement["Action"])
        assert (
            "sts:AssumeRole" in required_actions()
            and "ec2:ModifyNetworkInterfaceAttribute" in statement["Action"]
        )

    def test_a_policy_too_long_allows_the_widest_services_whole_until_it_fits(self) -> None:
        actions = member_actions()
        policy = json.loads(session_policy(actions, limit=600))
        assert "ec2:*" in policy["Statement"][0]["Action"]
        assert "iam:PassRole" in policy["Statement"][0]["Action"]
        with pytest.raises(ConfigurationError, match="cannot fit"):
            session_policy(actions, limit=50)

    def test_the_session_name_is_safe_and_short(self) -> None:
        name = session_name("0a1b2c3d-4e5f-6789-abcd-ef0123456789" * 3 + " /x")
        assert name.startswith("ec2-isolation-0a1b2c3d") and len(name) == 64
        assert session_name("a b/c") == "ec2-isolation-a-b-c"


class TestMemberAccount:
    def test_an_event_of_a_member_account_isolates_its_instance_there(
        self, member: dict[str, Any], invoke: Invoke, xsettings: Settings, ec2: Any, sts_calls: Any
    ) -> None:
        # Given an instance of the member account, with its app profile
        instance_id = member["id"]
        # When its isolation event reaches the central function
        summary = invoke(isolate_event(instance_id, event_id="evt-member-1"), settings=xsettings)
        # Then the instance is isolated in the member account: its ENI on the member's isolation group,
        # the member's isolation profile in place of its own, the status tags written there
        assert summary["instances"][0]["status"] == "isolated", summary
        (group,) = groups_named(member["ec2"], "ec2-isolation-isolation", member["net"].vpc_id)
        assert eni_groups(member["ec2"], instance_id)
        assert all(groups == [group["GroupId"]] for groups in eni_groups(member["ec2"], instance_id).values())
        assert profile_arns(member["ec2"], instance_id) == [member["isolation"]]
        assert tags_of(member["ec2"], instance_id)["SecurityIsolation:Status"] == "Isolated"
        # and the central account's EC2 is untouched
        assert groups_named(ec2, "ec2-isolation-isolation") == []
        # and the record is in the central table, under the account and region
        record = read_record(
            boto3.client("dynamodb", region_name=REGION), RECORD_TABLE, f"{MEMBER}:{REGION}:{instance_id}"
        )
        assert record is not None and record["status"] == "isolated"
        assert read_record(boto3.client("dynamodb", region_name=REGION), RECORD_TABLE, instance_id) is None
        # and the executor role was assumed once, with the external id, the event's session name, 15
        # minutes, and the session policy
        (assume,) = sts_calls.sent("AssumeRole")
        assert assume["RoleArn"] == f"arn:aws:iam::{MEMBER}:role/{ROLE}"
        assert assume["ExternalId"] == EXTERNAL_ID
        assert assume["RoleSessionName"] == "ec2-isolation-evt-member-1"
        assert assume["DurationSeconds"] == "900"
        assert assume["Policy"] == session_policy()

    def test_release_restores_the_instance_in_the_member_account(
        self, member: dict[str, Any], invoke: Invoke, xsettings: Settings
    ) -> None:
        instance_id = member["id"]
        before = eni_groups(member["ec2"], instance_id)
        invoke(isolate_event(instance_id), settings=xsettings)
        member["ec2"].create_tags(
            Resources=[instance_id], Tags=[{"Key": "SecurityIsolation", "Value": "Release"}]
        )
        release = tag_change_event(
            [instance_id], tags={"SecurityIsolation": "Release"}, account=MEMBER, region=REGION
        )
        summary = invoke(release, settings=xsettings)
        assert summary["instances"][0]["status"] == "released", summary
        assert eni_groups(member["ec2"], instance_id) == before
        assert profile_arns(member["ec2"], instance_id) == [member["app"]]
        record = read_record(
            boto3.client("dynamodb", region_name=REGION), RECORD_TABLE, f"{MEMBER}:{REGION}:{instance_id}"
        )
        assert record is not None and record["status"] == "released"

    def test_an_account_not_served_is_refused_without_any_aws_call(
        self, invoke: Invoke, xsettings: Settings, clients: AwsClients, sts_calls: Any
    ) -> None:
        calls = record_calls(clients.ec2, clients.dynamodb)
        with pytest.raises(InvalidEvent, match="event is from account 111122223333"):
            invoke(isolate_event("i-0123456789abcdef0", "111122223333"), settings=xsettings)
        assert calls.calls == [] and sts_calls.calls == []

    def test_a_denied_assume_role_fails_the_instance_and_names_the_role_and_account(
        self, member: dict[str, Any], invoke: Invoke, xsettings: Settings, clients: AwsClients, sts_calls: Any
    ) -> None:
        # Given a member account whose executor role does not trust the function
        inject(
            clients.sts, Fault("AssumeRole", "AccessDenied", "not authorized to perform: sts:AssumeRole", 403)
        )
        # When its event arrives, Then the invocation fails (retried, then dead-lettered)
        with pytest.raises(EventIsolationFailed) as failed:
            invoke(isolate_event(member["id"]), settings=xsettings)
        (result,) = failed.value.summary["instances"]
        assert result["status"] == "failed"
        assert f"arn:aws:iam::{MEMBER}:role/{ROLE}" in result["failures"]["isolation"]
        assert f"of account {MEMBER}" in result["failures"]["isolation"]
        assert "AccountAccessDenied" in result["failures"]["isolation"]
        # and nothing changed in the member account, nothing was recorded
        assert groups_named(member["ec2"], "ec2-isolation-isolation") == []
        assert (
            read_record(
                boto3.client("dynamodb", region_name=REGION),
                RECORD_TABLE,
                f"{MEMBER}:{REGION}:{member['id']}",
            )
            is None
        )

    def test_an_assumed_session_is_reused_until_five_minutes_before_it_expires(
        self, clients: AwsClients, xsettings: Settings, sts_calls: Any
    ) -> None:
        first = clients_for(clients, xsettings, HERE, MEMBER, REGION, event_id="e1")
        expires = clients.elsewhere[(MEMBER, REGION)][1]
        assert (
            clients_for(
                clients,
                xsettings,
                HERE,
                MEMBER,
                REGION,
                event_id="e2",
                now=lambda: expires - timedelta(minutes=6),
            )
            is first
        )
        assert len(sts_calls.sent("AssumeRole")) == 1
        # another region of the member account is another session
        clients_for(clients, xsettings, HERE, MEMBER, OTHER_REGION, event_id="e3")
        assert len(sts_calls.sent("AssumeRole")) == 2
        renewed = clients_for(
            clients,
            xsettings,
            HERE,
            MEMBER,
            REGION,
            event_id="e4",
            now=lambda: expires - timedelta(minutes=4),
        )
        assert renewed is not first and len(sts_calls.sent("AssumeRole")) == 3
        # the central services stay the function's own
        assert (
            renewed.dynamodb is clients.dynamodb
            and renewed.sns is clients.sns
            and renewed.events is clients.events
        )
        assert (
            clients_for(
                clients, xsettings, HERE, ACCOUNT, REGION, event_id="e5", now=lambda: datetime.now(tz=UTC)
            )
            is clients
        )


class TestOtherRegion:
    def test_an_event_of_another_region_of_the_functions_account_isolates_there_without_assuming(
        self, invoke: Invoke, xsettings: Settings, ec2: Any, sts_calls: Any, isolation_profile_arn: str
    ) -> None:
        there = boto3.client("ec2", region_name=OTHER_REGION)
        network: Network = make_network(there, "10.9.0.0/16")
        instance_id = launch_instance(
            there, subnet_id=network.subnet_id, enis=[[network.app_group_id]], name="eu-web"
        )
        summary = invoke(isolate_event(instance_id, ACCOUNT, OTHER_REGION), settings=xsettings)
        assert summary["instances"][0]["status"] == "isolated", summary
        (group,) = groups_named(there, "ec2-isolation-isolation", network.vpc_id)
        assert eni_groups(there, instance_id)
        assert all(groups == [group["GroupId"]] for groups in eni_groups(there, instance_id).values())
        assert profile_arns(there, instance_id) == [isolation_profile_arn]
        assert groups_named(ec2, "ec2-isolation-isolation") == []
        record = read_record(
            boto3.client("dynamodb", region_name=REGION),
            RECORD_TABLE,
            f"{ACCOUNT}:{OTHER_REGION}:{instance_id}",
        )
        assert record is not None and record["status"] == "isolated"
        assert sts_calls.sent("AssumeRole") == []


class TestFindingsOfMemberAccounts:
    """A GuardDuty or Security Hub administrator account's bus carries its members' findings: the central
    function isolates a served member's instance there, through the executor role, like a member's tag."""

    def test_a_member_accounts_guardduty_finding_isolates_its_instance_there(
        self, member: dict[str, Any], invoke: Invoke, xtriggers: Settings, ec2: Any, sts_calls: Any
    ) -> None:
        # Given a finding about the member's instance on the administrator's (central) bus: the event is
        # the central account's, the finding the member's
        instance_id = member["id"]
        event = guardduty_finding_event(instance_id, finding_account=MEMBER, event_id="evt-gd-member")
        assert (event["account"], event["detail"]["accountId"]) == (ACCOUNT, MEMBER)
        # When it reaches the central function
        summary = invoke(event, settings=xtriggers)
        # Then the instance is isolated in the member account, by the member's executor role
        assert [(r["instance_id"], r["status"]) for r in summary["instances"]] == [(instance_id, "isolated")]
        assert_isolated_in(member["ec2"], instance_id, member["net"].vpc_id, member["isolation"])
        (assume,) = sts_calls.sent("AssumeRole")
        assert assume["RoleArn"] == f"arn:aws:iam::{MEMBER}:role/{ROLE}"
        assert assume["RoleSessionName"] == "ec2-isolation-evt-gd-member"
        # and the central account's EC2 is untouched
        assert groups_named(ec2, "ec2-isolation-isolation") == []
        # and the record is central, under the member's account and region, naming the finding
        record = central_record(f"{MEMBER}:{REGION}:{instance_id}")
        assert record is not None and record["status"] == "isolated"
        assert [a["trigger"]["type"] for a in record["attempts"]] == ["guardduty"]
        assert record["attempts"][0]["trigger"]["finding_id"] == event["detail"]["id"]
        assert central_record(instance_id) is None

    @pytest.mark.parametrize(
        ("finding", "message"),
        [
            (dict(accountId=STRANGER), f"is about account {STRANGER} in {REGION}"),
            # a member is served in every region, but only in a region
            (dict(accountId=MEMBER, region="mars-1"), f"is about account {MEMBER} in mars-1"),
        ],
        ids=["an account not served", "a malformed region"],
    )
    def test_a_finding_of_an_account_or_region_not_served_is_refused_without_any_aws_call(
        self,
        finding: dict[str, str],
        message: str,
        invoke: Invoke,
        xtriggers: Settings,
        clients: AwsClients,
        sts_calls: Any,
    ) -> None:
        # Given a finding about an instance of an account (or region) the function does not serve
        event = guardduty_finding_event("i-0123456789abcdef0")
        event["detail"].update(finding)
        calls = record_calls(clients.ec2, clients.dynamodb, clients.iam)
        # When / Then it is refused (the failure path), naming what is served, and nothing is called:
        # no executor role is assumed
        with pytest.raises(InvalidEvent, match=message) as refused:
            invoke(event, settings=xtriggers)
        assert f"serves {ACCOUNT} in {REGION} and accounts {ACCOUNT}, {MEMBER} in any region" in str(
            refused.value
        )
        assert calls.calls == [] and sts_calls.calls == []

    def test_a_security_hub_action_isolates_each_instance_in_its_own_account(
        self,
        member: dict[str, Any],
        launch: Launch,
        network: Network,
        invoke: Invoke,
        xtriggers: Settings,
        ec2: Any,
        isolation_profile_arn: str,
        sts_calls: Any,
    ) -> None:
        # Given an analyst in the Security Hub administrator (central) account sending two findings to
        # the custom action: one about a central instance, one about the member's
        central = launch()
        event = security_hub_action_event([central, member["id"]], accounts=[ACCOUNT, MEMBER])
        finding_ids = [f["Id"] for f in event["detail"]["findings"]]
        # When the custom action's event reaches the function
        summary = invoke(event, settings=xtriggers)
        # Then each instance is isolated in its own account, each result naming its finding
        assert [
            (r["instance_id"], r["status"], r["trigger"]["finding_ids"]) for r in summary["instances"]
        ] == [
            (central, "isolated", [finding_ids[0]]),
            (member["id"], "isolated", [finding_ids[1]]),
        ]
        assert_isolated_in(ec2, central, network.vpc_id, isolation_profile_arn)
        assert_isolated_in(member["ec2"], member["id"], member["net"].vpc_id, member["isolation"])
        # (the member's isolation group is in the member account only, and the central one in the central)
        assert groups_named(ec2, "ec2-isolation-isolation", member["net"].vpc_id) == []
        assert groups_named(member["ec2"], "ec2-isolation-isolation", network.vpc_id) == []
        # and the member's through its executor role only (the central instance needs none)
        (assume,) = sts_calls.sent("AssumeRole")
        assert assume["RoleArn"] == f"arn:aws:iam::{MEMBER}:role/{ROLE}"
        # and both records are central: the central instance under its id, the member's under its
        # account and region
        central_saved = central_record(central)
        member_saved = central_record(f"{MEMBER}:{REGION}:{member['id']}")
        assert central_saved is not None and central_saved["status"] == "isolated"
        assert member_saved is not None and member_saved["status"] == "isolated"
        assert member_saved["attempts"][0]["trigger"] == {
            "type": "securityhub",
            "action": "Isolate instance",
            "finding_ids": [finding_ids[1]],
        }

    def test_a_security_hub_resource_of_an_account_not_served_fails_the_whole_event(
        self,
        member: dict[str, Any],
        launch: Launch,
        network: Network,
        invoke: Invoke,
        xtriggers: Settings,
        ec2: Any,
        clients: AwsClients,
        sts_calls: Any,
    ) -> None:
        # Given findings about a central instance, a member's, and an instance of an account not served
        central = launch()
        before = eni_groups(ec2, central)
        event = security_hub_action_event(
            [central, member["id"], "i-0fedcba9876543210"], accounts=[ACCOUNT, MEMBER, STRANGER]
        )
        calls = record_calls(clients.ec2, clients.dynamodb, clients.iam)
        # When / Then the whole event is refused, naming the resource and its account (not silently
        # narrowed to the served instances), before any AWS call
        stranger_arn = f"arn:aws:ec2:{REGION}:{STRANGER}:instance/i-0fedcba9876543210"
        with pytest.raises(
            InvalidEvent, match=f"resource {stranger_arn} is outside this function"
        ) as refused:
            invoke(event, settings=xtriggers)
        assert f"in account {STRANGER} in {REGION}" in str(refused.value)
        assert calls.calls == [] and sts_calls.calls == []
        # and neither served instance was touched
        assert eni_groups(ec2, central) == before
        assert groups_named(member["ec2"], "ec2-isolation-isolation") == []
        assert central_record(central) is None
        assert central_record(f"{MEMBER}:{REGION}:{member['id']}") is None
