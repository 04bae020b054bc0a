"""Property: for any instance shape, isolate then release puts back every recorded attribute.

hypothesis generates the shapes (ENI count, groups per ENI, profile or none, Auto Scaling group or none,
detach or standby, target groups, volumes and their DeleteOnTermination, termination protection, an
Elastic IP); each example builds its own VPC and fleet in the emulator, runs the handler on the
analyst's isolation event and then on the release event, and compares the emulator's state.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import boto3
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from ec2_isolation.config import Settings
from tests.fixtures.budget import examples
from tests.fixtures.events import REGION
from tests.unit.analyst import live_state, request_isolation, request_release
from tests.unit.conftest import Invoke, make_network
from tools.fleet import create_instance_profile, launch_instance

_counter = itertools.count()

SHAPES = st.fixed_dictionaries(
    {
        # group indexes (of four groups in the VPC) per ENI: 1 to 3 ENIs, 1 to 3 groups each
        "enis": st.lists(
            st.lists(st.integers(0, 3), min_size=1, max_size=3, unique=True), min_size=1, max_size=3
        ),
        "profile": st.booleans(),
        "auto_scaling": st.sampled_from([None, "detach", "standby"]),
        "target_groups": st.integers(0, 2),
        "extra_volumes": st.integers(0, 2),
        "kept_volumes": st.integers(0, 2),
        "termination_protection": st.booleans(),
        "elastic_ip": st.booleans(),
    }
)


def build(ec2: Any, iam: Any, shape: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A fresh VPC and an instance of ``shape`` in it; the instance id and how to read its services."""
    n = next(_counter)
    network = make_network(ec2, cidr=f"10.{n % 250}.0.0/16")
    extra = [
        ec2.create_security_group(GroupName=f"extra-{i}", Description="x", VpcId=network.vpc_id)["GroupId"]
        for i in range(2)
    ]
    groups = [network.app_group_id, network.db_group_id, *extra]
    profile = create_instance_profile(iam, f"workload-{n}") if shape["profile"] else None
    instance_id = launch_instance(
        ec2,
        subnet_id=network.subnet_id,
        enis=[[groups[i] for i in eni] for eni in shape["enis"]],
        name=f"shape-{n}",
        profile_arn=profile,
        extra_volumes=shape["extra_volumes"],
    )
    kept = ["/dev/sdf", "/dev/sdg"][: min(shape["kept_volumes"], shape["extra_volumes"])]
    if kept:
        ec2.modify_instance_attribute(
            InstanceId=instance_id,
            BlockDeviceMappings=[{"DeviceName": d, "Ebs": {"DeleteOnTermination": False}} for d in kept],
        )
    if shape["termination_protection"]:
        ec2.modify_instance_attribute(InstanceId=instance_id, DisableApiTermination={"Value": True})
    if shape["elastic_ip"]:
        allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
        ec2.associate_address(AllocationId=allocation, InstanceId=instance_id)
    services: dict[str, Any] = {"group": None, "target_groups": []}
    autoscaling = boto3.client("autoscaling", region_name=REGION)
    if shape["auto_scaling"]:
        services["group"] = name = f"asg-{n}"
        autoscaling.create_launch_configuration(
            LaunchConfigurationName=name, ImageId="ami-12c6146b", InstanceType="t3.micro"
        )
        autoscaling.create_auto_scaling_group(
            AutoScalingGroupName=name,
            LaunchConfigurationName=name,
            MinSize=0,
            MaxSize=4,
            DesiredCapacity=0,
            VPCZoneIdentifier=network.subnet_id,
        )
        autoscaling.attach_instances(InstanceIds=[instance_id], AutoScalingGroupName=name)
    elbv2 = boto3.client("elbv2", region_name=REGION)
    for t in range(shape["target_groups"]):
        arn = elbv2.create_target_group(
            Name=f"tg-{n}-{t}", Protocol="HTTP", Port=80, VpcId=network.vpc_id, TargetType="instance"
        )["TargetGroups"][0]["TargetGroupArn"]
        elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": instance_id, "Port": 8080 + t}])
        services["target_groups"].append(arn)
    return instance_id, services


def full_state(ec2: Any, instance_id: str, services: dict[str, Any]) -> dict[str, Any]:
    autoscaling = boto3.client("autoscaling", region_name=REGION)
    elbv2 = boto3.client("elbv2", region_name=REGION)
    members = autoscaling.describe_auto_scaling_instances(InstanceIds=[instance_id])["AutoScalingInstances"]
    return {
        **live_state(ec2, instance_id),
        "auto_scaling": [(m["AutoScalingGroupName"], m["LifecycleState"]) for m in members],
        "targets": [
            sorted(
                (d["Target"]["Id"], d["Target"]["Port"])
                for d in elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
            )
            for arn in services["target_groups"]
        ],
    }


@given(shape=SHAPES)
@hypothesis_settings(
    max_examples=examples(25),
    deadline=None,
    # The emulator's state accumulates across examples on purpose: each example builds its own VPC.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
def test_isolate_then_release_restores_every_recorded_attribute(
    ec2: Any, iam: Any, invoke: Invoke, settings: Settings, shape: dict[str, Any]
) -> None:
    # Given an instance of any shape, and the module configured for what it has
    configured = dataclasses.replace(
        settings,
        auto_scaling_action=shape["auto_scaling"] or "detach",
        disassociate_elastic_ips=True,
    )
    instance_id, services = build(ec2, iam, shape)
    before = full_state(ec2, instance_id, services)
    # When it is isolated, then it is contained (so the release has something to undo)
    [isolated] = invoke(request_isolation(ec2, instance_id, f"isolate-{instance_id}"), configured)[
        "instances"
    ]
    assert isolated["status"] == "isolated", isolated
    contained = full_state(ec2, instance_id, services)
    assert contained["groups"] != before["groups"]
    assert contained["elastic_ips"] == []
    assert all(targets == [] for targets in contained["targets"])
    # When it is released, then every recorded attribute is back to its value before the isolation
    [released] = invoke(request_release(ec2, instance_id, f"release-{instance_id}"), configured)["instances"]
    assert released["status"] == "released", released
    assert full_state(ec2, instance_id, services) == before
