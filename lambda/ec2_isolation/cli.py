"""Responder CLI: set the isolation or release tag on an instance and follow it to its outcome, show an
instance's record beside its live state, or list every record.

    ec2-isolation isolate i-0123456789abcdef0 --wait
    ec2-isolation release i-0123456789abcdef0 --wait
    ec2-isolation status  i-0123456789abcdef0
    ec2-isolation list --status isolated --since 7d

``isolate`` and ``release`` make exactly one write, ec2:CreateTags of the trigger tag (``--retrigger``
deletes it first when it already has the value), so a responder needs no more than the right to tag:
the module's Lambda does the rest; ``--wait`` then follows the record (reads only). ``status`` and
``list`` only read. Exit codes: 0 done, 1 an AWS error, an instance that cannot be acted on, or an
attempt that failed, 2 a usage error, 3 ``--wait`` timed out, 130 the wait was interrupted (Ctrl-C).

It installs as the console script ``ec2-isolation`` (``pip install .``) and also runs as
``python -m ec2_isolation``; it ships in the Lambda package (stdlib and boto3 only) and is never called by
the handler.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TextIO

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    ProfileNotFound,
)

from ec2_isolation import __version__, follow, listing
from ec2_isolation.clients import AwsClients
from ec2_isolation.errors import InstanceNotFound, error_code
from ec2_isolation.manifest import manifest_lines
from ec2_isolation.steps.evidence import protection_state
from ec2_isolation.steps.instance import GONE_STATES, describe_instance, instance_tags
from ec2_isolation.steps.record import DRY_RUN_KEY_PREFIX, capture_prior_state, read_record
from ec2_isolation.steps.services import (
    auto_scaling_membership,
    elastic_ip_associations,
    find_target_registrations,
)
from ec2_isolation.values import plain as _plain

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_ec2.type_defs import InstanceTypeDef, TagTypeDef

OK, AWS_ERROR, USAGE, TIMED_OUT, INTERRUPTED = 0, 1, 2, follow.TIMED_OUT, follow.INTERRUPTED
PROG = "ec2-isolation"
INSTANCE_ID = re.compile(r"^i-(?:[0-9a-f]{8}|[0-9a-f]{17})$")
#: an instance ARN, as GuardDuty and Security Hub name instances: it says the account and region too
INSTANCE_ARN = re.compile(
    r"^arn:aws[a-z-]*:ec2:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):instance/(?P<id>i-[0-9a-f]+)$"
)
TABLE_REGION_VARIABLE = "EC2_ISOLATION_RECORD_TABLE_REGION"

#: option -> (environment variable, the module's default)
ENVIRONMENT = {
    "tag_key": ("EC2_ISOLATION_TAG_KEY", "SecurityIsolation"),
    "isolate_value": ("EC2_ISOLATION_ISOLATE_VALUE", "Isolate"),
    "release_value": ("EC2_ISOLATION_RELEASE_VALUE", "Release"),
    "table": ("EC2_ISOLATION_RECORD_TABLE", "ec2-isolation-records"),
}

CLIENT_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 3},
    connect_timeout=5,
    read_timeout=20,
    user_agent_extra="terraform-aws-ec2-isolation-cli",
)

#: the service of each API call the CLI makes, other than EC2's (to name the IAM action on AccessDenied)
_SERVICE_OF = {
    "GetItem": "dynamodb",
    "DescribeAutoScalingInstances": "autoscaling",
    "DescribeTargetGroups": "elasticloadbalancing",
    "DescribeTargetHealth": "elasticloadbalancing",
    "Scan": "dynamodb",
    "GetCallerIdentity": "sts",
}
_ACCESS_DENIED = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"})
#: record statuses after which a release is expected (the instance is isolated, or partly released)
_RELEASABLE = frozenset({"isolated", "release_failed"})


class CliError(Exception):
    """A failure the responder must act on: one line on stderr, and the exit code."""

    def __init__(self, message: str, exit_code: int = AWS_ERROR) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class Options:
    tag_key: str
    isolate_value: str
    release_value: str
    table: str
    region: str | None
    json: bool
    profile: str | None = None
    #: the record table's region: the deployment's (the module output sets it), else ``region``
    table_region: str | None = None

    @property
    def status_prefix(self) -> str:
        return f"{self.tag_key}:"

    def is_isolation_tag(self, key: str) -> bool:
        return key == self.tag_key or key.startswith(self.status_prefix)


# ---- the command line ----------------------------------------------------------------------------------


def _add_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """The options every command takes, before or after the command name (the subcommand's copy is
    ``SUPPRESS``ed, so that it only overrides what is given after the command)."""
    default: Any = argparse.SUPPRESS if suppress else None
    for option, (variable, value) in ENVIRONMENT.items():
        what = {
            "tag_key": "key of the trigger tag (status tags are <key>:<suffix>)",
            "isolate_value": "value of the trigger tag that isolates",
            "release_value": "value of the trigger tag that releases",
            "table": "DynamoDB table of isolation records",
        }[option]
        parser.add_argument(
            f"--{option.replace('_', '-')}",
            dest=option,
            default=default,
            metavar=option.split("_")[-1].upper(),
            help=f"{what} (env {variable}; default {value!r})",
        )
    parser.add_argument(
        "--region",
        default=default,
        help=(
            "AWS region of the instance (default: the AWS SDK's: AWS_REGION, the profile's); "
            "list: show only the records of this region's instances"
        ),
    )
    parser.add_argument(
        "--table-region",
        default=default,
        metavar="REGION",
        help=f"region of the record table, the deployment's (env {TABLE_REGION_VARIABLE}; default --region)",
    )
    parser.add_argument(
        "--profile", default=default, help="AWS CLI profile to use (default: the AWS SDK's: AWS_PROFILE, ...)"
    )
    parser.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="print one JSON document (machine-readable)",
    )


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description=(
            "Responder CLI of terraform-aws-ec2-isolation. isolate and release only set the trigger tag "
            "(the Lambda acts on it; --wait follows it to the outcome); status shows the isolation record "
            "beside the instance's live state; list shows every record."
        ),
        epilog=(
            "exit codes: 0 done, 1 AWS error, an instance that cannot be acted on, or a failed attempt, "
            "2 usage error, 3 --wait timed out, 130 interrupted. Use the values of the module's output "
            "responder_cli_environment for the EC2_ISOLATION_* variables."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _add_options(parser, suppress=False)
    common = argparse.ArgumentParser(add_help=False)
    _add_options(common, suppress=True)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    helps = {
        "status": "show the isolation record (prior state, audit trail) beside the live state",
        "isolate": "set the trigger tag to the isolate value: the Lambda isolates the instance",
        "release": "set the trigger tag to the release value: the Lambda releases the instance",
    }
    for name, text in helps.items():
        command = commands.add_parser(name, parents=[common], help=text, description=text)
        command.add_argument(
            "instance_id",
            metavar="INSTANCE",
            help="an instance id (i-0123456789abcdef0) or ARN (arn:aws:ec2:REGION:ACCOUNT:instance/i-...)",
        )
        if name != "status":
            command.add_argument(
                "--wait",
                action="store_true",
                help="follow the record until the outcome: a line per step, then the outcome and its time",
            )
            command.add_argument(
                "--timeout",
                type=_seconds,
                default=follow.DEFAULT_TIMEOUT,
                metavar="SECONDS",
                help=(
                    f"how long --wait waits (default {follow.DEFAULT_TIMEOUT:.0f}: one attempt at the "
                    "module's default function timeout of 120 s, plus delivery and a cold start)"
                ),
            )
            command.add_argument(
                "--retrigger",
                action="store_true",
                help=(
                    "when the tag already has the value, delete it and set it again, so that EventBridge "
                    "sees a change and the Lambda runs again (needs ec2:DeleteTags on the trigger key)"
                ),
            )
    listed = commands.add_parser(
        "list",
        parents=[common],
        help="list the isolation records, newest first",
        description=(
            "list the isolation records of the table, newest first: instance, account, region, status, "
            "when, by which trigger, and the last failure. Filters combine; a filter given twice "
            "matches either value. --region, when given, shows only the records of that region's instances."
        ),
    )
    listed.add_argument(
        "--status",
        dest="statuses",
        action="append",
        choices=listing.STATUSES,
        default=[],
        help="only records in this status",
    )
    listed.add_argument(
        "--account", dest="accounts", action="append", default=[], help="only this account's instances"
    )
    listed.add_argument(
        "--since", help="only records changed since then: 30m, 12h, 7d, or an ISO 8601 date or time (UTC)"
    )
    return parser


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0:
        raise argparse.ArgumentTypeError("the timeout must be more than 0 seconds")
    return value


def resolve_options(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> Options:
    """Flags, else the EC2_ISOLATION_* environment variables, else the module's defaults."""
    environ = os.environ if environ is None else environ
    values: dict[str, str] = {}
    for option, (variable, default) in ENVIRONMENT.items():
        given = getattr(args, option, None)
        value = given if given is not None else (environ.get(variable) or default)
        if not value:
            raise CliError(f"--{option.replace('_', '-')} must not be empty", USAGE)
        values[option] = value
    if ":" in values["tag_key"]:
        raise CliError("--tag-key is the trigger key itself, without a ':<suffix>'", USAGE)
    if values["isolate_value"] == values["release_value"]:
        raise CliError("--isolate-value and --release-value must differ", USAGE)
    table_region = getattr(args, "table_region", None) or environ.get(TABLE_REGION_VARIABLE) or None
    return Options(
        **values,
        region=args.region or None,
        json=bool(args.json),
        profile=getattr(args, "profile", None) or None,
        table_region=table_region,
    )


