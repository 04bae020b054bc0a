"""Specification of the handler's entry under hostile and malformed input (property-based, hypothesis).

Whatever arrives, the handler either refuses it (``InvalidEvent``: the failure path), does nothing (a
no-op summary), or acts on exactly the instances of this account and region that a well-formed tag-change
event names. The events here never name an instance that exists (but for the decoy, named only from
elsewhere), so "acting" ends in the intended failure (``EventIsolationFailed``, ``InstanceNotFound``),
and no example may make a single mutating AWS call.

What is well-formed is stated once more, independently and strictly, by ``expected_instances`` (an
oracle): whole-string matches, ASCII digits only. ``parse_event`` must agree with it on every input.
"""

from __future__ import annotations

import copy
import re
import string
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ec2_isolation.clients import AwsClients
from ec2_isolation.errors import EventIsolationFailed, InvalidEvent
from ec2_isolation.events import FunctionIdentity, TagChangeEvent, parse_event
from tests.fixtures.budget import examples
from tests.fixtures.events import ACCOUNT, REGION, instance_arn, tag_change_event
from tests.fixtures.faults import CallRecorder, record_calls
from tests.unit.conftest import FUNCTION_ARN, Invoke, Launch, Network, eni_groups

HERE = FunctionIdentity.from_function_arn(FUNCTION_ARN)
KEY, ISOLATE, RELEASE = "SecurityIsolation", "Isolate", "Release"
#: an instance that does not exist in the emulator
GHOST = "i-0123456789abcdef0"
#: operations that change nothing (every other one is "mutating")
READ_ONLY_PREFIXES = ("Describe", "Get", "List")

# The handler's entry is given the test's emulator and clients (function-scoped fixtures) once per test,
# not once per example: sound here because no example may change anything (each one asserts that it made
# no mutating call), so every example sees the same emulator state. Hence the suppressed health check.
FUZZ = settings(
    max_examples=examples(600),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


# ---- the oracle: what a well-formed event for this function is ---------------------------------------

_ARN = re.compile(
    r"arn:(?P<partition>aws[a-z-]*):ec2:(?P<region>[a-z0-9-]+):(?P<account>[0-9]{12})"
    r":instance/(?P<instance_id>i-(?:[0-9a-f]{8}|[0-9a-f]{17}))",
    re.ASCII,
)


def expected_instances(event: Any, here: FunctionIdentity = HERE) -> tuple[str, ...] | None:
    """The instances a well-formed event of this account and region names (first occurrence order, once
    each), or None when the event must be refused."""
    if not isinstance(event, dict):
        return None
    detail = event.get("detail")
    envelope_ok = (
        isinstance(event.get("id"), str)
        and event.get("source") == "aws.tag"
        and event.get("detail-type") == "Tag Change on Resource"
        and event.get("account") == here.account
        and event.get("region") == here.region
        and isinstance(detail, dict)
    )
    if not envelope_ok or not isinstance(detail, dict):
        return None
    changed, tags, resources = detail.get("changed-tag-keys"), detail.get("tags"), event.get("resources")
    detail_ok = (
        detail.get("service") == "ec2"
        and detail.get("resource-type") == "instance"
        and isinstance(changed, list)
        and all(isinstance(k, str) for k in changed)
        and isinstance(tags, dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items())
        and isinstance(resources, list)
        and len(resources) > 0
    )
    if not detail_ok or not isinstance(resources, list):
        return None
    ids: list[str] = []
    for arn in resources:
        match = _ARN.fullmatch(arn) if isinstance(arn, str) else None
        if match is None or (match["partition"], match["region"], match["account"]) != (
            here.partition,
            here.region,
            here.account,
        ):
            return None
        if match["instance_id"] not in ids:
            ids.append(match["instance_id"])
    return tuple(ids)


def note(outcome: str) -> None:
    """Label the example for `pytest --hypothesis-show-statistics` (how often each outcome was reached)."""
    event(outcome)


def requests_action(event: dict[str, Any]) -> bool:
    detail = event["detail"]
    return KEY in detail["changed-tag-keys"] and detail["tags"].get(KEY) in (ISOLATE, RELEASE)


# ---- strategies ------------------------------------------------------------------------------------

#: the account id in other scripts' digits (written as escapes: they look like ASCII digits)
FULLWIDTH_ACCOUNT = "".join(chr(0xFF10 + int(d)) for d in ACCOUNT)
ARABIC_INDIC_ACCOUNT = "".join(chr(0x0660 + int(d)) for d in ACCOUNT)
#: strings that have broken parsers before: empty, whitespace, unicode digits and letters, control
#: characters, very long, and near-misses of the values that matter
NASTY_TEXT = st.sampled_from(
    [
        "",
        " ",
        "\t",
        "\x00",
        "null",
        "ec2 ",
        "EC2",
        "Ec2",
        "instance ",
        "Instance",
        "aws.tag ",
        "AWS.tag",
        "Tag Change on Resource ",
        "tag change on resource",
        FULLWIDTH_ACCOUNT,  # \d matches these digits; an account id may not
        ARABIC_INDIC_ACCOUNT,
        "123456789012 ",
        "0123456789012",
        "12345678901",
        "us-east-1 ",
        "US-EAST-1",
        "us-east-1\x00",
        "isolate",
        "ISOLATE",
        "Isolate ",
        "Releas",
        "x" * 10_000,
        "🙂" * 100,
        "i-0123456789abcdef0",
    ]
)
TEXT = st.one_of(st.text(max_size=30), NASTY_TEXT)

JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    TEXT,
)
JSON_VALUES: st.SearchStrategy[Any] = st.recursive(
    JSON_SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(TEXT, children, max_size=4),
    ),
    max_leaves=12,
)

