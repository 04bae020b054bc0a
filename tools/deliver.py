"""Deliver an event to the deployed Lambda targets the way EventBridge would, without Docker.

moto cannot run a Lambda function without Docker, and its ``PutEvents`` does not invoke Lambda targets.
`deliver` does what EventBridge and the Lambda service would do, with everything read back from the
emulator (nothing is taken from this repository's source):

1. list the rules of the event bus (``ListRules``) and read each one's pattern back (``DescribeRule``);
   an enabled rule whose pattern matches the event (moto's `EventPattern`, a faithful port of
   EventBridge matching) routes it to its targets (``ListTargetsByRule``);
2. for each Lambda target: the function's resource policy must let ``events.amazonaws.com`` invoke it
   from that rule (``GetPolicy``), as EventBridge needs;
3. the function's configuration (``GetFunctionConfiguration``: handler, environment, timeout) and its
   code as deployed (`fetch_code`: ``GetFunction`` → ``Code.Location``, or a local zip whose sha256 is
   the ``CodeSha256`` the emulator reports; see there);
4. the zip is extracted into a temporary directory and the handler runs in a fresh Python process with
   only that directory on ``PYTHONPATH``, the function's environment variables plus the variables the
   Lambda runtime sets, ``AWS_ENDPOINT_URL`` pointing at the emulator, fake credentials, and a context
   object whose ``invoked_function_arn`` is the function's ARN. Its JSON result, or the error payload
   Lambda would report, comes back with the log lines it wrote.

`forward` does what EventBridge does with a rule of one account whose target is another account's
event bus (modules/member's forwarding rule): the target's role must be assumable by EventBridge for
that rule and allowed to put events on the bus, and the bus's resource policy must accept the
source account and the event; the event then arrives on that bus unchanged (same id, account and
region) and `deliver` takes it from there.

`deliver_scheduled` does what EventBridge does when a schedule rule comes due (a schedule rule has no
pattern, so `deliver` never routes anything through it): the rule and its targets read back, the same
invoke permission checked, and each Lambda target run with the rule's `scheduled_event`. The schedule
rules must first be taken over from the emulator (`take_over_schedule_rules`, right after the apply):
moto's PutEvents routes every event through a rule without a pattern, and fails (HTTP 500) on its
Lambda target, so every result event the function puts would fail. Their targets are taken out of the
emulator and kept for `deliver_scheduled`. `take_over_emulator` takes over both, schedules and
event source mappings.

`pump_queue` does what the Lambda service does for an SQS event source mapping: the mapping read back
(function, batch size, function response types), the function's role checked for what Lambda needs to
read the queue, then receive, invoke with the standard SQS event, delete what succeeded and leave what
failed (the partial batch response honoured), until the queue is empty or a bound is reached. The
mappings must first be taken over from the emulator (`take_over_event_source_mappings`, right after
the apply): moto's SendMessage, to a queue with an enabled mapping, receives the message itself and
tries to run the function in Docker, which is not here (the message is made visible again with a
receive counted, and "error running docker" is written to the function's log group). Disabled in the
emulator, the mapping no longer does that, and the harness takes the Lambda service's role for it.

`tag_change_event` builds the "Tag Change on Resource" event EventBridge emits when tags change,
`scheduled_event` the "Scheduled Event" of a schedule rule.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import io
import json
import re
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import boto3
from moto.events.models import EventPattern

from tools.emulator import fake_aws_environment
from tools.tfcli import REPO_ROOT

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_lambda.type_defs import FunctionConfigurationResponseTypeDef

DEFAULT_BUS: Final = "default"
EVENTS_PRINCIPAL: Final = "events.amazonaws.com"
#: where `fetch_code` looks for a local copy of the deployed zip when the emulator does not serve it
LOCAL_PACKAGES: Final = (REPO_ROOT / "lambda" / "dist",)
_BUS_ARN: Final = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):events:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):event-bus/(?P<name>[^/]+)$"
)
_ROLE_ARN: Final = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):iam::(?P<account>\d{12}):role/(?:.*/)?(?P<name>[^/]+)$"
)
_LAMBDA_ARN: Final = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12})"
    r":function:(?P<name>[^:]+)(?::(?P<qualifier>[^:]+))?$"
)
#: how long the handler's process may take beyond the function's own timeout (interpreter start-up)
_START_UP_ALLOWANCE: Final = 15.0


class DeliveryError(RuntimeError):
    """EventBridge or Lambda would not have delivered the event (or `deliver` cannot emulate it)."""


class DeployedCodeUnavailable(DeliveryError):
    """Neither the emulator nor a local zip provides bytes whose sha256 is the deployed CodeSha256."""


# --------------------------------------------------------------------------------------------------
# The event
# --------------------------------------------------------------------------------------------------


def tag_change_event(
    *,
    resource_arns: Sequence[str],
    tags: Mapping[str, str],
    changed_tag_keys: Iterable[str],
    account: str,
    region: str,
    service: str = "ec2",
    resource_type: str = "instance",
    tag_version: int = 1,
    event_id: str | None = None,
    time_: datetime | None = None,
) -> dict[str, Any]:
    """The "Tag Change on Resource" event (source ``aws.tag``) of a tag change on ``resource_arns``.

    ``tags`` are all the tags the resource has *after* the change (as EventBridge sends them),
    ``changed_tag_keys`` the keys that were added, changed or removed.
    """
    when = (time_ or datetime.now(tz=UTC)).astimezone(UTC)
    return {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": "Tag Change on Resource",
        "source": "aws.tag",
        "account": account,
        "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": list(resource_arns),
        "detail": {
            "changed-tag-keys": list(changed_tag_keys),
            "service": service,
            "resource-type": resource_type,
            "version": tag_version,
            "tags": dict(tags),
        },
    }


# --------------------------------------------------------------------------------------------------
# Routing: rules and targets, as the emulator holds them
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """A rule as ``DescribeRule`` returns it."""

    name: str
    arn: str
    event_bus_name: str
    state: str
    event_pattern: str | None
    schedule_expression: str | None = None
    """``rate(...)`` or ``cron(...)`` for a schedule rule (which has no pattern: `deliver_scheduled`)."""

    def matches(self, event: Mapping[str, Any]) -> bool:
        """Whether EventBridge would route ``event`` through this rule (enabled, pattern matches). A
        schedule rule matches no event: EventBridge runs it on its schedule (`deliver_scheduled`)."""
        if self.state != "ENABLED" or not self.event_pattern:
            return False
        return bool(EventPattern.load(self.event_pattern).matches_event(dict(event)))  # type: ignore[arg-type]


@dataclass(frozen=True)
class Route:
    """A target of a matching rule."""

    rule: Rule
    target_id: str
    target_arn: str
    role_arn: str | None = None

    @property
    def is_lambda(self) -> bool:
        return _LAMBDA_ARN.match(self.target_arn) is not None

    @property
    def is_event_bus(self) -> bool:
        return _BUS_ARN.match(self.target_arn) is not None


def rules_on_bus(events: EventBridgeClient, bus: str = DEFAULT_BUS) -> list[Rule]:
    """Every rule of ``bus``, each read back with ``DescribeRule``."""
    names = [
        rule["Name"]
        for page in events.get_paginator("list_rules").paginate(EventBusName=bus)
        for rule in page.get("Rules", [])
        if "Name" in rule
    ]
    return [describe_rule(events, name, bus) for name in names]


def describe_rule(events: EventBridgeClient, name: str, bus: str = DEFAULT_BUS) -> Rule:
    """The rule ``name`` of ``bus``, read back with ``DescribeRule``."""
    described = events.describe_rule(Name=name, EventBusName=bus)
    return Rule(
        name=name,
        arn=described["Arn"],
        event_bus_name=described.get("EventBusName", bus),
        state=described.get("State", "DISABLED"),
        event_pattern=described.get("EventPattern"),
        schedule_expression=described.get("ScheduleExpression"),
    )


def matching_rules(
    session: boto3.session.Session, event: Mapping[str, Any], bus: str = DEFAULT_BUS
) -> list[Rule]:
    """The rules of ``bus`` that would route ``event``."""
    return [rule for rule in rules_on_bus(session.client("events"), bus) if rule.matches(event)]


def _listed_targets(events: EventBridgeClient, rule: Rule) -> list[dict[str, Any]]:
    pages = events.get_paginator("list_targets_by_rule").paginate(
        Rule=rule.name, EventBusName=rule.event_bus_name
    )
    return [dict(target) for page in pages for target in page.get("Targets", [])]


def routes_of(events: EventBridgeClient, rule: Rule) -> list[Route]:
    """The targets of ``rule`` (``ListTargetsByRule``; for a schedule rule `take_over_schedule_rules`
    took over, the targets the emulator listed then)."""
    routes: list[Route] = []
    taken = _SCHEDULES_TAKEN_OVER.get((str(events.meta.endpoint_url), rule.arn))
    for target in list(taken) if taken is not None else _listed_targets(events, rule):
        if any(key in target for key in ("Input", "InputPath", "InputTransformer")):
            raise DeliveryError(
                f"target {target['Id']} of {rule.name} transforms the event "
                "(Input/InputPath/InputTransformer), which deliver() does not emulate"
            )
        routes.append(
            Route(rule=rule, target_id=target["Id"], target_arn=target["Arn"], role_arn=target.get("RoleArn"))
        )
    return routes


def _as_list(value: Any) -> list[Any]:
    return [value] if isinstance(value, str) else list(value or [])


def _principals(statement: Mapping[str, Any], kind: str) -> list[Any]:
    """The statement's principals of ``kind`` (``Service``, ``AWS``); a bare ``"*"`` is everyone."""
    principal = statement.get("Principal")
    return _as_list(principal.get(kind) if isinstance(principal, dict) else principal)