def main(
    argv: Sequence[str] | None = None,
    *,
    session: boto3.session.Session | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
    prog: str = PROG,
    sleep: Callable[[float], None] | None = None,
    clock: Callable[[], float] | None = None,
) -> int:
    """Run one command; returns the exit code (``out``/``err`` default to stdout/stderr; ``sleep`` is the
    pause between two reads of ``--wait``, and ``clock`` its monotonic time)."""
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    try:
        with redirect_stdout(out), redirect_stderr(err):
            args = build_parser(prog).parse_args(argv)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else USAGE
    region: str | None = None  # named in the message of a connection failure
    try:
        options = resolve_options(args)
        if args.command != "list":
            instance_id, options = checked_target(args.instance_id, options)
        region = options.region
        if session is None:
            session = boto3.session.Session(profile_name=options.profile)
        clients = AwsClients(session, config=CLIENT_CONFIG.merge(Config(region_name=options.region)))
        responder = Responder(clients, options, prog=prog)
        if args.command == "list":
            _emit(out, options, responder.list_records(args), _render_list)
            return OK
        if args.command == "status":
            _emit(out, options, responder.status(instance_id), render_status)
            return OK
        responder.check_account(args.instance_id)
        outcome = responder.set_tag(args.command, instance_id, retrigger=args.retrigger, wait=args.wait)
        if not options.json:
            for warning in outcome["warnings"]:
                print(f"warning: {warning}", file=err)
        if not args.wait:
            _emit(out, options, outcome, lambda document: render_tagging(document, prog=prog))
            return OK
        if not options.json:
            out.write(render_tagging(outcome, waiting=True, prog=prog))
        code, outcome["wait"] = responder.wait(
            args.command,
            instance_id,
            outcome,
            timeout=args.timeout,
            out=err if options.json else out,
            sleep=sleep or time.sleep,
            clock=clock or time.monotonic,
        )
        if options.json:
            _emit(out, options, outcome, render_tagging)
    except (CliError, ClientError, BotoCoreError) as exc:
        code, message = failure(exc, region)
        print(f"error: {message}", file=err)
    return code


