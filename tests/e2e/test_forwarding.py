"""`tools.deliver.forward` refuses what EventBridge would refuse when a rule's target is another account's
bus: the end-to-end organization test relies on these checks, since moto evaluates no IAM policy.

Each spec builds the state in moto (in-process) and checks one refusal; the accepted case is the one
examples/organization deploys (tests/e2e/test_organization.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tools import deliver as eventbridge
from tools.deliver import DeliveryError, Route, Rule

pytestmark = pytest.mark.e2e

CENTRAL, MEMBER, OTHER = "123456789012", "111111111111", "333333333333"
REGION = "eu-west-1"
BUS = f"arn:aws:events:us-east-1:{CENTRAL}:event-bus/default"
RULE = Rule(
    name="forward",
    arn=f"arn:aws:events:{REGION}:{MEMBER}:rule/forward",
    event_bus_name="default",
    state="ENABLED",
    event_pattern=None,
)
ROLE = f"arn:aws:iam::{MEMBER}:role/forwarder"
EVENT: dict[str, Any] = {
    "source": "aws.tag",
    "detail-type": "Tag Change on Resource",
    "account": MEMBER,
    "region": REGION,
}
TRUST: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {
                "StringEquals": {"aws:SourceAccount": MEMBER},
                "ArnLike": {"aws:SourceArn": f"arn:aws:events:*:{MEMBER}:rule/forward"},
            },
        }
    ],
}
PUT_ON_BUS: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "PutOnCentralBus", "Effect": "Allow", "Action": "events:PutEvents", "Resource": BUS}
    ],
}
BUS_POLICY: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "Members",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{MEMBER}:root"},
            "Action": "events:PutEvents",
            "Resource": BUS,
            "Condition": {
                "StringEquals": {
                    "aws:PrincipalOrgID": "o-a1b2c3d4e5",
                    "events:source": "aws.tag",
                    "events:detail-type": "Tag Change on Resource",
                }
            },
        }
    ],
}


@pytest.fixture
def sessions(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, boto3.session.Session]]:
    """Sessions of the central account (us-east-1) and the member account (eu-west-1), in moto."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        central = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
        )
        assumed = central.client("sts").assume_role(
            RoleArn=f"arn:aws:iam::{MEMBER}:role/OrganizationAccountAccessRole", RoleSessionName="tests"
        )["Credentials"]
        member = boto3.session.Session(
            aws_access_key_id=assumed["AccessKeyId"],
            aws_secret_access_key=assumed["SecretAccessKey"],
            aws_session_token=assumed["SessionToken"],
            region_name=REGION,
        )
        assert member.client("sts").get_caller_identity()["Account"] == MEMBER
        yield {"central": central, "member": member}


def forwarder(
    member: boto3.session.Session, trust: dict[str, Any] = TRUST, policy: dict[str, Any] = PUT_ON_BUS
) -> None:
    iam = member.client("iam")
    iam.create_role(RoleName="forwarder", AssumeRolePolicyDocument=json.dumps(trust))
    iam.put_role_policy(RoleName="forwarder", PolicyName="put", PolicyDocument=json.dumps(policy))


def route(role_arn: str | None = ROLE) -> Route:
    return Route(rule=RULE, target_id="central", target_arn=BUS, role_arn=role_arn)


def bus_policy(central: boto3.session.Session, policy: dict[str, Any] = BUS_POLICY) -> None:
    central.client("events").put_permission(EventBusName="default", Policy=json.dumps(policy))


# ---- the target's role -------------------------------------------------------------------------------


def test_a_role_that_eventbridge_may_assume_and_that_may_put_on_the_bus_is_accepted(
    sessions: dict[str, boto3.session.Session],
) -> None:
    forwarder(sessions["member"])
    assert eventbridge.check_target_role(sessions["member"], route(), BUS) == "PutOnCentralBus"


def test_a_target_without_a_role_is_refused(sessions: dict[str, boto3.session.Session]) -> None:
    with pytest.raises(DeliveryError, match="no role"):
        eventbridge.check_target_role(sessions["member"], route(None), BUS)


def test_a_role_that_does_not_exist_is_refused(sessions: dict[str, boto3.session.Session]) -> None:
    with pytest.raises(DeliveryError, match="does not exist"):
        eventbridge.check_target_role(sessions["member"], route(), BUS)