PARTITIONS = st.sampled_from(["aws", "aws-cn", "aws-us-gov", "aws-iso", "AWS", "aws ", "", "awsx", "aws:"])
SERVICES = st.sampled_from(["ec2", "EC2", "ec2 ", "lambda", "iam", "elasticloadbalancing", ""])
OTHER_REGIONS = st.one_of(
    st.sampled_from(["eu-west-1", "us-east-2", "US-EAST-1", "us-east-1 ", "", "us_east_1"]),
    st.text(alphabet=string.ascii_lowercase + string.digits + "-", min_size=1, max_size=15),
)
REGIONS = st.one_of(st.just(REGION), OTHER_REGIONS)
OTHER_ACCOUNTS = st.one_of(
    st.sampled_from(["210987654321", "12345678901", "1234567890123", FULLWIDTH_ACCOUNT, ""]),
    st.text(alphabet=string.digits, min_size=12, max_size=12),
)
ACCOUNTS = st.one_of(st.just(ACCOUNT), OTHER_ACCOUNTS)
RESOURCES = st.sampled_from(
    ["instance/", "volume/", "instance:", "Instance/", "instance/ ", "instances/", ""]
)
HEX = "0123456789abcdef"
INSTANCE_IDS = st.one_of(
    st.text(alphabet=HEX, min_size=17, max_size=17).map(lambda h: f"i-{h}"),
    st.text(alphabet=HEX, min_size=8, max_size=8).map(lambda h: f"i-{h}"),
)
ODD_INSTANCE_IDS = st.one_of(
    INSTANCE_IDS.map(str.upper),
    st.text(alphabet=HEX, min_size=0, max_size=20).map(lambda h: f"i-{h}"),
    st.text(alphabet=HEX, min_size=17, max_size=17).map(lambda h: f"vol-{h}"),
    st.text(alphabet=HEX, min_size=17, max_size=17).map(lambda h: f"i_{h}"),
    TEXT,
)