def _source_arn_allows(conditions: Mapping[str, Any], source_arn: str) -> bool:
    """Whether every ``AWS:SourceArn`` condition of a statement admits ``source_arn``."""
    return _conditions_allow(conditions, {"aws:sourcearn": source_arn}, only=("aws:sourcearn",))


def _conditions_allow(
    conditions: Mapping[str, Any], context: Mapping[str, str], only: Sequence[str] | None = None
) -> bool:
    """Whether a statement's ``conditions`` hold for the request ``context`` (lower-case keys).

    Only the string and ARN tests are evaluated; a condition on a key the context does not have, or with
    another test, does not hold (deliver() never pretends a condition it cannot evaluate admits the
    request). ``only`` restricts the evaluation to those keys.
    """
    for test, keys in conditions.items():
        for key, values in keys.items():
            name = key.lower()
            if only is not None and name not in only:
                continue
            actual = context.get(name)
            if actual is None:
                return False
            if test in ("ArnLike", "StringLike"):
                admitted = any(fnmatch.fnmatchcase(actual, pattern) for pattern in _as_list(values))
            elif test in ("ArnEquals", "StringEquals"):
                admitted = actual in _as_list(values)
            else:
                admitted = False
            if not admitted:
                return False
    return True


def _allows(statement: Mapping[str, Any], action: str, resource: str) -> bool:
    """Whether an Allow or Deny ``statement`` covers ``action`` on ``resource`` (wildcards as IAM has
    them; ``NotAction`` / ``NotResource`` are never taken to cover anything)."""
    if "Action" not in statement or "Resource" not in statement:
        return False
    actions = _as_list(statement["Action"])
    resources = _as_list(statement["Resource"])
    return any(fnmatch.fnmatchcase(action.lower(), pattern.lower()) for pattern in actions) and any(
        fnmatch.fnmatchcase(resource, pattern) for pattern in resources
    )


def check_invoke_permission(
    lambda_client: LambdaClient, function: str, rule: Rule, qualifier: str | None = None
) -> str:
    """The Sid of the resource-policy statement that lets ``rule`` invoke ``function``.

    EventBridge can only invoke a function whose resource policy allows ``events.amazonaws.com`` to
    call ``lambda:InvokeFunction`` (from this rule, when the statement has an ``AWS:SourceArn``
    condition); otherwise `DeliveryError`.
    """
    kwargs = {"Qualifier": qualifier} if qualifier else {}
    try:
        policy = json.loads(lambda_client.get_policy(FunctionName=function, **kwargs)["Policy"])
    except lambda_client.exceptions.ResourceNotFoundException as exc:
        raise DeliveryError(f"{function} has no resource policy: EventBridge may not invoke it") from exc
    for statement in policy.get("Statement", []):
        actions = _as_list(statement.get("Action"))
        if (
            statement.get("Effect") == "Allow"
            and EVENTS_PRINCIPAL in _principals(statement, "Service")
            and any(action in ("lambda:InvokeFunction", "lambda:*", "*") for action in actions)
            and _source_arn_allows(statement.get("Condition", {}), rule.arn)
        ):
            return str(statement.get("Sid", ""))
    raise DeliveryError(
        f"the resource policy of {function} does not let {EVENTS_PRINCIPAL} invoke it from {rule.arn}"
    )


# --------------------------------------------------------------------------------------------------
# The deployed code
# --------------------------------------------------------------------------------------------------


def code_sha256(data: bytes) -> str:
    """Lambda's ``CodeSha256``: the base64 of the SHA-256 digest of the zip."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


@dataclass(frozen=True)
class DeployedCode:
    """The bytes of a function's zip, verified against the ``CodeSha256`` the emulator reports."""

    data: bytes = field(repr=False)
    sha256: str
    source: str
    """Where the bytes came from, and why they are the deployed ones."""
    notes: tuple[str, ...] = ()
    """What was tried before (e.g. why ``Code.Location`` could not be fetched)."""


def _emulator_copy_of(location: str, endpoint_url: str) -> str | None:
    """``location`` on the emulator: itself when it is served there, else path-style S3 on it."""
    parsed = urllib.parse.urlsplit(location)
    endpoint = urllib.parse.urlsplit(endpoint_url)
    if (parsed.scheme, parsed.netloc) == (endpoint.scheme, endpoint.netloc):
        return location
    bucket_host = re.match(r"^(?P<bucket>[a-z0-9.-]+)\.s3[.-]", parsed.netloc)
    if bucket_host and parsed.netloc.endswith(".amazonaws.com"):
        return f"{endpoint_url}/{bucket_host['bucket']}{parsed.path}"
    return None


