"""AWS clients, built lazily (only when a step needs them) with botocore's standard retry mode."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_autoscaling import AutoScalingClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_elbv2 import ElasticLoadBalancingv2Client
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sts import STSClient

#: Standard mode retries throttling (EC2's ``RequestLimitExceeded``, ``Throttling``, ``ThrottlingException``,
#: ...), 5xx answers and connection errors, with jittered exponential backoff (up to 2**n seconds before
#: retry n, capped at 20 s) and a client-side retry quota that stops retry storms. ``total_max_attempts``
#: counts the first call (botocore's ``max_attempts`` does not): 5 attempts wait at most 1 + 2 + 4 + 8 =
#: 15 s per call (about half that on average).
#: The function has ``lambda_timeout`` (120 s by default) for the whole run, the 15 s untrack wait included:
#: a call that is still throttled after 15 s fails its step instead of eating the budget of the others
#: (the 8 retries of before could wait 91 s on one call), and the failed invocation is retried by Lambda.
MAX_ATTEMPTS = 5

RETRY_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": MAX_ATTEMPTS},
    connect_timeout=5,
    read_timeout=20,
    user_agent_extra="terraform-aws-ec2-isolation",
)


class AwsClients:
    """Holds one client per service; a client is created on first use and then reused.

    The clients of another account or region (``ec2_isolation.accounts``) name the function's own clients
    as ``central``: the record table, the SNS topic and the result events stay there, so ``dynamodb``,
    ``sns``, ``events`` and ``sqs`` are the central ones.
    """

    def __init__(
        self,
        session: boto3.session.Session | None = None,
        config: Config = RETRY_CONFIG,
        *,
        central: AwsClients | None = None,
    ) -> None:
        self._session = session
        self._config = config
        self._central = central
        #: clients of other accounts and regions, by (account, region), with the expiry of their
        #: credentials (None: the function's own); kept for the execution environment
        self.elsewhere: dict[tuple[str, str], tuple[AwsClients, Any]] = {}

    @classmethod
    def from_credentials(
        cls, credentials: Mapping[str, Any], region: str, *, central: AwsClients
    ) -> AwsClients:
        """Clients acting with ``credentials`` (an STS ``Credentials`` answer) in ``region``."""
        session = boto3.session.Session(
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
            region_name=region,
        )
        return cls(session, central._config, central=central)

    @classmethod
    def in_region(cls, region: str, *, central: AwsClients) -> AwsClients:
        """Clients of the function's own account (its own credentials) in another ``region``."""
        return cls(boto3.session.Session(region_name=region), central._config, central=central)

    @property
    def session(self) -> boto3.session.Session:
        if self._session is None:
            self._session = boto3.session.Session()
        return self._session

    def prepare(self, *services: str) -> None:
        """Build these clients now: building is not thread-safe, calling a built client is."""
        for service in services:
            getattr(self, service)

    @cached_property
    def ec2(self) -> EC2Client:
        return self.session.client("ec2", config=self._config)

    @cached_property
    def iam(self) -> IAMClient:
        return self.session.client("iam", config=self._config)

    @cached_property
    def autoscaling(self) -> AutoScalingClient:
        return self.session.client("autoscaling", config=self._config)

    @cached_property
    def elbv2(self) -> ElasticLoadBalancingv2Client:
        return self.session.client("elbv2", config=self._config)

    @cached_property
    def kms(self) -> KMSClient:
        return self.session.client("kms", config=self._config)

    @cached_property
    def dynamodb(self) -> DynamoDBClient:
        if self._central is not None:
            return self._central.dynamodb
        return self.session.client("dynamodb", config=self._config)

    @cached_property
    def sns(self) -> SNSClient:
        if self._central is not None:
            return self._central.sns
        return self.session.client("sns", config=self._config)

    @cached_property
    def events(self) -> EventBridgeClient:
        if self._central is not None:
            return self._central.events
        return self.session.client("events", config=self._config)

    @cached_property
    def sqs(self) -> SQSClient:
        """The reconcile queue's client (the queue is the function's own)."""
        if self._central is not None:
            return self._central.sqs
        return self.session.client("sqs", config=self._config)

    @cached_property
    def sts(self) -> STSClient:
        return self.session.client("sts", config=self._config)