def run() -> None:
    """The ``ec2-isolation`` console script."""
    sys.exit(main())


def checked_instance_id(raw: str) -> str:
    instance_id = raw.strip()
    if not INSTANCE_ID.fullmatch(instance_id):
        raise CliError(
            f"malformed instance id {instance_id!r}: expected i- and 8 or 17 hexadecimal digits", USAGE
        )
    return instance_id


def checked_target(raw: str, options: Options) -> tuple[str, Options]:
    """The instance id of an id or an ARN; an ARN's region is the one to act in (unless --region says
    another: a usage error)."""
    arn = INSTANCE_ARN.fullmatch(raw.strip())
    if arn is None:
        return checked_instance_id(raw), options
    if options.region not in (None, arn["region"]):
        raise CliError(f"the ARN names region {arn['region']}, but --region is {options.region}", USAGE)
    return checked_instance_id(arn["id"]), dataclasses.replace(options, region=arn["region"])


#: error codes of credentials that AWS no longer accepts, and of credentials it never knew
_EXPIRED = frozenset({"ExpiredToken", "ExpiredTokenException", "RequestExpired"})
_INVALID = frozenset({"InvalidClientTokenId", "UnrecognizedClientException", "AuthFailure"})


def failure(exc: Exception, region: str | None = None) -> tuple[int, str]:
    """The exit code and the one-line message of a failed command."""
    if isinstance(exc, CliError):
        return exc.exit_code, str(exc)
    if isinstance(exc, ClientError):
        return AWS_ERROR, explain(exc)
    code, message = AWS_ERROR, " ".join(str(exc).split())
    if isinstance(exc, NoRegionError):
        code, message = USAGE, "no AWS region: pass --region or set AWS_REGION"
    elif isinstance(exc, ProfileNotFound):
        code, message = USAGE, f"{exc}: check --profile or AWS_PROFILE (profiles are in ~/.aws/config)"
    elif isinstance(exc, NoCredentialsError):
        message = (
            "no AWS credentials found: pass --profile, run `aws sso login`, or set AWS_PROFILE or "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
        )
    elif isinstance(exc, EndpointConnectionError):
        url = str(exc.kwargs.get("endpoint_url", ""))
        known = region is None or region in boto3.session.Session().get_available_regions("ec2")
        hint = (
            "is the network up?"
            if known
            else f"is the region {region!r} right? this AWS SDK does not know it"
        )
        message = f"could not connect to {url}: {hint} (pass --region, or set AWS_REGION)"
    return code, message


def _emit(
    out: TextIO, options: Options, document: dict[str, Any], render: Callable[[dict[str, Any]], str]
) -> None:
    if options.json:
        out.write(json.dumps(document, indent=2, default=_json_default) + "\n")
    else:
        out.write(render(document))


