"""What an analyst does (set the isolation tag, and the event EventBridge then sends) and what a release
must put back, read from the emulator: shared by the release, dry-run, notification and round-trip tests."""

from __future__ import annotations

from typing import Any

from tests.fixtures.events import tag_change_event
from tests.unit.conftest import eni_groups, profile_arns

RELEASE = {"SecurityIsolation": "Release"}
#: the calls that change something (a release must make none of them when there is nothing to do)
MUTATING = (
    "Create",
    "Delete",
    "Modify",
    "Associate",
    "Replace",
    "Disassociate",
    "Attach",
    "Exit",
    "Register",
)


def live_state(ec2: Any, instance_id: str) -> dict[str, Any]:
    """What a release must put back, read from the emulator."""
    instance = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    attribute = ec2.describe_instance_attribute
    return {
        "groups": eni_groups(ec2, instance_id),
        "profiles": profile_arns(ec2, instance_id),
        "termination_protection": attribute(InstanceId=instance_id, Attribute="disableApiTermination")[
            "DisableApiTermination"
        ]["Value"],
        "delete_on_termination": {
            m["DeviceName"]: m["Ebs"]["DeleteOnTermination"] for m in instance["BlockDeviceMappings"]
        },
        # by ENI: moto leaves InstanceId out of an association made by ENI (AWS fills it in)
        "elastic_ips": sorted(
            (a["AllocationId"], a.get("NetworkInterfaceId"), a.get("PrivateIpAddress"))
            for a in ec2.describe_addresses()["Addresses"]
            if a.get("NetworkInterfaceId") in {n["NetworkInterfaceId"] for n in instance["NetworkInterfaces"]}
        ),
    }


def request_release(ec2: Any, instance_id: str, event_id: str = "evt-release") -> dict[str, Any]:
    """An analyst sets the tag to the release value: the tag on the instance, and the event it sends."""
    ec2.create_tags(Resources=[instance_id], Tags=[{"Key": "SecurityIsolation", "Value": "Release"}])
    return tag_change_event([instance_id], tags=RELEASE, event_id=event_id)


def request_isolation(ec2: Any, instance_id: str, event_id: str) -> dict[str, Any]:
    ec2.create_tags(Resources=[instance_id], Tags=[{"Key": "SecurityIsolation", "Value": "Isolate"}])
    return tag_change_event([instance_id], event_id=event_id)