@st.composite
def near_miss_arns(draw: st.DrawFn) -> str:
    """An instance ARN that almost matches: one part swapped, or one character edited."""
    parts = {
        "partition": "aws",
        "service": "ec2",
        "region": REGION,
        "account": ACCOUNT,
        "resource": "instance/",
        "instance_id": draw(INSTANCE_IDS),
    }
    how = draw(st.sampled_from(["part", "character", "both"]))
    if how in ("part", "both"):
        which = draw(st.sampled_from(sorted(parts)))
        parts[which] = draw(
            {
                "partition": PARTITIONS,
                "service": SERVICES,
                "region": REGIONS,
                "account": ACCOUNTS,
                "resource": RESOURCES,
                "instance_id": ODD_INSTANCE_IDS,
            }[which]
        )
    arn = "arn:{partition}:{service}:{region}:{account}:{resource}{instance_id}".format(**parts)
    if how in ("character", "both") and arn:
        at = draw(st.integers(0, len(arn)))
        edit = draw(st.sampled_from(["insert", "delete", "replace", "prefix", "suffix"]))
        char = draw(st.characters())
        if edit == "insert":
            arn = arn[:at] + char + arn[at:]
        elif edit == "delete" and at < len(arn):
            arn = arn[:at] + arn[at + 1 :]
        elif edit == "replace" and at < len(arn):
            arn = arn[:at] + char + arn[at + 1 :]
        elif edit == "prefix":
            arn = draw(st.sampled_from([" ", "\n", "x", "arn:"])) + arn
        elif edit == "suffix":
            # The parser matches whole ARNs (re.fullmatch): `$` alone also matched before a final "\n",
            # which this fuzzing found (see test_an_instance_arn_with_a_trailing_newline_is_refused).
            arn += draw(st.sampled_from([" ", "/", "x", "0", ":", "\x00", "\r", "\n", "\n\n"]))
    return arn


Mutation = Callable[[dict[str, Any]], None]

#: dotted paths of the fields that matter, and some that do not
PATHS = [
    "id",
    "source",
    "detail-type",
    "account",
    "region",
    "resources",
    "detail",
    "time",
    "version",
    "detail.service",
    "detail.resource-type",
    "detail.changed-tag-keys",
    "detail.tags",
    "detail.version",
    f"detail.tags.{KEY}",
]


def _walk(event: dict[str, Any], path: str) -> tuple[Any, str]:
    *parents, leaf = path.split(".")
    for key in parents:
        event = event.get(key) if isinstance(event, dict) else None  # type: ignore[assignment]
    return event, leaf


@st.composite
def mutations(draw: st.DrawFn) -> Mutation:
    """One change to the sample event: a field set to anything, removed, or given a hostile value."""
    path = draw(st.sampled_from(PATHS))
    kind = draw(
        st.sampled_from(["set", "delete", "near-miss-arns", "huge-resources", "huge-tags", "duplicates"])
    )
    value: Any = None
    if kind == "set":
        value = draw(JSON_VALUES)
    elif kind == "near-miss-arns":
        value = draw(
            st.lists(st.one_of(near_miss_arns(), st.just(instance_arn(GHOST))), min_size=1, max_size=5)
        )
    elif kind == "huge-resources":
        # Built by repetition: cheap to draw, long to parse.
        count = draw(st.integers(1_000, 20_000))
        value = [instance_arn(GHOST)] * count + draw(st.lists(near_miss_arns(), max_size=1))
    elif kind == "huge-tags":
        count = draw(st.integers(1_000, 5_000))
        value = {f"k{i}": "v" * (i % 7) for i in range(count)} | {KEY: ISOLATE}
    elif kind == "duplicates":
        value = [instance_arn(GHOST), instance_arn(GHOST.upper()), instance_arn(GHOST)]

    def mutate(event: dict[str, Any]) -> None:
        target, leaf = _walk(event, path)
        if not isinstance(target, dict):
            return
        if kind == "delete":
            target.pop(leaf, None)
        elif kind in ("near-miss-arns", "huge-resources", "duplicates"):
            event["resources"] = value
        elif kind == "huge-tags":
            if isinstance(event.get("detail"), dict):
                event["detail"]["tags"] = value
        else:
            target[leaf] = copy.deepcopy(value)

    return mutate


def _sample(
    instance_ids: list[str], value: str = ISOLATE, changed: tuple[str, ...] = (KEY,)
) -> dict[str, Any]:
    return tag_change_event(instance_ids, tags={"Name": "web-01", KEY: value}, changed_keys=changed)


@st.composite
def mutated_events(draw: st.DrawFn) -> dict[str, Any]:
    """The real sample event (isolate or release a non-existent instance), broken in one to three ways."""
    event = _sample([GHOST], draw(st.sampled_from([ISOLATE, RELEASE])))
    for mutate in draw(st.lists(mutations(), min_size=1, max_size=3)):
        mutate(event)
    return event