def explain(exc: ClientError) -> str:
    """One line: which call failed and why; for an access denial, the IAM action that is missing."""
    operation = exc.operation_name
    action = f"{_SERVICE_OF.get(operation, 'ec2')}:{operation}"
    code = error_code(exc)
    message = " ".join(str(exc.response.get("Error", {}).get("Message", "")).split())
    if len(message) > 300:
        message = message[:297] + "..."
    if code in _ACCESS_DENIED:
        return f"access denied: the responder needs {action} ({code}: {message})"
    if code in _EXPIRED:
        return (
            f"the AWS credentials have expired ({action}: {code}): log in again (aws sso login) or renew them"
        )
    if code in _INVALID:
        return f"AWS does not accept these credentials ({action}: {code}): check --profile or AWS_PROFILE"
    if code == "ResourceNotFoundException" and operation in ("GetItem", "Scan"):
        return (
            f"{action}: the record table does not exist in this region: check --table and --table-region "
            f"(the module output responder_cli_environment has both) ({message})"
        )
    return f"{action} failed: {code}: {message}"


# ---- what the commands do --------------------------------------------------------------------------------


class Responder:
    def __init__(self, clients: AwsClients, options: Options, *, prog: str = PROG) -> None:
        self.clients, self.options, self.prog = clients, options, prog
        self._table: DynamoDBClient | None = None
        self._account: str | None = None
        #: the record (and dry-run record) before the tag was set, for --wait; or why it is unknown
        self.before: follow.Snapshot | None = None
        self.before_error: str | None = None
        #: the record as the snapshot read it (the release warnings and a wait without a tag change use it)
        self._record_before: dict[str, Any] | None = None

    @property
    def region(self) -> str:
        return str(self.clients.ec2.meta.region_name)

    @property
    def table_region(self) -> str:
        return self.options.table_region or self.region

    @property
    def table(self) -> DynamoDBClient:
        """The record table's client: in the deployment's region, which may not be the instance's."""
        if self._table is None:
            if self.table_region == self.region:
                self._table = self.clients.dynamodb
            else:
                config = CLIENT_CONFIG.merge(Config(region_name=self.table_region))
                self._table = self.clients.session.client("dynamodb", config=config)
        return self._table

    @property
    def account(self) -> str:
        """The account of these credentials (sts:GetCallerIdentity needs no permission)."""
        if self._account is None:
            self._account = str(self.clients.sts.get_caller_identity()["Account"])
        return self._account

    def record_key(self, instance_id: str) -> str:
        """The instance's key in the record table: its id in the table's own region, else
        ``<account>:<region>:<id>``, as the Lambda writes it."""
        if self.region == self.table_region:
            return instance_id
        return f"{self.account}:{self.region}:{instance_id}"

    def read(self, key: str) -> dict[str, Any] | None:
        record = read_record(self.table, self.options.table, key)
        return _plain(record) if record is not None else None

    def check_account(self, target: str) -> None:
        """An instance ARN of another account than these credentials': they cannot tag it."""
        arn = INSTANCE_ARN.fullmatch(target.strip())
        if arn is not None and arn["account"] != self.account:
            raise CliError(
                f"instance {arn['id']} is in account {arn['account']}, but these credentials are of account "
                f"{self.account}: use a profile of that account (--profile)"
            )

    def instance(self, instance_id: str) -> InstanceTypeDef:
        try:
            return describe_instance(self.clients.ec2, instance_id)
        except InstanceNotFound:
            try:
                where = f"account {self.account}, region {self.region}"
            except (ClientError, BotoCoreError):
                where = f"region {self.region}"
            raise CliError(
                f"instance {instance_id} not found in {where}: check --region, or --profile for an "
                "instance of another account"
            ) from None
        except ClientError as exc:
            if error_code(exc) == "InvalidInstanceID.Malformed":
                raise CliError(f"malformed instance id {instance_id!r}", USAGE) from None
            raise

    def set_tag(
        self, command: str, instance_id: str, *, retrigger: bool, wait: bool = False
    ) -> dict[str, Any]:
        """Set the trigger tag to the command's value: the only write (two with a retrigger). With
        ``wait``, the record is read first: what the Lambda appends after it is this command's outcome."""
        key = self.options.tag_key
        value = self.options.isolate_value if command == "isolate" else self.options.release_value
        instance = self.instance(instance_id)
        state = instance.get("State", {}).get("Name", "unknown")
        if state in GONE_STATES:
            raise CliError(f"instance {instance_id} is {state}: there is nothing to {command}")
        if wait:
            self._take_snapshot(instance_id)
        previous = instance_tags(instance).get(key)
        outcome: dict[str, Any] = {
            "instance_id": instance_id,
            "action": command,
            "state": state,
            "tag": {"key": key, "value": value},
            "previous_value": previous,
            "set": False,
            "retriggered": False,
            "warnings": self._release_warnings(instance_id) if command == "release" else [],
        }
        if previous == value and not retrigger:
            outcome["note"] = (
                f"{key} is already {value!r}: nothing was set. EventBridge fires only when the tag "
                "changes, so the Lambda would not run again; to run it again, use --retrigger (or remove "
                "the tag and set it again)"
            )
            return outcome
        tag: list[TagTypeDef] = [{"Key": key, "Value": value}]
        if previous == value:
            self.clients.ec2.delete_tags(Resources=[instance_id], Tags=tag)
            outcome["retriggered"] = True
        self.clients.ec2.create_tags(Resources=[instance_id], Tags=tag)
        outcome["set"] = True
        return outcome

    def _take_snapshot(self, instance_id: str) -> None:
        key = self.record_key(instance_id)
        try:
            self._record_before = self.read(key)
            self.before = follow.Snapshot.of(self._record_before, self.read(DRY_RUN_KEY_PREFIX + key))
        except ClientError as exc:
            self.before_error = explain(exc)

    def wait(
        self,
        command: str,
        instance_id: str,
        outcome: dict[str, Any],
        *,
        timeout: float,
        out: TextIO,
        sleep: Callable[[float], None],
        clock: Callable[[], float],
    ) -> tuple[int, dict[str, Any]]:
        """Follow the record to the outcome of the attempt the tag change started."""
        if self.before is None:
            raise CliError(
                f"the tag is set, but the record cannot be read to follow it: {self.before_error}; "
                f"the Lambda acts on the tag all the same"
            )
        key = self.record_key(instance_id)
        follower = follow.Follower(
            read=self.read,
            key=key,
            action=command,
            snapshot=self.before,
            follow_up=f"{self.prog} status {instance_id}",
            out=out,
            tty=_is_tty(out),
            sleep=sleep,
            clock=clock,
        )
        if not outcome["set"]:
            # nothing changed: EventBridge fires no event; the record says whether that is done already
            current = self._record_before  # read just now, and nothing was set since
            done = {"isolate": "isolated", "release": "released"}[command]
            if current is not None and current.get("status") == done:
                out.write(f"{instance_id} is already {done} (record status {done})\n")
                return OK, {"outcome": done, "seconds": 0.0, "record_status": done}
            if current is None or current.get("status") not in ("isolating", "releasing"):
                raise CliError(
                    f"nothing to wait for: the tag already has the value and the record says "
                    f"{(current or {}).get('status', 'nothing')}; use --retrigger to run the Lambda again"
                )
            # an attempt is under way: its outcome, appended after the snapshot, is the one to wait for
        return follower.run(timeout)

    def list_records(self, args: argparse.Namespace) -> dict[str, Any]:
        """Every record (paginated scan), filtered, newest first."""
        try:
            since = listing.parse_since(args.since, datetime.now(tz=UTC)) if args.since else None
        except ValueError as exc:
            raise CliError(str(exc), USAGE) from None
        records = listing.scan_records(self.table, self.options.table)
        entries = [listing.entry(r, account=self.account, region=self.table_region) for r in records]
        chosen = listing.select(
            entries,
            statuses=args.statuses,
            accounts=args.accounts,
            regions=[self.options.region] if self.options.region else [],
            since=since,
        )
        return {
            "table": self.options.table,
            "table_region": self.table_region,
            "records": [e.as_json() for e in chosen],
        }

    def _release_warnings(self, instance_id: str) -> list[str]:
        table = self.options.table
        try:
            # with --wait, the snapshot has just read it
            record = (
                self._record_before if self.before is not None else self.read(self.record_key(instance_id))
            )
        except ClientError as exc:
            return [f"could not read the isolation record: {explain(exc)}"]
        if record is None:
            return [
                f"no isolation record of {instance_id} in table {table}: the Lambda has nothing to restore "
                "from (was it isolated by this deployment? check --table)"
            ]
        status = record.get("status")
        if status in _RELEASABLE:
            return []
        why = {
            "isolating": "an isolation is in progress",
            "failed": "the isolation did not complete; only what the record holds can be restored",
            "releasing": "a release is in progress",
            "released": "the instance was already released",
        }.get(str(status), "the instance is not recorded as isolated")
        return [f"the record says status {status!r}: {why}"]

    def status(self, instance_id: str) -> dict[str, Any]:
        record = self.read(self.record_key(instance_id))
        prior = record.get("prior") if record is not None else None
        prior = prior if isinstance(prior, dict) else None
        try:
            instance: InstanceTypeDef | None = self.instance(instance_id)
        except CliError as exc:
            if record is None or exc.exit_code != AWS_ERROR:
                raise
            instance = None  # gone (terminated instances are listed for about an hour): the record still is
        live = self.live_state(instance, prior) if instance is not None else None
        return {
            "instance_id": instance_id,
            "region": self.clients.ec2.meta.region_name,
            "table": self.options.table,
            "record": record,
            "live": live,
            "comparison": compare(prior, live) if live is not None else [],
        }

    def live_state(self, instance: InstanceTypeDef, prior: dict[str, Any] | None) -> dict[str, Any]:
        """The instance now, in the record's shape (the same readers the Lambda records the prior with)."""
        ec2, instance_id = self.clients.ec2, instance["InstanceId"]
        tags = instance_tags(instance)
        live: dict[str, Any] = {
            "state": instance.get("State", {}).get("Name", "unknown"),
            "name": tags.get("Name"),
            "vpc_id": instance.get("VpcId"),
            "isolation_tags": {k: v for k, v in sorted(tags.items()) if self.options.is_isolation_tag(k)},
            "device_index": {
                e["NetworkInterfaceId"]: e.get("Attachment", {}).get("DeviceIndex")
                for e in instance.get("NetworkInterfaces", [])
                if "NetworkInterfaceId" in e
            },
        }
        if live["state"] in GONE_STATES:
            return live
        live.update(capture_prior_state(ec2, instance))
        live.update(protection_state(ec2, instance_id))
        prior = prior or {}
        if "auto_scaling" in prior:
            live["auto_scaling"] = auto_scaling_membership(self.clients.autoscaling, instance_id)
        if "target_groups" in prior:
            live["target_groups"] = find_target_registrations(self.clients.elbv2, instance)
        if "elastic_ips" in prior:
            live["elastic_ips"] = elastic_ip_associations(ec2, instance_id)
        plain: dict[str, Any] = _plain(live)
        return plain


