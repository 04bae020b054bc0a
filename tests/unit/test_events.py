"""Specification of event parsing: what is accepted, what is refused, and that a refusal is loud."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ec2_isolation.clients import AwsClients
from ec2_isolation.errors import InvalidEvent
from ec2_isolation.events import FunctionIdentity, TagChangeEvent, parse_event
from tests.fixtures.events import load_event, tag_change_event
from tests.fixtures.faults import record_calls
from tests.unit.conftest import Invoke

HERE = FunctionIdentity("aws", "us-east-1", "123456789012")


def parse_tag_change(event: dict[str, Any]) -> TagChangeEvent:
    parsed = parse_event(event, HERE)
    assert isinstance(parsed, TagChangeEvent)
    return parsed


INSTANCE = "i-0123456789abcdef0"


def test_the_aws_documentation_sample_parses_with_its_tags_and_changed_keys() -> None:
    # Given the sample event from the EventBridge documentation, aimed at this account and region
    event = load_event("aws_docs_tag_change_on_resource.json")
    parsed = parse_tag_change(event)
    assert parsed.instance_ids == ("i-0000000aaaaaaaaaa",)
    assert parsed.changed_tag_keys == ("a-new-key", "an-updated-key", "a-deleted-key")
    assert parsed.tags["an-unchanged-key"] == "tag-value-still-the-same"
    # and it does not ask for isolation
    assert parsed.requested_action("SecurityIsolation", "Isolate", "Release") == (
        None,
        "tag 'SecurityIsolation' is not among the changed keys",
    )


def test_an_isolation_event_names_its_instances_once_each() -> None:
    event = tag_change_event([INSTANCE, "i-0fedcba9876543210", INSTANCE])
    parsed = parse_tag_change(event)
    assert parsed.instance_ids == (INSTANCE, "i-0fedcba9876543210")
    assert parsed.requested_action("SecurityIsolation", "Isolate", "Release") == (
        "isolate",
        "isolation requested",
    )


def test_a_release_event_asks_for_a_release_and_another_value_for_nothing() -> None:
    release = parse_tag_change(tag_change_event([INSTANCE], tags={"SecurityIsolation": "Release"}))
    assert release.requested_action("SecurityIsolation", "Isolate", "Release") == (
        "release",
        "release requested",
    )
    other = parse_tag_change(tag_change_event([INSTANCE], tags={"SecurityIsolation": "release"}))
    assert other.requested_action("SecurityIsolation", "Isolate", "Release") == (
        None,
        "tag 'SecurityIsolation' is 'release', neither 'Isolate' nor 'Release'",
    )


def test_an_eight_digit_legacy_instance_id_is_accepted() -> None:
    assert parse_tag_change(tag_change_event(["i-0123abcd"])).instance_ids == ("i-0123abcd",)


def _parent(event: dict[str, Any], path: str) -> tuple[dict[str, Any], str]:
    """The object holding the dotted ``path`` of ``event``, and the last key."""
    *parents, leaf = path.split(".")
    for key in parents:
        event = event[key]
    return event, leaf


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(event: dict[str, Any]) -> None:
        target, leaf = _parent(event, path)
        target[leaf] = value

    return mutate


def _delete(path: str) -> Callable[[dict[str, Any]], None]:
    def mutate(event: dict[str, Any]) -> None:
        target, leaf = _parent(event, path)
        del target[leaf]

    return mutate


MALFORMED: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "no-id": (_delete("id"), "event has no 'id'"),
    "another-source": (_set("source", "aws.ec2"), "event source is 'aws.ec2'"),
    "another-detail-type": (_set("detail-type", "EC2 Instance State-change Notification"), "detail-type is"),
    "another-account": (_set("account", "210987654321"), "event is from account 210987654321"),
    "another-region": (_set("region", "eu-west-1"), "in eu-west-1"),
    "no-detail": (_delete("detail"), "event has no 'detail'"),
    "detail-not-an-object": (_set("detail", "ec2"), "event.detail must be a dict"),
    "another-service": (_set("detail.service", "rds"), "detail.service is 'rds'"),
    "another-resource-type": (_set("detail.resource-type", "volume"), "detail.resource-type is 'volume'"),
    "changed-keys-not-a-list": (_set("detail.changed-tag-keys", "SecurityIsolation"), "must be a list"),
    "changed-keys-not-strings": (_set("detail.changed-tag-keys", [1]), "list of strings"),
    "tags-not-an-object": (_set("detail.tags", ["SecurityIsolation"]), "detail.tags must be a dict"),
    "tag-value-not-a-string": (_set("detail.tags", {"SecurityIsolation": True}), "map strings to strings"),
    "no-resources": (_set("resources", []), "names no resources"),
    "resources-not-a-list": (_set("resources", "arn"), "resources must be a list"),
    "resource-not-an-instance": (
        _set("resources", ["arn:aws:ec2:us-east-1:123456789012:volume/vol-0123456789abcdef0"]),
        "is not an EC2 instance ARN",
    ),
    "malformed-instance-id": (
        _set("resources", ["arn:aws:ec2:us-east-1:123456789012:instance/i-XYZ"]),
        "is not an EC2 instance ARN",
    ),
    "instance-of-another-account": (
        _set("resources", ["arn:aws:ec2:us-east-1:210987654321:instance/i-0123456789abcdef0"]),
        "outside this function's partition, account and region",
    ),
    "instance-of-another-region": (
        _set("resources", ["arn:aws:ec2:eu-west-1:123456789012:instance/i-0123456789abcdef0"]),
        "outside this function's partition, account and region",
    ),
    "instance-of-another-partition": (
        _set("resources", ["arn:aws-cn:ec2:us-east-1:123456789012:instance/i-0123456789abcdef0"]),
        "outside this function's partition, account and region",
    ),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_malformed_event_is_refused_with_a_clear_error_and_no_aws_call(
    case: str, invoke: Invoke, clients: AwsClients, caplog: pytest.LogCaptureFixture
) -> None:
    # Given an otherwise valid isolation event broken in one way
    mutate, message = MALFORMED[case]
    event = tag_change_event([INSTANCE])
    mutate(event)
    calls = record_calls(clients.ec2)
    # When / Then it raises (the failure path: retry, dead letter, alarm), says why, and touches nothing
    with pytest.raises(InvalidEvent, match=message.replace("(", r"\(").replace(")", r"\)")):
        invoke(event)
    assert calls.calls == []
    assert any(r.getMessage() == "rejected event" for r in caplog.records)


@pytest.mark.parametrize("event", [None, "SecurityIsolation", ["event"], 42], ids=repr)
def test_an_event_that_is_not_an_object_is_refused(event: Any, invoke: Invoke) -> None:
    with pytest.raises(InvalidEvent, match="event must be a JSON object"):
        invoke(event)


@pytest.mark.parametrize(
    "arn",
    [
        "",
        "arn:aws:lambda:us-east-1:123456789012:layer:x",
        "not-an-arn",
    ],
)
def test_the_function_must_know_its_own_account_and_region(arn: str) -> None:
    with pytest.raises(InvalidEvent, match="cannot tell this function's account and region"):
        FunctionIdentity.from_function_arn(arn)


def test_a_function_alias_arn_is_understood() -> None:
    identity = FunctionIdentity.from_function_arn(
        "arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:f:live"
    )
    assert identity == FunctionIdentity("aws-us-gov", "us-gov-west-1", "123456789012")