def test_a_role_of_another_account_is_refused(sessions: dict[str, boto3.session.Session]) -> None:
    forwarder(sessions["member"])
    with pytest.raises(DeliveryError, match="not of the rule's account"):
        eventbridge.check_target_role(sessions["member"], route(ROLE.replace(MEMBER, OTHER)), BUS)


@pytest.mark.parametrize(
    "condition",
    [
        {"StringEquals": {"aws:SourceAccount": OTHER}},
        {"ArnLike": {"aws:SourceArn": f"arn:aws:events:*:{MEMBER}:rule/another-rule"}},
        {"StringEquals": {"aws:SourceOrgID": "o-a1b2c3d4e5"}},  # a key deliver() cannot evaluate
    ],
    ids=["other-account", "other-rule", "unevaluated-key"],
)
def test_a_role_whose_trust_does_not_admit_the_rule_is_refused(
    sessions: dict[str, boto3.session.Session], condition: dict[str, Any]
) -> None:
    trust = {"Version": "2012-10-17", "Statement": [{**TRUST["Statement"][0], "Condition": condition}]}
    forwarder(sessions["member"], trust=trust)
    with pytest.raises(DeliveryError, match="may not assume"):
        eventbridge.check_target_role(sessions["member"], route(), BUS)


def test_a_role_that_may_put_on_another_bus_only_is_refused(
    sessions: dict[str, boto3.session.Session],
) -> None:
    other_bus = BUS.replace("default", "other")
    policy = {"Version": "2012-10-17", "Statement": [{**PUT_ON_BUS["Statement"][0], "Resource": other_bus}]}
    forwarder(sessions["member"], policy=policy)
    with pytest.raises(DeliveryError, match="no policy"):
        eventbridge.check_target_role(sessions["member"], route(), BUS)


def test_a_role_with_a_deny_of_put_events_is_refused(sessions: dict[str, boto3.session.Session]) -> None:
    deny = {"Sid": "NoEvents", "Effect": "Deny", "Action": "events:*", "Resource": "*"}
    forwarder(
        sessions["member"], policy={"Version": "2012-10-17", "Statement": [*PUT_ON_BUS["Statement"], deny]}
    )
    with pytest.raises(DeliveryError, match="denies"):
        eventbridge.check_target_role(sessions["member"], route(), BUS)


# ---- the bus's resource policy -----------------------------------------------------------------------


def test_the_bus_accepts_the_listed_account_of_the_organization(
    sessions: dict[str, boto3.session.Session],
) -> None:
    bus_policy(sessions["central"])
    assert (
        eventbridge.check_bus_policy(
            sessions["central"], BUS, EVENT, source_account=MEMBER, organization_id="o-a1b2c3d4e5"
        )
        == "Members"
    )


def test_a_bus_without_a_policy_accepts_only_its_own_account(
    sessions: dict[str, boto3.session.Session],
) -> None:
    assert eventbridge.check_bus_policy(sessions["central"], BUS, EVENT, source_account=CENTRAL) == ""
    with pytest.raises(DeliveryError, match="does not accept"):
        eventbridge.check_bus_policy(sessions["central"], BUS, EVENT, source_account=MEMBER)


@pytest.mark.parametrize(
    ("source_account", "organization_id", "event"),
    [
        (OTHER, "o-a1b2c3d4e5", EVENT),
        (MEMBER, None, EVENT),
        (MEMBER, "o-zzzzzzzzzz", EVENT),
        (MEMBER, "o-a1b2c3d4e5", {**EVENT, "source": "aws.ec2"}),
        (MEMBER, "o-a1b2c3d4e5", {**EVENT, "detail-type": "AWS API Call via CloudTrail"}),
    ],
    ids=["other-account", "no-organization", "other-organization", "other-source", "other-detail-type"],
)
def test_the_bus_refuses_what_its_policy_does_not_accept(
    sessions: dict[str, boto3.session.Session],
    source_account: str,
    organization_id: str | None,
    event: dict[str, Any],
) -> None:
    bus_policy(sessions["central"])
    with pytest.raises(DeliveryError, match="does not accept"):
        eventbridge.check_bus_policy(
            sessions["central"], BUS, event, source_account=source_account, organization_id=organization_id
        )


def test_a_bus_of_another_region_or_account_than_the_session_is_refused(
    sessions: dict[str, boto3.session.Session],
) -> None:
    with pytest.raises(DeliveryError, match="wrong account or region"):
        eventbridge.check_bus_policy(
            sessions["central"], BUS.replace("us-east-1", REGION), EVENT, source_account=MEMBER
        )