# ---- prior against now -----------------------------------------------------------------------------------

#: prior-state keys that `compare` reads (any other key is shown as recorded, beside "not read")
_COMPARED = (
    "state",
    "security_groups",
    "instance_profile_arn",
    "termination_protection",
    "shutdown_behaviour",
    "delete_on_termination",
    "auto_scaling",
    "target_groups",
    "elastic_ips",
)
_NOT_RECORDED = "(not recorded)"
_NOT_READ = "(not read)"


def _row(attribute: str, item: str | None, prior: Any, now: Any, *, compared: bool) -> dict[str, Any]:
    differs = None if not compared else _canonical(prior) != _canonical(now)
    return {"attribute": attribute, "item": item, "prior": prior, "now": now, "differs": differs}


def _canonical(value: Any) -> str:
    """Order-free form for comparison: group lists and target lists compare as sets."""
    if isinstance(value, list):
        return json.dumps(sorted(_canonical(v) for v in value))
    return json.dumps(value, sort_keys=True, default=_json_default)


def compare(prior: dict[str, Any] | None, live: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per attribute (per ENI, device, target group, address): recorded prior, now, whether they
    differ (None when there is nothing recorded to compare with)."""
    has = prior is not None
    prior = prior or {}
    rows: list[dict[str, Any]] = []

    def scalar(attribute: str) -> None:
        if attribute in live:
            recorded = attribute in prior
            rows.append(
                _row(attribute, None, prior.get(attribute), live[attribute], compared=has and recorded)
            )

    scalar("state")
    recorded_groups: dict[str, Any] = prior.get("security_groups") or {}
    live_groups: dict[str, Any] = live.get("security_groups") or {}
    order = live.get("device_index") or {}
    enis = sorted(live_groups, key=lambda e: (order.get(e) is None, order.get(e) or 0, e))
    for eni in [*enis, *sorted(set(recorded_groups) - set(live_groups))]:
        rows.append(
            _row("security_groups", eni, recorded_groups.get(eni), live_groups.get(eni), compared=has)
        )
    for attribute in ("instance_profile_arn", "termination_protection", "shutdown_behaviour"):
        scalar(attribute)
    recorded_devices: dict[str, Any] = prior.get("delete_on_termination") or {}
    live_devices: dict[str, Any] = live.get("delete_on_termination") or {}
    for device in sorted(set(recorded_devices) | set(live_devices)):
        rows.append(
            _row(
                "delete_on_termination",
                device,
                recorded_devices.get(device),
                live_devices.get(device),
                compared=has,
            )
        )
    if "auto_scaling" in prior:
        rows.append(
            _row("auto_scaling", None, prior["auto_scaling"], live.get("auto_scaling"), compared=True)
        )
    if "target_groups" in prior:
        before = {g["target_group_arn"]: g.get("targets", []) for g in prior["target_groups"] or []}
        after = {g["target_group_arn"]: g.get("targets", []) for g in live.get("target_groups") or []}
        for arn in sorted(set(before) | set(after)):
            rows.append(_row("target_groups", arn, before.get(arn), after.get(arn), compared=True))
    if "elastic_ips" in prior:
        before = {a.get("public_ip", ""): a for a in prior["elastic_ips"] or []}
        after = {a.get("public_ip", ""): a for a in live.get("elastic_ips") or []}
        for address in sorted(set(before) | set(after)):
            was, now = before.get(address), after.get(address)
            rows.append(_row("elastic_ips", address, _eip_target(was), _eip_target(now), compared=True))
    for key in sorted(set(prior) - set(_COMPARED)):
        rows.append(_row(key, None, prior[key], _NOT_READ, compared=False))
    return rows


def _eip_target(association: dict[str, Any] | None) -> dict[str, Any] | None:
    if association is None:
        return None
    return {k: association.get(k) for k in ("network_interface_id", "private_ip")}


# ---- values ------------------------------------------------------------------------------------------------


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    plain = _plain(value)
    if plain is value:
        return str(value)
    return plain


def _scalar(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal):
        return str(_plain(value))
    return str(value)


def _short(arn: str) -> str:
    """The readable tail of an ARN (instance-profile/web-app -> web-app; targetgroup/web/abc -> web/abc)."""
    if not arn.startswith("arn:"):
        return arn
    resource = arn.split(":", 5)[-1]
    return resource.split("/", 1)[-1] if "/" in resource else resource


_ABSENT = {
    "security_groups": "(not attached)",
    "auto_scaling": "(not in a group)",
    "target_groups": "(not registered)",
    "elastic_ips": "(not associated)",
}


def _targets(value: list[Any]) -> str:
    shown = [":".join(str(t[k]) for k in ("Id", "Port") if k in t) for t in value if isinstance(t, dict)]
    return ", ".join(shown) or "(none)"


def _show(attribute: str, value: Any) -> str:
    """A cell of the side-by-side table."""
    text: str
    if value is None:
        text = _ABSENT.get(attribute, "-")
    elif value == _NOT_READ:
        text = _NOT_READ
    elif attribute == "security_groups" and isinstance(value, list):
        text = ", ".join(map(str, value)) or "(no group)"
    elif attribute == "instance_profile_arn":
        text = _short(str(value))
    elif attribute == "auto_scaling" and isinstance(value, dict):
        text = f"{value.get('group')} ({value.get('state')})"
    elif attribute == "target_groups" and isinstance(value, list):
        text = _targets(value)
    elif attribute == "elastic_ips" and isinstance(value, dict):
        text = f"{value.get('network_interface_id')} ({value.get('private_ip')})"
    elif isinstance(value, dict | list):
        text = json.dumps(value, default=_json_default)
    else:
        text = _scalar(value)
    return text


_LABELS = {
    "state": "instance state",
    "security_groups": "security groups",
    "instance_profile_arn": "instance profile",
    "termination_protection": "termination protection",
    "shutdown_behaviour": "shutdown behaviour",
    "delete_on_termination": "DeleteOnTermination",
    "auto_scaling": "Auto Scaling group",
    "target_groups": "target group",
    "elastic_ips": "Elastic IP",
}


def _label(row: dict[str, Any], device_index: Mapping[str, Any]) -> str:
    attribute, item = row["attribute"], row["item"]
    label = _LABELS.get(attribute, f"prior.{attribute}")
    if item is None:
        return label
    if attribute == "security_groups" and device_index.get(item) is not None:
        return f"{label} {item} (device {device_index[item]})"
    return f"{label} {_short(item) if attribute == 'target_groups' else item}"


# ---- text output -------------------------------------------------------------------------------------------


def render_tagging(outcome: dict[str, Any], *, waiting: bool = False, prog: str = PROG) -> str:
    key, value = outcome["tag"]["key"], outcome["tag"]["value"]
    instance_id = outcome["instance_id"]
    if not outcome["set"]:
        return f"{instance_id}: {outcome['note']}\n"
    previous = outcome["previous_value"]
    was = "the tag was not set" if previous is None else f"was {previous!r}"
    how = " (deleted and set again: --retrigger)" if outcome["retriggered"] else ""
    if waiting:
        return f"set tag {key}={value} on {instance_id} ({was}){how}; waiting for the Lambda\n"
    return (
        f"set tag {key}={value} on {instance_id} ({was}){how}\n"
        f"The module's Lambda acts on this tag change (EventBridge, within seconds). Follow it with:\n"
        f"  {prog} status {instance_id}   (or set it again with --wait)\n"
    )


def _render_list(document: dict[str, Any]) -> str:
    return listing.render([listing.Entry(**r) for r in document["records"]], table=document["table"])


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _table(rows: Sequence[Sequence[str]], indent: str = "  ") -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return [
        (indent + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + "  " + r[-1]).rstrip()
        for r in rows
    ]


def _lines(value: Any, indent: str) -> Iterator[str]:
    """Any value, generically (YAML-like), so that fields this version does not know are still shown."""
    if isinstance(value, dict):
        if not value:
            yield f"{indent}(none)"
        for key, item in value.items():
            if isinstance(item, dict | list) and item:
                yield f"{indent}{key}:"
                yield from _lines(item, indent + "  ")
            else:
                yield f"{indent}{key}: {_scalar(item) if not isinstance(item, dict | list) else '(none)'}"
    elif isinstance(value, list):
        if not value:
            yield f"{indent}(none)"
        for item in value:
            if isinstance(item, dict | list) and item:
                first, *rest = _lines(item, indent + "  ")
                yield f"{indent}- {first.lstrip()}"
                yield from rest
            else:
                yield f"{indent}- {_scalar(item) if not isinstance(item, dict | list) else '(none)'}"
    else:
        yield f"{indent}{_scalar(value)}"


def _epoch(value: Any) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value} ({datetime.fromtimestamp(value, tz=UTC).isoformat(timespec='seconds')})"
    return _scalar(value)


#: record fields, in the order shown; any other field is shown after them
_RECORD_FIELDS = (
    "status",
    "isolation_event_id",
    "started_at",
    "release_event_id",
    "released_at",
    "lock_event_id",
    "lock_expires_at",
    "version",
)
_ATTEMPT_FIELDS = ("event_id", "action", "status", "finished_at", "steps", "changes", "failures")


def render_status(report: dict[str, Any]) -> str:
    instance_id, record, live = report["instance_id"], report["record"], report["live"]
    lines: list[str] = []
    if live is None:
        lines.append(f"instance {instance_id}: not found in {report['region']} (live state unavailable)")
    else:
        name = f" ({live['name']})" if live.get("name") else ""
        lines.append(
            f"instance {instance_id}{name}  state {live['state']}  vpc {_scalar(live.get('vpc_id'))}"
        )
    if record is None:
        lines.append(f"no isolation record in table {report['table']}")
    else:
        lines.append(
            f"record   status {_scalar(record.get('status'))}  "
            f"isolation event {_scalar(record.get('isolation_event_id'))}  (table {report['table']})"
        )
    if live is not None:
        lines += ["", *_render_comparison(report["comparison"], live, has_record=record is not None)]
        lines += ["", "isolation tags (now)"]
        tags = live.get("isolation_tags") or {}
        lines += _table([[k, v] for k, v in tags.items()]) if tags else ["  (none)"]
    if record is not None:
        lines += ["", *_render_record(record, show_prior=live is None)]
    return "\n".join(lines) + "\n"


def _render_comparison(rows: list[dict[str, Any]], live: dict[str, Any], *, has_record: bool) -> list[str]:
    device_index = live.get("device_index") or {}
    if not has_record:
        table = [["attribute", "now"]]
        table += [[_label(r, device_index), _show(r["attribute"], r["now"])] for r in rows]
        return _table([["", *r] for r in table], indent="")
    table = [["", "attribute", "prior (record)", "now"]]
    for r in rows:
        prior = (
            _NOT_RECORDED
            if r["differs"] is None and r["prior"] is None
            else _show(r["attribute"], r["prior"])
        )
        table.append(
            ["*" if r["differs"] else "", _label(r, device_index), prior, _show(r["attribute"], r["now"])]
        )
    return [*_table(table, indent=""), "(* now differs from the prior state in the record)"]


def _render_record(record: dict[str, Any], *, show_prior: bool) -> list[str]:
    lines = ["record"]
    known = [k for k in _RECORD_FIELDS if k in record]
    others = sorted(
        set(record) - {*_RECORD_FIELDS, "instance_id", "prior", "attempts", "history", "evidence"}
    )
    table = [[k, _epoch(record[k]) if k == "lock_expires_at" else _scalar(record[k])] for k in known]
    table += [[k, _scalar(record[k])] for k in others if not isinstance(record[k], dict | list)]
    if table:
        lines += _table(table)
    for key in others:
        if isinstance(record[key], dict | list):
            lines += [f"  {key}:", *_lines(record[key], "    ")]
    if show_prior and "prior" in record:
        lines += ["  prior:", *_lines(record["prior"], "    ")]
    evidence = record.get("evidence")
    if isinstance(evidence, dict) and evidence:
        count = len(evidence)
        lines += ["", f"evidence ({count} snapshot{'s' if count != 1 else ''})"]
        lines += [f"  {line}" for line in manifest_lines(evidence)]
    attempts = record.get("attempts") or []
    lines += ["", f"audit trail ({len(attempts)} attempt{'s' if len(attempts) != 1 else ''})"]
    for number, attempt in enumerate(attempts, 1):
        lines += _render_attempt(number, attempt)
    history = record.get("history")
    if history:
        cycles = history if isinstance(history, list) else [history]
        lines += ["", f"history ({len(cycles)} previous cycle{'s' if len(cycles) != 1 else ''})"]
        for number, cycle in enumerate(cycles, 1):
            lines += [f"  {number}.", *_lines(cycle, "     ")]
    return lines


def _render_attempt(number: int, attempt: Any) -> list[str]:
    if not isinstance(attempt, dict):
        return [f"  {number}. {_scalar(attempt)}"]
    action = f" {attempt['action']}" if "action" in attempt else ""
    lines = [
        f"  {number}. {_scalar(attempt.get('finished_at'))}{action}  {_scalar(attempt.get('status'))}  "
        f"event {_scalar(attempt.get('event_id'))}"
    ]
    steps = attempt.get("steps") or {}
    if isinstance(steps, dict) and steps:
        lines.append("     steps: " + ", ".join(f"{k}={_scalar(v)}" for k, v in steps.items()))
    changes = attempt.get("changes") or []
    lines.append("     changes:" + ("" if changes else " none"))
    lines += [f"       - {_scalar(c)}" for c in changes] if isinstance(changes, list) else []
    failures = attempt.get("failures") or {}
    lines.append("     failures:" + ("" if failures else " none"))
    if isinstance(failures, dict):
        lines += [f"       - {k}: {_scalar(v)}" for k, v in failures.items()]
    for key in sorted(set(attempt) - set(_ATTEMPT_FIELDS)):
        lines += [f"     {key}:", *_lines(attempt[key], "       ")]
    return lines