def _fetch(url: str, timeout: float = 30) -> bytes:
    """GET ``url`` (only ever a URL on the emulator: 127.0.0.1)."""
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - emulator URL
        data: bytes = response.read()
        return data


def fetch_code(
    lambda_client: LambdaClient,
    function: str,
    *,
    local_packages: Iterable[Path] = LOCAL_PACKAGES,
    qualifier: str | None = None,
) -> DeployedCode:
    """The function's zip as deployed, verified against the ``CodeSha256`` the emulator reports.

    First ``GetFunction``'s ``Code.Location``, fetched from the emulator only (it is never fetched from
    AWS: an ``*.s3.*.amazonaws.com`` location is asked of the emulator's S3, path-style). moto 5.2 does
    not serve function code (the location names a bucket that does not exist in the emulator), so then
    the zips found in ``local_packages`` (files, or directories of ``*.zip``) are hashed, and the one
    whose sha256 equals ``CodeSha256`` is used: byte for byte what the emulator holds. When none matches
    (a stale package, or code deployed from elsewhere), `DeployedCodeUnavailable` is raised.
    """
    response = lambda_client.get_function(
        FunctionName=function, **({"Qualifier": qualifier} if qualifier else {})
    )
    expected = response["Configuration"].get("CodeSha256", "")
    if not expected:
        raise DeployedCodeUnavailable(f"the emulator reports no CodeSha256 for {function}")
    notes: list[str] = []
    location = response.get("Code", {}).get("Location")
    if location:
        url = _emulator_copy_of(location, lambda_client.meta.endpoint_url)
        if url is None:
            notes.append(f"Code.Location {location} is not on the emulator: not fetched")
        else:
            try:
                data = _fetch(url)
            except (urllib.error.URLError, OSError) as exc:
                reason = exc.code if isinstance(exc, urllib.error.HTTPError) else exc
                notes.append(f"Code.Location is not served by the emulator ({url}: {reason})")
            else:
                if code_sha256(data) == expected:
                    return DeployedCode(data, expected, f"the emulator ({url})", tuple(notes))
                notes.append(f"{url} returned bytes of sha256 {code_sha256(data)}, not {expected}")
    candidates: list[Path] = []
    for place in local_packages:
        candidates += sorted(place.glob("*.zip")) if place.is_dir() else [place]
    for path in candidates:
        if not path.is_file():
            continue
        data = path.read_bytes()
        digest = code_sha256(data)
        if digest == expected:
            shown = path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path
            return DeployedCode(
                data, expected, f"{shown}, whose sha256 is the deployed CodeSha256", tuple(notes)
            )
        notes.append(f"{path}: sha256 {digest}")
    raise DeployedCodeUnavailable(
        f"no copy of the code of {function} (CodeSha256 {expected}) is available: " + "; ".join(notes)
    )


# --------------------------------------------------------------------------------------------------
# Running the handler
# --------------------------------------------------------------------------------------------------

# Runs in the function's process, with the extracted zip as working directory and only on PYTHONPATH.
# argv: spec.json (event, handler, context fields), result.json (written by this bootstrap).
_BOOTSTRAP: Final = r"""
import importlib, json, sys, time, traceback

with open(sys.argv[1], encoding="utf-8") as spec_file:
    spec = json.load(spec_file)


class LambdaContext:
    def __init__(self, spec):
        self.function_name = spec["function_name"]
        self.function_version = spec["function_version"]
        self.invoked_function_arn = spec["invoked_function_arn"]
        self.memory_limit_in_mb = spec["memory_limit_in_mb"]
        self.aws_request_id = spec["aws_request_id"]
        self.log_group_name = spec["log_group_name"]
        self.log_stream_name = spec["log_stream_name"]
        self._deadline = time.monotonic() + spec["timeout"]

    def get_remaining_time_in_millis(self):
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def error(exc, error_type=None):
    return {
        "errorMessage": str(exc),
        "errorType": error_type or type(exc).__name__,
        "stackTrace": traceback.format_tb(exc.__traceback__),
    }


outcome = {"imported_from": None, "function_error": None}
module_name, _, function_name = spec["handler"].rpartition(".")
try:
    module = importlib.import_module(module_name)
    handler = getattr(module, function_name)
except Exception as exc:
    outcome.update(payload=error(exc, "Runtime.ImportModuleError"), function_error="Unhandled")
else:
    outcome["imported_from"] = getattr(module, "__file__", None)
    try:
        result = handler(spec["event"], LambdaContext(spec))
        outcome["payload"] = json.loads(json.dumps(result))
    except Exception as exc:
        traceback.print_exc()
        outcome.update(payload=error(exc), function_error="Unhandled")
sys.stdout.flush()
sys.stderr.flush()
with open(sys.argv[2], "w", encoding="utf-8") as result_file:
    json.dump(outcome, result_file)
"""


@dataclass(frozen=True)
class Invocation:
    """One run of a function for a delivered event: what Lambda would have reported."""

    route: Route | None
    """The rule's target that was invoked (None: an event source mapping invoked it, see `mapping`)."""
    function_name: str
    function_arn: str
    handler: str
    runtime: str
    code: DeployedCode
    request_id: str
    payload: Any
    """The handler's JSON result, or Lambda's error payload (errorMessage, errorType, stackTrace)."""
    function_error: str | None
    """None when the handler returned, ``Unhandled`` when it raised (or timed out)."""
    log_lines: tuple[str, ...]
    """What the function wrote to stdout and stderr, in order (its CloudWatch Logs lines)."""
    imported_from: str | None
    """The file the handler's module was imported from (inside the extracted zip)."""
    seconds: float
    mapping: EventSourceMapping | None = None
    """The event source mapping that invoked the function (`pump_queue`), when no rule did."""

    @property
    def ok(self) -> bool:
        return self.function_error is None

    def json_log_lines(self) -> list[dict[str, Any]]:
        """The log lines that are JSON objects (the handler's structured log)."""
        parsed: list[dict[str, Any]] = []
        for line in self.log_lines:
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(value, dict):
                parsed.append(value)
        return parsed