@st.composite
def valid_events(draw: st.DrawFn) -> dict[str, Any]:
    """Well-formed events of this account and region for instances that do not exist: some ask for an
    isolation or a release, some for nothing (another key or value changed, the key removed)."""
    ids = draw(st.lists(INSTANCE_IDS, min_size=1, max_size=4))
    ids += draw(st.lists(st.sampled_from(ids), max_size=3))  # duplicates
    extra_tags = draw(st.dictionaries(st.text(max_size=20), st.text(max_size=20), max_size=5))
    tags = {k: v for k, v in extra_tags.items() if k != KEY}
    changed = [k for k in draw(st.lists(st.text(max_size=20), max_size=3)) if k != KEY]
    if draw(st.booleans()):
        # asks for an isolation or a release
        tags[KEY] = draw(st.sampled_from([ISOLATE, RELEASE]))
        changed.insert(draw(st.integers(0, len(changed))), KEY)
    else:
        # asks for nothing: the key changed to another value or was removed, or another key changed
        how = draw(st.sampled_from(["other value", "removed", "other key"]))
        if how == "other value":
            tags[KEY] = draw(TEXT.filter(lambda v: v not in (ISOLATE, RELEASE)))
        elif how == "other key":
            tags[KEY] = draw(st.sampled_from([ISOLATE, RELEASE]))
        if how != "other key":
            changed.append(KEY)
    event = tag_change_event(ids, tags=tags, changed_keys=changed, event_id=draw(st.uuids()).hex)
    event["detail"]["version"] = draw(JSON_VALUES)  # a field the parser does not read
    return event


ANY_EVENT = st.one_of(JSON_VALUES, mutated_events(), valid_events())


# ---- helpers ---------------------------------------------------------------------------------------


def all_calls(clients: AwsClients) -> CallRecorder:
    return record_calls(
        clients.ec2,
        clients.iam,
        clients.autoscaling,
        clients.elbv2,
        clients.dynamodb,
        clients.sns,
        clients.events,
    )


def mutating(calls: CallRecorder) -> list[str]:
    return [op for op in calls.operations() if not op.startswith(READ_ONLY_PREFIXES)]


def handle_and_classify(invoke: Invoke, event: Any) -> tuple[str, Any]:
    """Run the handler; ("invalid", exc), ("noop", summary) or ("failed", exc). Anything else escapes."""
    try:
        summary = invoke(event)
    except InvalidEvent as exc:
        return "invalid", exc
    except EventIsolationFailed as exc:
        return "failed", exc
    return "noop", summary


def assert_not_found_everywhere(failed: EventIsolationFailed, ids: tuple[str, ...]) -> None:
    instances = failed.summary["instances"]
    assert [r["instance_id"] for r in instances] == list(ids)
    for result in instances:
        assert result["status"] == "failed"
        assert next(iter(result["failures"].values())).startswith("InstanceNotFound:"), result


# ---- properties ------------------------------------------------------------------------------------


@FUZZ
@given(event=ANY_EVENT)
def test_the_parser_accepts_exactly_the_well_formed_events_of_this_account_and_region(event: Any) -> None:
    # Given anything at all
    expected = expected_instances(event)
    # When it is parsed
    try:
        parsed = parse_event(event, HERE)
    except InvalidEvent:
        note("refused")
        # Then a refusal is an InvalidEvent (no other exception escapes), and only for what must be refused
        assert expected is None, f"refused a well-formed event naming {expected}"
        return
    note("accepted")
    # Then an accepted event is well-formed, and names exactly its instances, once each
    assert expected is not None, "accepted an event that must be refused"
    assert isinstance(parsed, TagChangeEvent)
    assert parsed.instance_ids == expected
    assert parsed.account == ACCOUNT
    assert parsed.region == REGION


