"""The clients that act on an instance of another account or region.

* The function's own account and region: the function's clients.
* Its own account, another region: clients of that region, with the function's own credentials.
* Another account (a member): the credentials of that account's executor role
  (``arn:<partition>:iam::<account>:role/<EXECUTOR_ROLE_NAME>``), assumed with ``EXECUTOR_EXTERNAL_ID``
  when set, for 15 minutes, and narrowed by a session policy to the EC2, Auto Scaling, Elastic Load
  Balancing and IAM actions the steps declare (the role's own policy narrows the resources).

Whatever the account and region, the record table, the SNS topic and the result events are the
function's own: those clients are always the central ones. Assumed sessions are kept, per account and
region, for the execution environment, until five minutes before they expire.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from ec2_isolation.clients import AwsClients
from ec2_isolation.config import Settings
from ec2_isolation.errors import ConfigurationError
from ec2_isolation.events import FunctionIdentity
from ec2_isolation.log import log
from ec2_isolation.steps import required_actions
from ec2_isolation.steps.assume import assume_executor_role

#: services whose clients stay the function's own (see ``AwsClients``: the record table, the topic, the
#: result events and the reconcile queue), and STS (no further assume)
CENTRAL_SERVICES = frozenset({"dynamodb", "sns", "events", "sqs", "sts"})
#: STS refuses a session policy longer than this (its packed size is smaller than the text: the text's
#: length is a safe bound)
MAX_SESSION_POLICY_CHARS = 2048
#: an assumed session is renewed this long before it expires (an isolation takes well under that)
RENEW_BEFORE = timedelta(minutes=5)
_SESSION_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9+=,.@-]")
SESSION_NAME_PREFIX = "ec2-isolation-"


#: what EC2 calls in KMS with the caller's permissions when it copies a snapshot under a key (the evidence
#: custody's copies): the steps never call these themselves, but the session policy must let them
#: through, or EC2's copy fails; the executor role's own policy limits them to the evidence keys, via EC2
VIA_EC2_KMS_ACTIONS = frozenset(
    {
        "kms:CreateGrant",
        "kms:Decrypt",
        "kms:GenerateDataKeyWithoutPlaintext",
        "kms:ReEncryptFrom",
        "kms:ReEncryptTo",
    }
)


def member_actions() -> list[str]:
    """The actions a member account's session may use: the steps', but the central services', and what
    EC2 calls in KMS on the session's behalf."""
    steps = {a for a in required_actions() if a.split(":", 1)[0] not in CENTRAL_SERVICES}
    return sorted(steps | VIA_EC2_KMS_ACTIONS)


def session_policy(actions: list[str] | None = None, limit: int = MAX_SESSION_POLICY_CHARS) -> str:
    """The session policy (compact JSON) allowing ``actions`` on every resource; when it is too long,
    the services with the most actions are allowed whole (``ec2:*``), one at a time, until it fits."""
    actions = member_actions() if actions is None else sorted(actions)
    while True:
        document = json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]},
            separators=(",", ":"),
        )
        if len(document) <= limit:
            return document
        services: dict[str, int] = {}
        for action in actions:
            if not action.endswith(":*"):
                service = action.split(":", 1)[0]
                services[service] = services.get(service, 0) + 1
        if not services:
            raise ConfigurationError(f"the session policy cannot fit {limit} characters: {document}")
        widest = max(sorted(services), key=services.__getitem__)
        actions = sorted({a for a in actions if a.split(":", 1)[0] != widest} | {f"{widest}:*"})


def executor_role_arn(function: FunctionIdentity, settings: Settings, account: str) -> str:
    return f"arn:{function.partition}:iam::{account}:role/{settings.executor_role_name}"


def session_name(event_id: str) -> str:
    """``ec2-isolation-<event id>`` in the characters STS accepts, at most 64 of them (CloudTrail shows
    it)."""
    return (SESSION_NAME_PREFIX + _SESSION_NAME_UNSAFE.sub("-", event_id))[:64]


def record_key(function: FunctionIdentity, account: str, region: str, instance_id: str) -> str:
    """The record table's key: ``i-...`` in the function's own account and region (as before), else
    ``<account>:<region>:i-...`` (an instance id is unique per account and region only)."""
    if (account, region) == (function.account, function.region):
        return instance_id
    return f"{account}:{region}:{instance_id}"


def clients_for(
    base: AwsClients,
    settings: Settings,
    function: FunctionIdentity,
    account: str,
    region: str,
    *,
    event_id: str,
    now: Callable[[], datetime] = lambda: datetime.now(tz=UTC),
) -> AwsClients:
    """The clients that act in ``account`` and ``region`` (see the module docstring)."""
    if (account, region) == (function.account, function.region):
        return base
    kept = base.elsewhere.get((account, region))
    if kept is not None and (kept[1] is None or now() < kept[1] - RENEW_BEFORE):
        return kept[0]
    if account == function.account:
        clients = AwsClients.in_region(region, central=base)
        base.elsewhere[(account, region)] = (clients, None)
        return clients
    role_arn = executor_role_arn(function, settings, account)
    credentials = assume_executor_role(
        base.sts,
        role_arn,
        session_name=session_name(event_id),
        external_id=settings.executor_external_id,
        policy=session_policy(),
    )
    clients = AwsClients.from_credentials(credentials, region, central=base)
    expires = credentials["Expiration"]
    base.elsewhere[(account, region)] = (clients, expires)
    log(logging.INFO, "assumed the executor role", role_arn=role_arn, region=region, expires=str(expires))
    return clients