def _runtime_environment(
    configuration: FunctionConfigurationResponseTypeDef, task_root: Path, endpoint_url: str, region: str
) -> dict[str, str]:
    """The function's variables, then what the Lambda runtime sets (it wins, as in Lambda), then AWS."""
    name = configuration["FunctionName"]
    env = dict(configuration.get("Environment", {}).get("Variables", {}))
    env.update(
        {
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_VERSION": configuration.get("Version", "$LATEST"),
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(configuration.get("MemorySize", 128)),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{configuration.get('Runtime', 'python3')}",
            "LAMBDA_TASK_ROOT": str(task_root),
            "_HANDLER": configuration.get("Handler", ""),
            "TZ": ":UTC",
            "LANG": "en_US.UTF-8",
            "PYTHONPATH": str(task_root),
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(fake_aws_environment(endpoint_url, region))
    return env


def invoke(
    session: boto3.session.Session,
    route: Route,
    event: Mapping[str, Any],
    *,
    local_packages: Iterable[Path] = LOCAL_PACKAGES,
) -> Invocation:
    """Run the function ``route`` targets with ``event``, from its deployed code (see the module doc)."""
    match = _LAMBDA_ARN.match(route.target_arn)
    if match is None:
        raise DeliveryError(f"target {route.target_id} of {route.rule.name} is not a Lambda function")
    check_invoke_permission(session.client("lambda"), match["name"], route.rule, match["qualifier"])
    return run_function(session, route.target_arn, event, route=route, local_packages=local_packages)


def run_function(
    session: boto3.session.Session,
    function_arn: str,
    event: Mapping[str, Any],
    *,
    route: Route | None = None,
    mapping: EventSourceMapping | None = None,
    local_packages: Iterable[Path] = LOCAL_PACKAGES,
) -> Invocation:
    """Run the function ``function_arn`` (qualified or not) with ``event`` from its deployed code, as
    the Lambda service does once the caller may invoke it (`invoke` checks that for a rule's target,
    `pump_queue` for an event source mapping): the configuration and the code read back from the
    emulator, the handler in a fresh process (see the module doc)."""
    lambda_client = session.client("lambda")
    match = _LAMBDA_ARN.match(function_arn)
    if match is None:
        raise DeliveryError(f"{function_arn} is not a Lambda function ARN")
    function = match["name"]
    kwargs = {"Qualifier": match["qualifier"]} if match["qualifier"] else {}
    configuration = lambda_client.get_function_configuration(FunctionName=function, **kwargs)
    if configuration.get("State", "Active") != "Active":
        raise DeliveryError(f"{function} is {configuration.get('State')}, not Active")
    code = fetch_code(lambda_client, function, local_packages=local_packages, qualifier=match["qualifier"])
    handler = configuration.get("Handler", "")
    if "." not in handler:
        raise DeliveryError(f"{function} has no usable handler ({handler!r})")
    function_arn = configuration["FunctionArn"]
    region = function_arn.split(":")[3]
    request_id = str(uuid.uuid4())
    timeout = float(configuration.get("Timeout", 3))
    endpoint_url = lambda_client.meta.endpoint_url
    with tempfile.TemporaryDirectory(prefix="lambda-invoke-") as scratch:
        task_root = Path(scratch) / "task"
        with zipfile.ZipFile(io.BytesIO(code.data)) as archive:
            archive.extractall(task_root)  # zipfile refuses absolute and ".." member names
        spec_path, result_path = Path(scratch) / "spec.json", Path(scratch) / "result.json"
        spec_path.write_text(
            json.dumps(
                {
                    "event": event,
                    "handler": handler,
                    "function_name": function,
                    "function_version": configuration.get("Version", "$LATEST"),
                    "invoked_function_arn": function_arn,
                    "memory_limit_in_mb": configuration.get("MemorySize", 128),
                    "aws_request_id": request_id,
                    "log_group_name": f"/aws/lambda/{function}",
                    "log_stream_name": f"{datetime.now(tz=UTC):%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}",
                    "timeout": timeout,
                }
            ),
            encoding="utf-8",
        )
        started = time.monotonic()
        payload, function_error, lines, imported_from = _run_bootstrap(
            [sys.executable, "-s", "-c", _BOOTSTRAP, str(spec_path), str(result_path)],
            cwd=task_root,
            env=_runtime_environment(configuration, task_root, endpoint_url, region),
            timeout=timeout,
            result_path=result_path,
        )
        seconds = time.monotonic() - started
    return Invocation(
        route=route,
        function_name=function,
        function_arn=function_arn,
        handler=handler,
        runtime=configuration.get("Runtime", ""),
        code=code,
        request_id=request_id,
        payload=payload,
        function_error=function_error,
        log_lines=lines,
        imported_from=imported_from,
        seconds=seconds,
        mapping=mapping,
    )


def _run_bootstrap(
    command: list[str], *, cwd: Path, env: dict[str, str], timeout: float, result_path: Path
) -> tuple[Any, str | None, tuple[str, ...], str | None]:
    """Run the function's process: (payload, function error, log lines, module file relative to cwd)."""
    try:
        completed = subprocess.run(  # noqa: S603 - fixed argument list, no shell
            command,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout + _START_UP_ALLOWANCE,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        output = exc.output if isinstance(exc.output, str) else (exc.output or b"").decode()
        timed_out = {"errorMessage": f"Task timed out after {timeout:.2f} seconds", "errorType": "Timeout"}
        return timed_out, "Unhandled", tuple(output.splitlines()), None
    lines = tuple(completed.stdout.splitlines())
    if not result_path.is_file():
        exited = {
            "errorMessage": f"the runtime process exited with {completed.returncode} without a result",
            "errorType": "Runtime.ExitError",
        }
        return exited, "Unhandled", lines, None
    outcome = json.loads(result_path.read_text(encoding="utf-8"))
    imported_from = outcome.get("imported_from")
    if imported_from is None:
        return outcome.get("payload"), outcome.get("function_error"), lines, None
    module_file = Path(imported_from).resolve()
    if not module_file.is_relative_to(cwd.resolve()):
        raise DeliveryError(
            f"the handler module was imported from {imported_from}, not from the deployed code in {cwd}: "
            "something else is on the function's path"
        )
    relative = str(module_file.relative_to(cwd.resolve()))
    return outcome.get("payload"), outcome.get("function_error"), lines, relative


# --------------------------------------------------------------------------------------------------
# Another account's event bus as a target
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Forwarding:
    """An event put on another account's bus by a rule's target, and why EventBridge would do it."""

    route: Route
    bus_arn: str
    role_statement: str
    """The Sid of the statement of the target role's policies that allows PutEvents on the bus."""
    bus_statement: str
    """The Sid of the statement of the bus's resource policy that accepts the event."""


def _role_policies(iam: IAMClient, role_name: str) -> list[dict[str, Any]]:
    """The documents of the role's inline and attached policies."""
    documents: list[dict[str, Any]] = []
    for page in iam.get_paginator("list_role_policies").paginate(RoleName=role_name):
        for name in page.get("PolicyNames", []):
            document = iam.get_role_policy(RoleName=role_name, PolicyName=name)["PolicyDocument"]
            documents.append(json.loads(document) if isinstance(document, str) else dict(document))
    for attached_page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=role_name):
        for attached in attached_page.get("AttachedPolicies", []):
            arn = attached.get("PolicyArn", "")
            version = iam.get_policy(PolicyArn=arn)["Policy"].get("DefaultVersionId", "v1")
            document = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]
            documents.append(json.loads(document) if isinstance(document, str) else dict(document))
    return documents


def check_target_role(source: boto3.session.Session, route: Route, bus_arn: str) -> str:
    """The Sid of the statement that lets the target's role put events on ``bus_arn``.

    EventBridge assumes the target's role (in the rule's account): its trust policy must let
    ``events.amazonaws.com`` assume it for this rule (``aws:SourceArn``, ``aws:SourceAccount``), and its
    policies must allow ``events:PutEvents`` on the bus, with no Deny of it; otherwise `DeliveryError`.
    """
    account = route.rule.arn.split(":")[4]
    role = _ROLE_ARN.match(route.role_arn or "")
    if role is None:
        raise DeliveryError(
            f"target {route.target_id} of {route.rule.name} has no role to put events on {bus_arn}"
        )
    if role["account"] != account:
        raise DeliveryError(
            f"the role {route.role_arn} of target {route.target_id} is not of the rule's account"
        )
    iam = source.client("iam")
    try:
        described = iam.get_role(RoleName=role["name"])["Role"]
    except iam.exceptions.NoSuchEntityException as exc:
        raise DeliveryError(f"the role {route.role_arn} of target {route.target_id} does not exist") from exc
    if described["Arn"] != route.role_arn:
        raise DeliveryError(f"the target names {route.role_arn}, but the role is {described['Arn']}")
    document: Any = described["AssumeRolePolicyDocument"]
    trust: dict[str, Any] = (
        json.loads(urllib.parse.unquote(document)) if isinstance(document, str) else document
    )
    context = {"aws:sourcearn": route.rule.arn, "aws:sourceaccount": account}
    if not any(
        statement.get("Effect") == "Allow"
        and EVENTS_PRINCIPAL in _principals(statement, "Service")
        and "sts:AssumeRole" in _as_list(statement.get("Action"))
        and _conditions_allow(statement.get("Condition", {}), context)
        for statement in trust.get("Statement", [])
    ):
        raise DeliveryError(f"{EVENTS_PRINCIPAL} may not assume {route.role_arn} for {route.rule.arn}")
    statements = [s for document in _role_policies(iam, role["name"]) for s in document.get("Statement", [])]
    if any(s.get("Effect") == "Deny" and _allows(s, "events:PutEvents", bus_arn) for s in statements):
        raise DeliveryError(f"a policy of {route.role_arn} denies events:PutEvents on {bus_arn}")
    for statement in statements:
        if (
            statement.get("Effect") == "Allow"
            and not statement.get("Condition")
            and _allows(statement, "events:PutEvents", bus_arn)
        ):
            return str(statement.get("Sid", ""))
    raise DeliveryError(f"no policy of {route.role_arn} allows events:PutEvents on {bus_arn}")


def check_bus_policy(
    target: boto3.session.Session,
    bus_arn: str,
    event: Mapping[str, Any],
    *,
    source_account: str,
    organization_id: str | None = None,
) -> str:
    """The Sid of the statement of the bus's resource policy that lets ``source_account`` put ``event``.

    An event from another account is accepted only when a statement allows ``events:PutEvents`` on the
    bus to that account (``arn:...:iam::<account>:root``, the bare account id, or ``*``) and its
    conditions hold: ``events:source``, ``events:detail-type``, ``aws:PrincipalAccount`` and, for an
    account of the AWS Organization ``organization_id``, ``aws:PrincipalOrgID``. A statement with another
    condition key is not taken to accept anything. Otherwise `DeliveryError`.
    """
    bus = _BUS_ARN.match(bus_arn)
    if bus is None:
        raise DeliveryError(f"{bus_arn} is not an event bus ARN")
    described = target.client("events").describe_event_bus(Name=bus["name"])
    if described.get("Arn") != bus_arn:
        raise DeliveryError(f"the bus is {described.get('Arn')}, not {bus_arn}: wrong account or region")
    if source_account == bus["account"]:
        return ""  # a bus always accepts its own account's events
    policy = json.loads(described.get("Policy") or '{"Statement": []}')
    context = {
        "events:source": str(event.get("source", "")),
        "events:detail-type": str(event.get("detail-type", "")),
        "aws:principalaccount": source_account,
    }
    if organization_id is not None:
        context["aws:principalorgid"] = organization_id
    principals = {f"arn:{bus['partition']}:iam::{source_account}:root", source_account, "*"}
    for statement in policy.get("Statement", []):
        if (
            statement.get("Effect") == "Allow"
            and principals & set(_principals(statement, "AWS"))
            and _allows(statement, "events:PutEvents", bus_arn)
            and _conditions_allow(statement.get("Condition", {}), context)
        ):
            return str(statement.get("Sid", ""))
    raise DeliveryError(
        f"the resource policy of {bus_arn} does not accept this event from account {source_account}"
    )


@dataclass(frozen=True)
class ForwardedDelivery:
    """An event of one account: its own bus's delivery, what was forwarded to other buses, and what
    happened on each of them."""

    source: Delivery
    forwardings: tuple[Forwarding, ...]
    deliveries: tuple[Delivery, ...]
    """The delivery on each forwarded-to bus, in the order of `forwardings`."""

    @property
    def invocations(self) -> list[Invocation]:
        """Every function run, on the source bus and on the buses it was forwarded to."""
        return [*self.source.invocations, *(i for delivery in self.deliveries for i in delivery.invocations)]


def forward(
    source: boto3.session.Session,
    event: Mapping[str, Any],
    session_for: Callable[[str, str], boto3.session.Session],
    *,
    bus: str = DEFAULT_BUS,
    organization_id: str | None = None,
    local_packages: Iterable[Path] = LOCAL_PACKAGES,
) -> ForwardedDelivery:
    """Route ``event`` through the rules of ``bus`` of ``source`` (the event's account and region), and
    put it on every event bus a matching rule targets, as EventBridge would (see the module doc).

    ``session_for(account, region)`` is a session of the account and region of a target bus (the
    emulator keeps accounts apart by credentials: `tools.emulator.Emulator.session`).
    ``organization_id`` is the AWS Organization of the event's account, when it is in one.
    """
    packages = list(local_packages)
    delivered = deliver(source, event, bus=bus, local_packages=packages)
    forwardings: list[Forwarding] = []
    deliveries: list[Delivery] = []
    for route in delivered.other_targets:
        target_bus = _BUS_ARN.match(route.target_arn)
        if target_bus is None:
            continue
        role_statement = check_target_role(source, route, route.target_arn)
        target = session_for(target_bus["account"], target_bus["region"])
        bus_statement = check_bus_policy(
            target,
            route.target_arn,
            event,
            source_account=route.rule.arn.split(":")[4],
            organization_id=organization_id,
        )
        forwardings.append(Forwarding(route, route.target_arn, role_statement, bus_statement))
        deliveries.append(deliver(target, event, bus=target_bus["name"], local_packages=packages))
    return ForwardedDelivery(delivered, tuple(forwardings), tuple(deliveries))


# --------------------------------------------------------------------------------------------------
# Putting it together
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """What happened to one event: the rules it matched, and each Lambda target's invocation."""

    event: Mapping[str, Any]
    rules: tuple[Rule, ...]
    """Every rule of the bus (read back from the emulator)."""
    matched: tuple[Rule, ...]
    invocations: tuple[Invocation, ...]
    other_targets: tuple[Route, ...] = ()
    """Targets of matched rules that are not Lambda functions (not delivered to)."""

    @property
    def results(self) -> list[Any]:
        return [invocation.payload for invocation in self.invocations]


def deliver(
    session: boto3.session.Session,
    event: Mapping[str, Any],
    *,
    bus: str = DEFAULT_BUS,
    local_packages: Iterable[Path] = LOCAL_PACKAGES,
) -> Delivery:
    """Route ``event`` through the rules of ``bus`` and run every matching Lambda target (module doc).

    ``session`` must talk to the emulator (`tools.emulator.Emulator.session`): the function's process
    gets its endpoint as ``AWS_ENDPOINT_URL``.
    """
    events = session.client("events")
    rules = rules_on_bus(events, bus)
    matched = [rule for rule in rules if rule.matches(event)]
    invocations: list[Invocation] = []
    others: list[Route] = []
    packages = list(local_packages)
    for rule in matched:
        for route in routes_of(events, rule):
            if route.is_lambda:
                invocations.append(invoke(session, route, event, local_packages=packages))
            else:
                others.append(route)
    return Delivery(dict(event), tuple(rules), tuple(matched), tuple(invocations), tuple(others))


# --------------------------------------------------------------------------------------------------
# Schedule rules
# --------------------------------------------------------------------------------------------------

SCHEDULED_EVENT_DETAIL_TYPE: Final = "Scheduled Event"
_SCHEDULE_EXPRESSION: Final = re.compile(r"^(?:rate|cron)\(.+\)$")


def scheduled_event(
    rule_arn: str,
    account: str,
    region: str,
    *,
    event_id: str | None = None,
    time_: datetime | None = None,
) -> dict[str, Any]:
    """The "Scheduled Event" EventBridge delivers to a schedule rule's targets (source ``aws.events``,
    the rule's ARN as the one resource, an empty detail), as in the example event of the EventBridge
    User Guide and the Lambda Developer Guide for rules that run on a schedule."""
    when = (time_ or datetime.now(tz=UTC)).astimezone(UTC)
    return {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": SCHEDULED_EVENT_DETAIL_TYPE,
        "source": "aws.events",
        "account": account,
        "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    }


#: the schedule rules this process took over from the emulator: (EventBridge endpoint, rule ARN) -> the
#: targets the emulator listed for the rule then
_SCHEDULES_TAKEN_OVER: dict[tuple[str, str], tuple[dict[str, Any], ...]] = {}


def take_over_schedule_rules(session: boto3.session.Session) -> list[Rule]:
    """Take the targets of the default bus's schedule rules out of the emulator, keeping them for
    `deliver_scheduled`; the schedule rules.

    Why: moto's PutEvents routes every event through every rule whose pattern matches it, and a schedule
    rule, which has no pattern, matches every event there (whatever its state); a Lambda target is then
    not implemented and PutEvents fails with HTTP 500. With a schedule targeting the function, every
    result event the function puts would fail. EventBridge never routes an event through a schedule
    rule. Call this right after the apply, before the function runs; `deliver_scheduled` and
    `routes_of` then use the targets the emulator listed here. The Terraform state still has them: a
    plan of the configuration would show the difference.
    """
    events = session.client("events")
    endpoint = str(events.meta.endpoint_url)
    taken: list[Rule] = []
    for rule in rules_on_bus(events, DEFAULT_BUS):
        if not rule.schedule_expression:
            continue
        key = (endpoint, rule.arn)
        if key not in _SCHEDULES_TAKEN_OVER:
            targets = _listed_targets(events, rule)
            _SCHEDULES_TAKEN_OVER[key] = tuple(targets)
            if targets:
                events.remove_targets(
                    Rule=rule.name, EventBusName=rule.event_bus_name, Ids=[t["Id"] for t in targets]
                )
        taken.append(rule)
    return taken


def deliver_scheduled(
    session: boto3.session.Session,
    rule_name: str,
    *,
    event_id: str | None = None,
    time_: datetime | None = None,
    local_packages: Iterable[Path] = LOCAL_PACKAGES,
) -> Delivery:
    """Run the targets of the schedule rule ``rule_name`` (default bus) once, as EventBridge does when
    the schedule comes due: the rule and its targets are read back from the emulator, each Lambda
    target's resource policy must let the rule invoke it (`check_invoke_permission`), and it runs with
    the rule's `scheduled_event` (account and region of the rule's ARN). A disabled rule runs nothing.

    `DeliveryError` for a rule without a schedule (an event-pattern rule: `deliver`), and for a target
    that transforms the event (`routes_of`).
    """
    events = session.client("events")
    rule = describe_rule(events, rule_name)
    if not rule.schedule_expression:
        raise DeliveryError(
            f"{rule_name} has no schedule expression: EventBridge never runs it on a schedule"
        )
    if not _SCHEDULE_EXPRESSION.match(rule.schedule_expression):
        raise DeliveryError(
            f"{rule_name} has a schedule expression EventBridge refuses: {rule.schedule_expression}"
        )
    account, region = rule.arn.split(":")[4], rule.arn.split(":")[3]
    event = scheduled_event(rule.arn, account, region, event_id=event_id, time_=time_)
    if rule.state != "ENABLED":
        return Delivery(event, (rule,), (), ())
    invocations: list[Invocation] = []
    others: list[Route] = []
    packages = list(local_packages)
    for route in routes_of(events, rule):
        if route.is_lambda:
            invocations.append(invoke(session, route, event, local_packages=packages))
        else:
            others.append(route)
    return Delivery(event, (rule,), (rule,), tuple(invocations), tuple(others))


# --------------------------------------------------------------------------------------------------
# SQS queues read by an event source mapping
# --------------------------------------------------------------------------------------------------

SQS_EVENT_SOURCE: Final = "aws:sqs"
REPORT_BATCH_ITEM_FAILURES: Final = "ReportBatchItemFailures"
#: the message attributes Lambda passes in a record's ``attributes``, in its order
SQS_RECORD_ATTRIBUTES: Final = (
    "ApproximateReceiveCount",
    "AWSTraceHeader",
    "SentTimestamp",
    "SequenceNumber",
    "MessageGroupId",
    "SenderId",
    "MessageDeduplicationId",
    "ApproximateFirstReceiveTimestamp",
    "DeadLetterQueueSourceArn",
)
#: what the function's execution role needs so that Lambda can read the queue for it
SQS_POLLER_ACTIONS: Final = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")
#: how many messages one ReceiveMessage call returns at most
_RECEIVE_LIMIT: Final = 10
#: the event source mappings this process took over from the emulator: (Lambda endpoint, UUID)
_TAKEN_OVER: set[tuple[str, str]] = set()


@dataclass(frozen=True)
class EventSourceMapping:
    """An event source mapping as ``ListEventSourceMappings`` returns it."""

    uuid: str
    function_arn: str
    event_source_arn: str
    state: str
    batch_size: int
    function_response_types: tuple[str, ...]
    maximum_concurrency: int | None
    maximum_batching_window: int
    filter_criteria: Any
    taken_over: bool
    """Disabled in the emulator by `take_over_event_source_mappings`: `pump_queue` polls for it."""

    @property
    def reports_batch_item_failures(self) -> bool:
        return REPORT_BATCH_ITEM_FAILURES in self.function_response_types


def _endpoint(lambda_client: LambdaClient) -> str:
    return str(lambda_client.meta.endpoint_url)


def event_source_mappings(session: boto3.session.Session, queue_arn: str) -> list[EventSourceMapping]:
    """The event source mappings that read ``queue_arn`` (``ListEventSourceMappings``)."""
    lambda_client = session.client("lambda")
    endpoint = _endpoint(lambda_client)
    mappings: list[EventSourceMapping] = []
    for page in lambda_client.get_paginator("list_event_source_mappings").paginate(EventSourceArn=queue_arn):
        for found in page.get("EventSourceMappings", []):
            uuid_ = found.get("UUID", "")
            mappings.append(
                EventSourceMapping(
                    uuid=uuid_,
                    function_arn=found.get("FunctionArn", ""),
                    event_source_arn=found.get("EventSourceArn", ""),
                    state=found.get("State", ""),
                    batch_size=int(found.get("BatchSize", 10)),
                    function_response_types=tuple(found.get("FunctionResponseTypes", [])),
                    maximum_concurrency=found.get("ScalingConfig", {}).get("MaximumConcurrency"),
                    maximum_batching_window=int(found.get("MaximumBatchingWindowInSeconds", 0)),
                    filter_criteria=found.get("FilterCriteria") or None,
                    taken_over=(endpoint, uuid_) in _TAKEN_OVER,
                )
            )
    return mappings


def take_over_event_source_mappings(
    session: boto3.session.Session, queue_arn: str
) -> list[EventSourceMapping]:
    """Disable, in the emulator, the enabled event source mappings of ``queue_arn``, so that `pump_queue`
    does what the Lambda service does for them; the mappings as they were (enabled).

    Why: moto's SendMessage, to a queue with an enabled mapping, receives the new message itself (its
    receive count is then 1), tries to run the function in Docker (which is not here: it writes "error
    running docker" to the function's log group) and makes the message visible again. Each message the
    function sends would have a receive the Lambda service never made, and reach the dead-letter queue a
    receive early. Call this right after the apply, before anything is sent to the queue. The
    Terraform state still says ``enabled``: a plan of the configuration would show the difference.
    """
    lambda_client = session.client("lambda")
    endpoint = _endpoint(lambda_client)
    taken: list[EventSourceMapping] = []
    for mapping in event_source_mappings(session, queue_arn):
        if mapping.state == "Enabled":
            lambda_client.update_event_source_mapping(UUID=mapping.uuid, Enabled=False)
        elif not mapping.taken_over:
            continue  # disabled by its owner: the Lambda service does not poll it
        _TAKEN_OVER.add((endpoint, mapping.uuid))
        taken.append(mapping)
    return taken


@dataclass(frozen=True)
class TakeOver:
    """What `take_over_emulator` took over from the emulator."""

    schedule_rules: tuple[Rule, ...]
    event_source_mappings: tuple[EventSourceMapping, ...]


def take_over_emulator(session: boto3.session.Session) -> TakeOver:
    """Take over, right after an apply, what moto would otherwise do wrong by itself: the default bus's
    schedule rules (`take_over_schedule_rules`) and every SQS event source mapping of the session's
    account and region (`take_over_event_source_mappings`)."""
    rules = take_over_schedule_rules(session)
    listed = [
        str(found.get("EventSourceArn", ""))
        for page in session.client("lambda").get_paginator("list_event_source_mappings").paginate()
        for found in page.get("EventSourceMappings", [])
    ]
    queues = sorted({arn for arn in listed if arn.split(":")[2:3] == ["sqs"]})
    mappings = [mapping for queue in queues for mapping in take_over_event_source_mappings(session, queue)]
    return TakeOver(tuple(rules), tuple(mappings))


def check_poller_permissions(
    session: boto3.session.Session, mapping: EventSourceMapping, queue_arn: str, kms_key: str | None
) -> dict[str, str]:
    """The Sid of the statement of the function's execution role that allows each action Lambda needs
    to read ``queue_arn`` for ``mapping`` (`SQS_POLLER_ACTIONS`, and ``kms:Decrypt`` on the queue's
    customer managed key ``kms_key``); `DeliveryError` when one is missing or denied.

    The Lambda service polls with the function's role: a role that may not receive and delete the
    queue's messages never gets them. Only the role's identity policies are read (a statement with a
    condition is not taken to allow anything); a key policy is not evaluated.
    """
    lambda_client = session.client("lambda")
    role_arn = lambda_client.get_function_configuration(FunctionName=mapping.function_arn)["Role"]
    role = _ROLE_ARN.match(role_arn)
    if role is None:
        raise DeliveryError(f"the execution role {role_arn} of {mapping.function_arn} is not a role ARN")
    statements = [
        s
        for document in _role_policies(session.client("iam"), role["name"])
        for s in document.get("Statement", [])
    ]
    needed = [(action, queue_arn) for action in SQS_POLLER_ACTIONS]
    if kms_key is not None:
        key_arn = session.client("kms").describe_key(KeyId=kms_key)["KeyMetadata"]["Arn"]
        needed.append(("kms:Decrypt", key_arn))
    granted: dict[str, str] = {}
    for action, resource in needed:
        if any(s.get("Effect") == "Deny" and _allows(s, action, resource) for s in statements):
            raise DeliveryError(f"a policy of {role_arn} denies {action} on {resource}")
        allowing = [
            s
            for s in statements
            if s.get("Effect") == "Allow" and not s.get("Condition") and _allows(s, action, resource)
        ]
        if not allowing:
            raise DeliveryError(
                f"the execution role {role_arn} may not {action} on {resource}: Lambda cannot read the "
                f"queue for {mapping.function_arn}"
            )
        granted[action] = str(allowing[0].get("Sid", ""))
    return granted


def sqs_record(message: Mapping[str, Any], queue_arn: str) -> dict[str, Any]:
    """The record of one received message in the event Lambda sends the function (its documented SQS
    event shape: messageId, receiptHandle, body, attributes, messageAttributes, md5OfBody, eventSource,
    eventSourceARN, awsRegion)."""
    received = message.get("Attributes", {})
    attributes = {name: received[name] for name in SQS_RECORD_ATTRIBUTES if name in received}
    message_attributes: dict[str, Any] = {}
    for name, value in message.get("MessageAttributes", {}).items():
        converted: dict[str, Any] = {}
        if "StringValue" in value:
            converted["stringValue"] = value["StringValue"]
        if "BinaryValue" in value:
            converted["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode("ascii")
        converted["stringListValues"] = list(value.get("StringListValues", []))
        converted["binaryListValues"] = [
            base64.b64encode(item).decode("ascii") for item in value.get("BinaryListValues", [])
        ]
        converted["dataType"] = value.get("DataType", "String")
        message_attributes[name] = converted
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "md5OfBody": message.get("MD5OfBody", ""),
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    record.update(
        {"eventSource": SQS_EVENT_SOURCE, "eventSourceARN": queue_arn, "awsRegion": queue_arn.split(":")[3]}
    )
    return record


def batch_failures(
    mapping: EventSourceMapping, invocation: Invocation, message_ids: Sequence[str]
) -> tuple[tuple[str, ...], str]:
    """The messages of a batch Lambda leaves in the queue after ``invocation``, and why.

    As the Lambda Developer Guide describes an SQS event source: a failed invocation fails the whole
    batch. With ``ReportBatchItemFailures``, the response's ``batchItemFailures`` names the failed
    messages: a null or empty response or list is a complete success; an invalid response, an item
    without ``itemIdentifier`` (or with an empty or null one, or one that names no message of the batch)
    fails the whole batch. Without it, the response is not read: a returning invocation is a success.
    """
    everything = tuple(message_ids)
    if not invocation.ok:
        return everything, f"the invocation failed ({invocation.function_error}): the whole batch"
    if not mapping.reports_batch_item_failures:
        return (), "the invocation returned (the response is not read without ReportBatchItemFailures)"
    failed, why = _reported_failures(invocation.payload, everything)
    return (everything if failed is None else failed), why


def _reported_failures(payload: Any, batch: tuple[str, ...]) -> tuple[tuple[str, ...] | None, str]:
    """The failed messages a partial batch response names (None: the whole batch failed), and why."""
    failures = payload.get("batchItemFailures") if isinstance(payload, dict) else payload
    if payload is not None and not isinstance(payload, dict):
        return None, f"an invalid response ({type(payload).__name__}): the whole batch"
    if not failures:
        return (), "a null or empty response or batchItemFailures: a complete success"
    if not isinstance(failures, list):
        return None, "batchItemFailures is not a list: the whole batch"
    failed: list[str] = []
    for item in failures:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(identifier, str) or identifier not in batch:
            return None, f"an invalid batch item failure ({item!r}): the whole batch"
        if identifier not in failed:
            failed.append(identifier)
    return tuple(failed), "batchItemFailures"


@dataclass(frozen=True)
class Batch:
    """One invocation of a queue's function for a batch of messages, and what became of them."""

    mapping: EventSourceMapping
    event: Mapping[str, Any]
    """The SQS event the function got (its ``Records``)."""
    message_ids: tuple[str, ...]
    receive_counts: tuple[int, ...]
    """Each message's ApproximateReceiveCount in the event (1: its first delivery)."""
    invocation: Invocation
    deleted: tuple[str, ...]
    failed: tuple[str, ...]
    """Left in the queue: received again once their visibility timeout has passed."""
    outcome: str
    """How the response was read (`batch_failures`)."""


@dataclass(frozen=True)
class Pump:
    """What `pump_queue` did: each batch, and what is left in the queue."""

    queue_url: str
    queue_arn: str
    mappings: tuple[EventSourceMapping, ...]
    batches: tuple[Batch, ...]
    visible: int
    """Messages left that a receive would return now."""
    in_flight: int
    """Messages left whose visibility timeout has not passed (failed ones, unless made visible)."""
    bounded: bool
    """Stopped at ``max_invocations`` with messages still to receive."""

    @property
    def invocations(self) -> list[Invocation]:
        return [batch.invocation for batch in self.batches]

    @property
    def results(self) -> list[Any]:
        return [batch.invocation.payload for batch in self.batches]

    @property
    def drained(self) -> bool:
        """Nothing is left in the queue: each message was deleted, or moved to a dead-letter queue."""
        return self.visible == 0 and self.in_flight == 0


def pump_queue(
    session: boto3.session.Session,
    queue_url: str,
    *,
    max_invocations: int = 50,
    redeliver_failures: bool = False,
    local_packages: Iterable[Path] = LOCAL_PACKAGES,
) -> Pump:
    """Do for ``queue_url`` what the Lambda service does for the event source mappings that read it.

    The mappings are read back (``ListEventSourceMappings`` of the queue's ARN: function, batch size,
    function response types); each must be one `take_over_event_source_mappings` took over (an enabled
    one means moto's own poller is at work: `DeliveryError`, see there), with no filter criteria (not
    emulated), and the function's role must let Lambda read the queue (`check_poller_permissions`).
    Then, until the queue has nothing to receive or ``max_invocations`` invocations were made:
    ``ReceiveMessage`` (at most the batch size, 10 a call; the queue's own visibility timeout), the
    function runs once with the batch as the standard SQS event (`sqs_record`), the messages that
    succeeded are deleted (``DeleteMessageBatch``) and the failed ones left in the queue
    (`batch_failures`). What the function sends to the queue meanwhile is received in later rounds.

    A failed message becomes visible again only when its visibility timeout has passed; with
    ``redeliver_failures`` it is made visible at once (``ChangeMessageVisibility`` 0), standing in for
    that wait, so that it is received again (its receive count grows, and the queue's redrive policy
    moves it to the dead-letter queue after ``maxReceiveCount`` receives). The batches run one after
    the other: a concurrency of 1, within any ``maximum_concurrency``.
    """
    sqs = session.client("sqs")
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn", "KmsMasterKeyId"])[
        "Attributes"
    ]
    queue_arn = attributes["QueueArn"]
    kms_key = attributes.get("KmsMasterKeyId") or None
    mappings = event_source_mappings(session, queue_arn)
    for mapping in mappings:
        if mapping.state == "Enabled":
            raise DeliveryError(
                f"the event source mapping {mapping.uuid} of {queue_arn} is enabled in the emulator, whose "
                "SendMessage then receives each message itself and tries to run the function in Docker: "
                "take_over_event_source_mappings() right after the apply"
            )
    polled = [mapping for mapping in mappings if mapping.taken_over]
    if not polled:
        raise DeliveryError(f"no enabled event source mapping reads {queue_arn}: Lambda would invoke nothing")
    for mapping in polled:
        if mapping.filter_criteria:
            raise DeliveryError(f"the event source mapping {mapping.uuid} filters messages: not emulated")
        check_poller_permissions(session, mapping, queue_arn, kms_key)
    packages = list(local_packages)
    batches: list[Batch] = []
    empty_in_a_row = 0
    while len(batches) < max_invocations and empty_in_a_row < len(polled):
        mapping = polled[len(batches) % len(polled)]
        received = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=max(1, min(mapping.batch_size, _RECEIVE_LIMIT)),
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
            WaitTimeSeconds=0,
        ).get("Messages", [])
        if not received:
            empty_in_a_row += 1
            continue
        empty_in_a_row = 0
        event = {"Records": [sqs_record(message, queue_arn) for message in received]}
        invocation = run_function(
            session, mapping.function_arn, event, mapping=mapping, local_packages=packages
        )
        ids = [message["MessageId"] for message in received]
        failed, outcome = batch_failures(mapping, invocation, ids)
        handles = {message["MessageId"]: message["ReceiptHandle"] for message in received}
        deleted = tuple(i for i in ids if i not in failed)
        if deleted:
            answer = sqs.delete_message_batch(
                QueueUrl=queue_url,
                Entries=[{"Id": str(n), "ReceiptHandle": handles[i]} for n, i in enumerate(deleted)],
            )
            if answer.get("Failed"):
                raise DeliveryError(f"DeleteMessageBatch failed for {answer['Failed']}")
        if failed and redeliver_failures:
            sqs.change_message_visibility_batch(
                QueueUrl=queue_url,
                Entries=[
                    {"Id": str(n), "ReceiptHandle": handles[i], "VisibilityTimeout": 0}
                    for n, i in enumerate(failed)
                ],
            )
        batches.append(
            Batch(
                mapping=mapping,
                event=event,
                message_ids=tuple(ids),
                receive_counts=tuple(
                    int(message.get("Attributes", {}).get("ApproximateReceiveCount", "0"))
                    for message in received
                ),
                invocation=invocation,
                deleted=deleted,
                failed=failed,
                outcome=outcome,
            )
        )
    left = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    visible = int(left.get("ApproximateNumberOfMessages", "0"))
    return Pump(
        queue_url=queue_url,
        queue_arn=queue_arn,
        mappings=tuple(polled),
        batches=tuple(batches),
        visible=visible,
        in_flight=int(left.get("ApproximateNumberOfMessagesNotVisible", "0")),
        bounded=len(batches) >= max_invocations and visible > 0,
    )
