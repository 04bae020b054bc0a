"""Reading the instance the event names."""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from ec2_isolation.errors import InstanceNotFound, error_code
from ec2_isolation.steps import requires

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.type_defs import InstanceTypeDef

#: states in which there is nothing left to contain
GONE_STATES = frozenset({"shutting-down", "terminated"})


@requires("ec2:DescribeInstances")
def describe_instance(ec2: EC2Client, instance_id: str) -> InstanceTypeDef:
    try:
        reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    except ClientError as exc:
        if error_code(exc) == "InvalidInstanceID.NotFound":
            raise InstanceNotFound(f"instance {instance_id} does not exist") from exc
        raise
    instances = [
        i for r in reservations for i in r.get("Instances", []) if i.get("InstanceId") == instance_id
    ]
    if len(instances) != 1:
        raise InstanceNotFound(f"instance {instance_id} was not returned by DescribeInstances")
    return instances[0]


def instance_tags(instance: InstanceTypeDef) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in instance.get("Tags", []) if "Key" in t and "Value" in t}