@FUZZ
@given(event=st.one_of(JSON_VALUES, mutated_events()))
def test_a_malformed_or_foreign_event_changes_nothing_and_fails_only_by_the_intended_path(
    event: Any, invoke: Invoke, clients: AwsClients
) -> None:
    calls = all_calls(clients)
    expected = expected_instances(event)
    # When the handler is given a broken copy of the sample event, or any JSON value
    outcome, detail = handle_and_classify(invoke, event)
    note(outcome)
    # Then nothing is changed, whatever the outcome
    assert mutating(calls) == []
    if outcome == "invalid":
        # a refusal: nothing was even read
        assert expected is None
        assert calls.calls == []
    elif outcome == "noop":
        assert expected is not None and not requests_action(event)
        assert detail["action"] == "none" and detail["instances"] == []
        assert calls.calls == []
    else:
        # still well-formed and asking for an action (the mutation missed): the ghost is not found
        assert expected is not None and requests_action(event)
        assert_not_found_everywhere(detail, expected)


@FUZZ
@given(event=valid_events())
def test_a_well_formed_event_for_missing_instances_fails_via_instance_not_found_and_changes_nothing(
    event: dict[str, Any], invoke: Invoke, clients: AwsClients
) -> None:
    calls = all_calls(clients)
    expected = expected_instances(event)
    assert expected is not None
    # When a well-formed event of this account and region names instances that do not exist
    outcome, detail = handle_and_classify(invoke, event)
    note(outcome)
    # Then nothing is changed
    assert mutating(calls) == []
    if requests_action(event):
        # and it fails by the intended path: every instance looked up once, each one not found
        assert outcome == "failed"
        assert_not_found_everywhere(detail, expected)
        assert calls.operations() == ["DescribeInstances"] * len(expected)
    else:
        # an event that asks for nothing does nothing, and reads nothing
        assert outcome == "noop" and detail["action"] == "none"
        assert calls.calls == []


@st.composite
def foreign_events(draw: st.DrawFn, instance_id: str) -> dict[str, Any]:
    """An isolation event for ``instance_id`` that comes from, or points into, another account, region or
    partition (the envelope, the ARN, or both)."""
    event = _sample([instance_id])
    where = draw(
        st.lists(
            st.sampled_from(["account", "region", "arn-account", "arn-region", "arn-partition"]),
            min_size=1,
            unique=True,
        )
    )
    other_account = draw(OTHER_ACCOUNTS.filter(lambda a: a != ACCOUNT))
    other_region = draw(OTHER_REGIONS.filter(lambda r: r != REGION))
    other_partition = draw(st.sampled_from(["aws-cn", "aws-us-gov", "aws-iso", "AWS", "aws ", "", "awsx"]))
    arn = {"partition": "aws", "region": REGION, "account": ACCOUNT}
    for field in where:
        if field == "account":
            event["account"] = other_account
        elif field == "region":
            event["region"] = other_region
        else:
            arn[field.removeprefix("arn-")] = {
                "arn-account": other_account,
                "arn-region": other_region,
                "arn-partition": other_partition,
            }[field]
    event["resources"] = [
        f"arn:{arn['partition']}:ec2:{arn['region']}:{arn['account']}:instance/{instance_id}"
    ]
    return event


@pytest.fixture
def decoy(launch: Launch, network: Network, ec2: Any) -> tuple[str, dict[str, list[str]]]:
    """A real instance of this account and region, and its ENIs' groups."""
    instance_id = launch(enis=[[network.app_group_id]])
    return instance_id, eni_groups(ec2, instance_id)


@FUZZ
@given(data=st.data())
def test_an_event_from_or_into_another_account_region_or_partition_never_touches_a_real_instance(
    data: st.DataObject,
    decoy: tuple[str, dict[str, list[str]]],
    invoke: Invoke,
    clients: AwsClients,
    ec2: Any,
) -> None:
    # Given a real instance here, and an isolation event naming it from (or aimed at) somewhere else
    instance_id, groups = decoy
    event = data.draw(foreign_events(instance_id))
    calls = all_calls(clients)
    # When / Then the event is refused before any AWS call, and the instance is as it was
    with pytest.raises(InvalidEvent):
        invoke(event)
    assert calls.calls == []
    assert eni_groups(ec2, instance_id) == groups


def test_an_instance_arn_with_a_trailing_newline_is_refused() -> None:
    # Given the sample event whose resource ARN carries a trailing newline (not an ARN)
    event = _sample([GHOST])
    event["resources"] = [instance_arn(GHOST) + "\n"]
    assert expected_instances(event) is None
    # When / Then the parser refuses it
    with pytest.raises(InvalidEvent):
        parse_event(event, HERE)
