"""Specification of the Lambda entry point: settings from the environment, JSON logs, the summary."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from ec2_isolation import handler
from ec2_isolation.config import Settings
from ec2_isolation.errors import ConfigurationError
from ec2_isolation.log import JsonFormatter
from tests.fixtures.events import tag_change_event
from tests.unit.conftest import FUNCTION_ARN, Launch, Network, profile_arns

CONTEXT = SimpleNamespace(invoked_function_arn=FUNCTION_ARN, aws_request_id="req-1")


@pytest.fixture(autouse=True)
def fresh_clients(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test gets its own lazily built clients, inside its own moto mock."""
    monkeypatch.setattr(handler, "_clients", None)


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The waits the entry point asks for, recorded instead of slept (the untrack wait is 15 s)."""
    asked: list[float] = []
    monkeypatch.setattr(handler, "pause", asked.append)
    return asked


def test_lambda_handler_isolates_with_the_settings_terraform_gives_it(
    function_env: dict[str, str],
    ec2: Any,
    network: Network,
    launch: Launch,
    settings: Settings,
    waits: list[float],
) -> None:
    instance_id = launch()
    summary = handler.lambda_handler(tag_change_event([instance_id]), CONTEXT)
    assert summary["instances"][0]["status"] == "isolated"
    assert profile_arns(ec2, instance_id) == [settings.isolation_instance_profile_arn]
    json.dumps(summary)  # the summary is the invocation's JSON result
    # the connection-tracking wait went through the entry point's pause: the default 15 s, once
    assert len(waits) == 1
    assert 14 < waits[0] <= 15


def test_clients_are_built_once_and_only_when_needed(function_env: dict[str, str]) -> None:
    assert handler._clients is None
    event = tag_change_event(["i-0123456789abcdef0"], tags={"SecurityIsolation": "no"})
    handler.lambda_handler(event, CONTEXT)
    first = handler.get_clients()
    assert "ec2" not in vars(first), "a no-op event must not even build an EC2 client"
    assert handler.get_clients() is first


def test_every_log_line_is_json_with_the_event_and_instance_ids(
    function_env: dict[str, str], launch: Launch, caplog: pytest.LogCaptureFixture, waits: list[float]
) -> None:
    instance_id = launch()
    caplog.set_level("INFO", logger="ec2_isolation")
    handler.lambda_handler(tag_change_event([instance_id], event_id="evt-logs"), CONTEXT)
    formatter = JsonFormatter()
    lines = [json.loads(formatter.format(r)) for r in caplog.records if r.name == "ec2_isolation"]
    assert lines, "the handler logs what it does"
    assert all(line["event_id"] == "evt-logs" for line in lines)
    instance_lines = [line for line in lines if line["message"] != "event handled"]
    assert all(line["instance_id"] == instance_id for line in instance_lines)
    messages = [line["message"] for line in lines]
    assert "moved interface" in messages
    assert "swapped instance profile" in messages
    assert messages[-1] == "event handled"


def test_a_failure_log_line_carries_the_traceback() -> None:
    import logging
    import sys

    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord(
            "ec2_isolation", logging.ERROR, __file__, 1, "failed", None, sys.exc_info()
        )
    line = json.loads(JsonFormatter().format(record))
    assert line["level"] == "ERROR"
    assert "ValueError: boom" in line["exception"]


def test_missing_settings_are_all_named(
    monkeypatch: pytest.MonkeyPatch, function_env: dict[str, str]
) -> None:
    monkeypatch.delenv("ISOLATION_TAG_KEY")
    monkeypatch.delenv("ISOLATION_INSTANCE_PROFILE_ARN")
    with pytest.raises(ConfigurationError, match="ISOLATION_TAG_KEY, ISOLATION_INSTANCE_PROFILE_ARN"):
        handler.lambda_handler(tag_change_event(["i-0123456789abcdef0"]), CONTEXT)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("ISOLATION_INSTANCE_PROFILE_ARN", "arn:aws:iam::123456789012:role/x", "not an instance profile ARN"),
        ("STATUS_TAG_PREFIX", "SecurityIsolation", "must extend ISOLATION_TAG_KEY"),
        ("STATUS_TAG_PREFIX", "Other:", "must extend ISOLATION_TAG_KEY"),
        ("RESOURCE_TAGS", "{not json", "RESOURCE_TAGS is not JSON"),
        ("RESOURCE_TAGS", '{"a": 1}', "JSON object of string to string"),
        ("LOG_LEVEL", "LOUD", "LOG_LEVEL must be one of"),
    ],
)
def test_invalid_settings_are_refused(
    function_env: dict[str, str], name: str, value: str, message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Settings.from_env({**function_env, name: value})


def test_the_function_must_be_invoked_with_its_arn(function_env: dict[str, str]) -> None:
    from ec2_isolation.errors import InvalidEvent

    with pytest.raises(InvalidEvent, match="cannot tell this function's account"):
        handler.lambda_handler(tag_change_event(["i-0123456789abcdef0"]), SimpleNamespace())
