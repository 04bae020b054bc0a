"""Specification of the responder CLI (``python -m ec2_isolation``): isolate and release set exactly one tag,
status shows the isolation record beside the live state. Run in-process against the emulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError

from tests.fixtures.events import ACCOUNT, REGION, tag_change_event
from tests.fixtures.faults import Fault
from tests.unit.conftest import Invoke, Launch, Network, eni_groups, groups_named, tags_of
from tests.unit.responder import Cli, put_record

ROOT = Path(__file__).resolve().parents[2]


class TestIsolate:
    def test_it_sets_exactly_the_trigger_tag_and_nothing_else(
        self, ec2: Any, network: Network, launch: Launch, cli: Cli
    ) -> None:
        # Given an instance that is not isolated
        instance_id = launch(tags={"Name": "web-01"})
        groups = eni_groups(ec2, instance_id)
        # When a responder isolates it
        run = cli("isolate", instance_id)
        # Then the trigger tag is set, with the one write the tag-only permission model allows
        assert run.code == 0, run.err
        assert tags_of(ec2, instance_id) == {"Name": "web-01", "SecurityIsolation": "Isolate"}
        assert run.writes() == ["CreateTags"]
        assert run.calls.sent("CreateTags") == [
            {
                "Action": "CreateTags",
                "Version": "2016-11-15",
                "ResourceId.1": instance_id,
                "Tag.1.Key": "SecurityIsolation",
                "Tag.1.Value": "Isolate",
            }
        ]
        # and the instance itself is the Lambda's business
        assert eni_groups(ec2, instance_id) == groups
        assert "set tag SecurityIsolation=Isolate" in run.out and "Lambda" in run.out

    def test_the_tag_it_sets_is_one_the_lambda_isolates_on(
        self, ec2: Any, network: Network, launch: Launch, cli: Cli, invoke: Invoke
    ) -> None:
        # Given the responder isolated an instance with the CLI
        instance_id = launch()
        assert cli("isolate", instance_id).code == 0
        # When EventBridge delivers the tag change with the instance's tags
        [result] = invoke(tag_change_event([instance_id], tags=tags_of(ec2, instance_id)))["instances"]
        # Then the Lambda isolates it
        assert result["status"] == "isolated"
        [isolation] = groups_named(ec2, "ec2-isolation-isolation")
        assert list(eni_groups(ec2, instance_id).values()) == [[isolation["GroupId"]]]

    def test_flags_and_environment_name_the_deployment(
        self, ec2: Any, launch: Launch, cli: Cli, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Given a deployment with its own tag key (from the environment) and value (a flag after the command)
        monkeypatch.setenv("EC2_ISOLATION_TAG_KEY", "Quarantine")
        monkeypatch.setenv("EC2_ISOLATION_ISOLATE_VALUE", "ignored-the-flag-wins")
        instance_id = launch(tags={"Name": "web-01"})
        # When
        run = cli("isolate", instance_id, "--isolate-value", "Now", "--region", REGION)
        # Then
        assert run.code == 0, run.err
        assert tags_of(ec2, instance_id) == {"Name": "web-01", "Quarantine": "Now"}

    def test_a_tag_already_set_is_not_set_again_and_the_responder_is_told_why(
        self, ec2: Any, launch: Launch, cli: Cli
    ) -> None:
        # Given an instance whose trigger tag already has the isolate value
        instance_id = launch(tags={"Name": "web-01", "SecurityIsolation": "Isolate"})
        # When
        run = cli("isolate", instance_id)
        # Then nothing is written (EventBridge would not fire) and the way to run the Lambda again is named
        assert run.code == 0
        assert run.writes() == []
        assert "already 'Isolate'" in run.out and "--retrigger" in run.out

    def test_retrigger_removes_the_tag_and_sets_it_again(self, ec2: Any, launch: Launch, cli: Cli) -> None:
        instance_id = launch(tags={"Name": "web-01", "SecurityIsolation": "Isolate"})
        run = cli("isolate", "--retrigger", instance_id)
        assert run.code == 0, run.err
        assert run.writes() == ["DeleteTags", "CreateTags"]
        [deleted] = run.calls.sent("DeleteTags")
        assert (deleted["Tag.1.Key"], deleted["Tag.1.Value"]) == ("SecurityIsolation", "Isolate")
        assert tags_of(ec2, instance_id) == {"Name": "web-01", "SecurityIsolation": "Isolate"}

    def test_json_output_says_what_was_set(self, launch: Launch, cli: Cli) -> None:
        instance_id = launch()
        run = cli("--json", "isolate", instance_id)
        outcome = json.loads(run.out)
        assert outcome["tag"] == {"key": "SecurityIsolation", "value": "Isolate"}
        assert (outcome["set"], outcome["previous_value"], outcome["action"]) == (True, None, "isolate")


class TestRelease:
    def test_it_sets_the_release_value_on_an_isolated_instance(
        self, ec2: Any, network: Network, launch: Launch, cli: Cli, invoke: Invoke
    ) -> None:
        # Given an isolated instance
        instance_id = launch(tags={"Name": "web-01", "SecurityIsolation": "Isolate"})
        invoke(tag_change_event([instance_id]))
        isolated_tags = tags_of(ec2, instance_id)
        # When a responder releases it
        run = cli("release", instance_id)
        # Then only the trigger tag changes, with no warning (the record says isolated)
        assert run.code == 0, run.err
        assert run.err == ""
        assert run.writes() == ["CreateTags"]
        assert tags_of(ec2, instance_id) == {**isolated_tags, "SecurityIsolation": "Release"}
        assert "(was 'Isolate')" in run.out

    @pytest.mark.parametrize(
        ("status", "warning"),
        [
            (None, "no isolation record"),
            ("failed", "did not complete"),
            ("isolating", "isolation is in progress"),
            ("released", "already released"),
            ("releasing", "release is in progress"),
            ("something-new", "not recorded as isolated"),
        ],
    )
    def test_without_an_isolated_record_it_warns_and_still_sets_the_tag(
        self,
        ec2: Any,
        dynamodb: Any,
        record_table: str,
        launch: Launch,
        cli: Cli,
        status: str | None,
        warning: str,
    ) -> None:
        instance_id = launch(tags={"Name": "web-01"})
        if status is not None:
            put_record(dynamodb, record_table, instance_id, status=status)
        run = cli("release", instance_id)
        assert run.code == 0
        assert run.err.startswith("warning: ") and warning in run.err
        assert tags_of(ec2, instance_id)["SecurityIsolation"] == "Release"
        assert run.writes() == ["CreateTags"]

    def test_a_failed_release_can_be_released_again_without_warning(
        self, dynamodb: Any, record_table: str, launch: Launch, cli: Cli
    ) -> None:
        instance_id = launch(tags={"Name": "web-01", "SecurityIsolation": "Release"})
        put_record(dynamodb, record_table, instance_id, status="release_failed")
        run = cli("--json", "release", instance_id, "--retrigger")
        outcome = json.loads(run.out)
        assert (outcome["warnings"], outcome["retriggered"]) == ([], True)

    def test_an_unreadable_record_is_a_warning_not_a_failure(
        self, ec2: Any, launch: Launch, cli: Cli
    ) -> None:
        instance_id = launch()
        run = cli("release", instance_id, "--table", "no-such-table")
        assert run.code == 0
        assert "could not read the isolation record" in run.err and "--table" in run.err
        assert tags_of(ec2, instance_id)["SecurityIsolation"] == "Release"


class TestErrors:
    @pytest.mark.parametrize("command", ["isolate", "release", "status"])
    def test_an_unknown_instance_is_an_error(self, cli: Cli, command: str) -> None:
        run = cli(command, "i-0123456789abcdef0")
        assert run.code == 1
        assert run.err == (
            f"error: instance i-0123456789abcdef0 not found in account {ACCOUNT}, region {REGION}: "
            "check --region, or --profile for an instance of another account\n"
        )
        assert run.writes() == []

    @pytest.mark.parametrize(
        "instance_id", ["web-01", "i-123", "i-0123456789ABCDEF0", "sg-0123456789abcdef0"]
    )
    def test_a_malformed_instance_id_is_a_usage_error_before_any_call(
        self, cli: Cli, instance_id: str
    ) -> None:
        run = cli("isolate", instance_id)
        assert run.code == 2
        assert run.err.startswith("error: malformed instance id")
        assert run.calls.operations() == []

    @pytest.mark.parametrize("command", ["isolate", "release"])
    def test_a_terminated_instance_is_an_error(
        self, ec2: Any, launch: Launch, cli: Cli, command: str
    ) -> None:
        instance_id = launch()
        ec2.terminate_instances(InstanceIds=[instance_id])
        run = cli(command, instance_id)
        assert run.code == 1
        assert f"{instance_id} is terminated" in run.err
        assert run.writes() == []
        assert "SecurityIsolation" not in tags_of(ec2, instance_id)

    def test_access_denied_names_the_missing_permission(self, ec2: Any, launch: Launch, cli: Cli) -> None:
        instance_id = launch()
        cli.faults.append(
            Fault("CreateTags", "UnauthorizedOperation", "You are not authorized to perform this operation.")
        )
        run = cli("isolate", instance_id)
        assert run.code == 1
        assert run.err.startswith("error: access denied: the responder needs ec2:CreateTags")
        assert len(run.err.splitlines()) == 1
        assert "SecurityIsolation" not in tags_of(ec2, instance_id)

    def test_a_record_that_cannot_be_read_fails_status(self, launch: Launch, cli: Cli) -> None:
        instance_id = launch()
        cli.faults.append(
            Fault(
                "GetItem",
                "AccessDeniedException",
                "User is not authorized to perform: dynamodb:GetItem",
            )
        )
        run = cli("status", instance_id)
        assert (run.code, run.err.splitlines()[0][:52]) == (
            1,
            "error: access denied: the responder needs dynamodb:G",
        )

    def test_a_missing_table_is_named(self, launch: Launch, cli: Cli) -> None:
        run = cli("status", launch(), "--table", "no-such-table")
        assert run.code == 1
        assert "record table does not exist" in run.err

    @pytest.mark.parametrize(
        "argv",
        [
            [],
            ["isolate"],
            ["quarantine", "i-0123456789abcdef0"],
            ["status", "i-0123456789abcdef0", "--retrigger"],
        ],
    )
    def test_usage_errors_exit_2(self, cli: Cli, argv: list[str]) -> None:
        run = cli(*argv)
        assert run.code == 2
        assert "usage:" in run.err
        assert run.calls.operations() == []

    def test_same_isolate_and_release_values_are_refused(self, cli: Cli) -> None:
        run = cli("isolate", "i-0123456789abcdef0", "--release-value", "Isolate")
        assert (run.code, run.calls.operations()) == (2, [])

    def test_no_region_is_a_usage_error(
        self, cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
            monkeypatch.delenv(name)
        monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
        run = cli("status", "i-0123456789abcdef0")
        assert (run.code, run.err) == (2, "error: no AWS region: pass --region or set AWS_REGION\n")


class TestResponderErrors:
    """What goes wrong at a responder's keyboard: one line each, that says what to do, and the exit code."""

    @pytest.mark.parametrize("command", ["isolate", "status", "list"])
    def test_missing_credentials(
        self, cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, command: str
    ) -> None:
        # Given a shell without any AWS credentials
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
        monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
        # When the responder runs a command
        run = cli(command, *([] if command == "list" else ["i-0123456789abcdef0"]))
        # Then one line says how to get credentials
        assert run.code == 1
        assert run.err == (
            "error: no AWS credentials found: pass --profile, run `aws sso login`, or set AWS_PROFILE or "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY\n"
        )

    def test_a_wrong_region(self, cli: Cli) -> None:
        # Given a mistyped region, whose endpoint does not exist (no network call is made here)
        def unreachable(request: Any, **_: Any) -> None:
            raise EndpointConnectionError(endpoint_url=request.url.split("?")[0])

        cli.hooks.append(("before-send", unreachable))
        run = cli("status", "i-0123456789abcdef0", "--region", "us-eest-1")
        assert run.code == 1
        assert run.err == (
            "error: could not connect to https://dynamodb.us-eest-1.amazonaws.com/: is the region "
            "'us-eest-1' right? this AWS SDK does not know it (pass --region, or set AWS_REGION)\n"
        )

    def test_an_unreachable_known_region_is_a_network_problem(self, cli: Cli) -> None:
        def unreachable(request: Any, **_: Any) -> None:
            raise EndpointConnectionError(endpoint_url=request.url.split("?")[0])

        cli.hooks.append(("before-send", unreachable))
        run = cli("status", "i-0123456789abcdef0", "--region", "eu-west-1")
        assert run.code == 1
        assert "is the network up?" in run.err and len(run.err.splitlines()) == 1

    def test_an_unknown_profile_is_a_usage_error(
        self, cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
        cli.own_session = False
        run = cli("status", "i-0123456789abcdef0", "--profile", "incident-response")
        assert run.code == 2
        assert run.err.startswith("error: The config profile (incident-response) could not be found")
        assert "--profile" in run.err and len(run.err.splitlines()) == 1

    def test_a_profile_names_the_credentials(
        self, cli: Cli, launch: Launch, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        # Given a profile of the AWS CLI's config, and no credentials in the environment
        config = tmp_path / "config"
        config.write_text(
            "[profile incident-response]\nregion = us-east-1\n"
            "aws_access_key_id = AKIAFROMTHEPROFILE\naws_secret_access_key = secret\n"
        )
        monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            monkeypatch.delenv(name, raising=False)
        instance_id = launch()
        cli.own_session = False
        # When the responder names it
        run = cli("isolate", instance_id, "--profile", "incident-response")
        # Then the command runs with its credentials
        assert run.code == 0, run.err

    def test_an_instance_of_another_account(self, ec2: Any, launch: Launch, cli: Cli) -> None:
        # Given an instance ARN of another account than the credentials' (as GuardDuty names it)
        arn = "arn:aws:ec2:us-east-1:111111111111:instance/i-0123456789abcdef0"
        run = cli("isolate", arn)
        # Then nothing is tagged, and the line says which account the instance and the credentials are of
        assert run.code == 1
        assert run.err == (
            f"error: instance i-0123456789abcdef0 is in account 111111111111, but these credentials are of "
            f"account {ACCOUNT}: use a profile of that account (--profile)\n"
        )
        assert run.writes() == []

    def test_an_instance_arn_of_this_account_is_acted_on_in_its_region(
        self, ec2: Any, launch: Launch, cli: Cli
    ) -> None:
        instance_id = launch()
        run = cli("isolate", f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{instance_id}")
        assert run.code == 0, run.err
        assert tags_of(ec2, instance_id)["SecurityIsolation"] == "Isolate"

    def test_an_arn_of_another_region_than_region_is_a_usage_error(self, cli: Cli) -> None:
        arn = f"arn:aws:ec2:eu-west-1:{ACCOUNT}:instance/i-0123456789abcdef0"
        run = cli("isolate", arn, "--region", "us-east-1")
        assert (run.code, run.calls.operations()) == (2, [])
        assert run.err == "error: the ARN names region eu-west-1, but --region is us-east-1\n"

    def test_expired_credentials(self, launch: Launch, cli: Cli) -> None:
        cli.faults.append(Fault("DescribeInstances", "RequestExpired", "Request has expired."))
        run = cli("isolate", launch())
        assert run.code == 1
        assert run.err.startswith(
            "error: the AWS credentials have expired (ec2:DescribeInstances: RequestExpired)"
        )
        assert "aws sso login" in run.err and len(run.err.splitlines()) == 1


class TestRecordsOfOtherRegions:
    def test_status_reads_an_instance_of_another_region_under_its_regional_key(
        self, dynamodb: Any, record_table: str, cli: Cli
    ) -> None:
        # Given the deployment's table in us-east-1 and its record of an instance in eu-west-1 (the key the
        # Lambda writes: account:region:id)
        put_record(dynamodb, record_table, f"{ACCOUNT}:eu-west-1:i-0123456789abcdef0", status="released")
        # When the responder asks for that instance's status in its region
        run = cli("status", "i-0123456789abcdef0", "--region", "eu-west-1", "--table-region", REGION)
        # Then the record is found (the instance itself is not, in the emulator's eu-west-1)
        assert run.code == 0, run.err
        assert "record   status released" in run.out
        assert run.calls.sent("GetItem")[0]["Key"] == json.dumps(
            {"instance_id": {"S": f"{ACCOUNT}:eu-west-1:i-0123456789abcdef0"}}
        )


class TestStatus:
    def test_before_isolation_it_says_there_is_no_record_and_shows_the_live_state(
        self, ec2: Any, network: Network, launch: Launch, cli: Cli, app_profile_arn: str
    ) -> None:
        # Given an instance never isolated
        instance_id = launch(profile_arn=app_profile_arn)
        [eni] = eni_groups(ec2, instance_id)
        # When
        run = cli("status", instance_id)
        # Then
        assert run.code == 0, run.err
        assert "no isolation record in table ec2-isolation-records" in run.out
        assert network.app_group_id in run.row("security groups", eni, "(device 0)")
        assert run.row("instance profile").split()[-1] == "web-app"
        assert run.row("termination protection").split()[-1] == "no"
        assert "(none)" in run.out.split("isolation tags (now)")[1]
        assert not [line for line in run.out.splitlines() if line.startswith("*")]
        assert run.writes() == []

    def test_after_isolation_prior_and_now_are_side_by_side_and_the_changes_marked(
        self,
        ec2: Any,
        network: Network,
        launch: Launch,
        cli: Cli,
        invoke: Invoke,
        app_profile_arn: str,
    ) -> None:
        # Given an isolated two-ENI instance with a profile and a second volume
        instance_id = launch(
            enis=[[network.app_group_id], [network.db_group_id]], profile_arn=app_profile_arn, extra_volumes=1
        )
        before = eni_groups(ec2, instance_id)
        app_eni = next(e for e, groups in before.items() if groups == [network.app_group_id])
        db_eni = next(e for e, groups in before.items() if groups == [network.db_group_id])
        invoke(tag_change_event([instance_id], event_id="evt-isolate"))
        [isolation] = groups_named(ec2, "ec2-isolation-isolation")
        # When
        run = cli("status", instance_id)
        # Then each attribute shows the recorded prior beside now, marked where they differ
        assert run.code == 0, run.err
        for eni, group in ((app_eni, network.app_group_id), (db_eni, network.db_group_id)):
            line = run.row("security groups", eni)
            assert line.startswith("*")
            assert line.split()[-2:] == [group, isolation["GroupId"]]
        profile = run.row("instance profile")
        assert profile.startswith("*") and profile.split()[-2:] == ["web-app", "ec2-isolation-isolation"]
        assert run.row("termination protection").split()[-3:] == ["protection", "no", "yes"]
        assert run.row("termination protection").startswith("*")
        assert run.row("DeleteOnTermination", "/dev/sdf").split()[-2:] == ["yes", "no"]
        assert not run.row("instance state").startswith("*")
        assert not run.row("shutdown behaviour").startswith("*")
        assert run.row("Auto Scaling group").count("(not in a group)") == 2
        # the status tags, the record and its audit trail
        assert run.line("SecurityIsolation:Status").split() == ["SecurityIsolation:Status", "Isolated"]
        assert "record   status isolated  isolation event evt-isolate" in run.out
        attempt = run.line("1. ", "event evt-isolate")
        assert "isolated" in attempt
        assert "network_interfaces=ok" in run.line("steps:")
        assert "- enabled termination protection" in run.out
        assert run.writes() == []

    def test_the_prior_groups_of_each_eni_are_shown(
        self, ec2: Any, network: Network, launch: Launch, cli: Cli, invoke: Invoke
    ) -> None:
        instance_id = launch(enis=[[network.app_group_id], [network.db_group_id, network.app_group_id]])
        by_device = {
            n["Attachment"]["DeviceIndex"]: n["NetworkInterfaceId"]
            for n in ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0][
                "NetworkInterfaces"
            ]
        }
        invoke(tag_change_event([instance_id]))
        run = cli("status", instance_id)
        assert f"{network.app_group_id}  " in run.row("security groups", by_device[0], "(device 0)")
        assert f"{network.db_group_id}, {network.app_group_id}" in run.row(
            "security groups", by_device[1], "(device 1)"
        )

    def test_json_holds_the_record_the_live_state_and_the_comparison(
        self, ec2: Any, network: Network, launch: Launch, cli: Cli, invoke: Invoke, app_profile_arn: str
    ) -> None:
        instance_id = launch(profile_arn=app_profile_arn)
        [eni] = eni_groups(ec2, instance_id)
        invoke(tag_change_event([instance_id], event_id="evt-isolate"))
        run = cli("status", instance_id, "--json")
        assert run.code == 0, run.err
        report = json.loads(run.out)
        assert report["record"]["status"] == "isolated"
        assert report["record"]["prior"]["instance_profile_arn"] == app_profile_arn
        assert report["record"]["attempts"][0]["event_id"] == "evt-isolate"
        assert report["live"]["security_groups"] == eni_groups(ec2, instance_id)
        assert report["live"]["instance_profile_arn"].endswith("/ec2-isolation-isolation")
        assert report["live"]["isolation_tags"]["SecurityIsolation:Status"] == "Isolated"
        rows = {(r["attribute"], r["item"]): r for r in report["comparison"]}
        assert rows[("security_groups", eni)]["prior"] == [network.app_group_id]
        assert rows[("security_groups", eni)]["differs"] is True
        assert rows[("instance_profile_arn", None)]["differs"] is True
        assert rows[("state", None)]["differs"] is False
        assert isinstance(report["record"]["version"], int)

    def test_json_without_a_record(self, launch: Launch, cli: Cli) -> None:
        report = json.loads(cli("--json", "status", launch()).out)
        assert report["record"] is None
        assert report["live"]["state"] == "running"
        assert {r["differs"] for r in report["comparison"]} == {None}

    def test_numbers_sets_and_unknown_fields_of_the_record_are_rendered(
        self, dynamodb: Any, record_table: str, launch: Launch, cli: Cli
    ) -> None:
        # Given a record from a newer format: numbers (Decimal when read), a set, fields this CLI does not know
        instance_id = launch()
        put_record(
            dynamodb,
            record_table,
            instance_id,
            status="released",
            release_event_id="evt-release",
            released_at="2026-11-29T08:00:00+00:00",
            version=7,
            lock_expires_at=1795842780,
            ticket={
                "id": "IR-42",
                "severity": Decimal("7.5"),
                "labels": {"ransomware", "web"},
                "hash": b"\x00\x01",
            },
            prior={
                "state": "running",
                "security_groups": {},
                "instance_profile_arn": None,
                "memory_capture": {"bytes": 4294967296},
            },
            attempts=[
                {
                    "event_id": "evt-release",
                    "action": "release",
                    "finished_at": "2026-11-29T08:00:00+00:00",
                    "status": "released",
                    "steps": {"network_interfaces": "ok"},
                    "changes": ["restored groups"],
                    "failures": {},
                    "duration_ms": 1234,
                }
            ],
            history=[
                {"isolation_event_id": "evt-0", "status": "released", "attempts": [{"event_id": "evt-0"}]}
            ],
        )
        # When
        text, document = cli("status", instance_id), cli("status", instance_id, "--json")
        # Then the text shows every field, numbers as numbers
        assert text.code == 0, text.err
        assert "Decimal" not in text.out
        assert text.line("version").split() == ["version", "7"]
        assert text.line("lock_expires_at").split()[1] == "1795842780"
        assert "severity: 7.5" in text.out and "- ransomware" in text.out and "hash: AAE=" in text.out
        assert "4294967296" in text.row("prior.memory_capture")
        assert "(not read)" in text.row("prior.memory_capture")
        assert "release_event_id" in text.out and "evt-release" in text.line("release_event_id")
        assert "1. 2026-11-29T08:00:00+00:00 release  released  event evt-release" in text.out
        assert "duration_ms:" in text.out and "1234" in text.out
        assert "history (1 previous cycle)" in text.out and "isolation_event_id: evt-0" in text.out
        # and the JSON parses with them as JSON numbers and lists
        record = json.loads(document.out)["record"]
        assert record["ticket"] == {
            "id": "IR-42",
            "severity": 7.5,
            "labels": ["ransomware", "web"],
            "hash": "AAE=",
        }
        assert (record["version"], record["attempts"][0]["duration_ms"]) == (7, 1234)
        assert record["history"][0]["attempts"] == [{"event_id": "evt-0"}]

    def test_target_registrations_in_the_prior_are_compared(
        self, ec2: Any, network: Network, launch: Launch, cli: Cli, invoke: Invoke
    ) -> None:
        # Given an isolated instance that was behind a target group (port recorded as a DynamoDB number)
        elbv2 = boto3.client("elbv2", region_name=REGION)
        instance_id = launch()
        group = elbv2.create_target_group(
            Name="web", Protocol="HTTP", Port=80, VpcId=network.vpc_id, TargetType="instance"
        )["TargetGroups"][0]["TargetGroupArn"]
        elbv2.register_targets(TargetGroupArn=group, Targets=[{"Id": instance_id, "Port": 8080}])
        invoke(tag_change_event([instance_id]))
        # When status is asked after the isolation deregistered it
        deregistered = cli("status", instance_id)
        # Then the registration is shown as it was, and marked
        line = deregistered.row("target group", "web/")
        assert line.startswith("*") and f"{instance_id}:8080" in line and line.endswith("(not registered)")
        # When it is registered again (as a release would), the line is no longer marked
        elbv2.register_targets(TargetGroupArn=group, Targets=[{"Id": instance_id, "Port": 8080}])
        again = cli("status", instance_id)
        assert not again.row("target group", "web/").startswith("*")

    def test_an_instance_gone_with_a_record_still_shows_the_record(
        self, dynamodb: Any, record_table: str, cli: Cli
    ) -> None:
        put_record(dynamodb, record_table, "i-0123456789abcdef0")
        run = cli("status", "i-0123456789abcdef0")
        assert run.code == 0, run.err
        assert "not found in" in run.out and "record   status isolated" in run.out
        assert "prior:" in run.out


def test_python_dash_m_runs_the_cli() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ec2_isolation", "--help"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT / "lambda")},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: python -m ec2_isolation")
    for command in ("status", "isolate", "release", "--tag-key", "--json"):
        assert command in result.stdout
