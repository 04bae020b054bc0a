"""Building blocks of a small EC2 fleet, shared by the demo and the tests: an EC2-trusted role with its
instance profile, and an instance with explicit network interfaces and tags.

    profile_arn = create_instance_profile(iam, "web-app")
    web = launch_instance(ec2, subnet_id=subnet, enis=[[app], [mgmt]], name="web-01", profile_arn=profile_arn)

Any client works: a session on the local emulator (`tools.emulator`) or moto's in-process mock.
"""

from __future__ import annotations

import json
import string
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.type_defs import BlockDeviceMappingTypeDef, RunInstancesRequestTypeDef, TagTypeDef
    from mypy_boto3_iam import IAMClient

AMI: Final = "ami-12c6146b"  # an image moto knows
INSTANCE_TYPE: Final = "t3.micro"
EXTRA_VOLUME_SIZE: Final = 8  # GiB
#: device names of the extra volumes, in order: /dev/sdf, /dev/sdg, ... /dev/sdz
EXTRA_VOLUME_DEVICES: Final = tuple(f"/dev/sd{letter}" for letter in string.ascii_lowercase[5:])

#: lets EC2 assume the role (the only statement of its trust policy)
EC2_TRUST_POLICY: Final[Mapping[str, Any]] = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ],
}


def create_instance_profile(iam: IAMClient, name: str) -> str:
    """A role ``name`` that EC2 may assume, in an instance profile of the same name; the profile's ARN."""
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(EC2_TRUST_POLICY))
    arn = iam.create_instance_profile(InstanceProfileName=name)["InstanceProfile"]["Arn"]
    iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)
    return arn


def launch_instance(
    ec2: EC2Client,
    *,
    subnet_id: str,
    enis: Sequence[Sequence[str]],
    name: str | None = None,
    tags: Mapping[str, str] | None = None,
    profile_arn: str | None = None,
    extra_volumes: int = 0,
    ami: str = AMI,
) -> str:
    """Launch one instance; its id.

    ``enis``: one network interface per entry (device index = position), in ``subnet_id``, on the entry's
    security group ids. ``name`` is the ``Name`` tag, first, then ``tags``; without either the instance is
    not tagged. ``profile_arn``: the instance profile, if any. ``extra_volumes``: that many 8 GiB EBS
    volumes besides the root one, on /dev/sdf, /dev/sdg, ..., deleted with the instance.
    """
    if name is not None and tags is not None and "Name" in tags:
        raise ValueError("the Name tag is given twice: by name and in tags")
    if not 0 <= extra_volumes <= len(EXTRA_VOLUME_DEVICES):
        raise ValueError(f"extra_volumes must be between 0 and {len(EXTRA_VOLUME_DEVICES)}: {extra_volumes}")
    instance_tags: list[TagTypeDef] = [{"Key": "Name", "Value": name}] if name is not None else []
    instance_tags += [{"Key": key, "Value": value} for key, value in (tags or {}).items()]
    request: RunInstancesRequestTypeDef = {
        "ImageId": ami,
        "MinCount": 1,
        "MaxCount": 1,
        "InstanceType": INSTANCE_TYPE,
        "NetworkInterfaces": [
            {"DeviceIndex": index, "SubnetId": subnet_id, "Groups": list(groups)}
            for index, groups in enumerate(enis)
        ],
    }
    if instance_tags:
        request["TagSpecifications"] = [{"ResourceType": "instance", "Tags": instance_tags}]
    if profile_arn:
        request["IamInstanceProfile"] = {"Arn": profile_arn}
    if extra_volumes:
        volumes: list[BlockDeviceMappingTypeDef] = [
            {"DeviceName": device, "Ebs": {"VolumeSize": EXTRA_VOLUME_SIZE, "DeleteOnTermination": True}}
            for device in EXTRA_VOLUME_DEVICES[:extra_volumes]
        ]
        request["BlockDeviceMappings"] = volumes
    return ec2.run_instances(**request)["Instances"][0]["InstanceId"]
