"""Specification of ``ec2-isolation list``: every record of the table, newest first, filtered, as an aligned
table for people (at most 100 columns) or as JSON. Run in-process against the emulator's table."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ec2_isolation.listing import STATUSES
from tests.fixtures.events import ACCOUNT, REGION, tag_change_event
from tests.fixtures.faults import Fault
from tests.unit.conftest import Invoke, Launch
from tests.unit.responder import Cli, put_record

MEMBER = "111111111111"


def attempt(action: str, status: str, at: str, **fields: Any) -> dict[str, Any]:
    return {"action": action, "event_id": f"evt-{action}-{at}", "finished_at": at, "status": status, **fields}


#: one record of every status ``list`` shows: key -> (fields, the status shown)
RECORDS: dict[str, tuple[dict[str, Any], str]] = {
    "i-00000000000000001": (
        {"status": "isolated", "attempts": [attempt("isolate", "isolated", "2026-12-01T09:00:00+00:00")]},
        "isolated",
    ),
    "i-00000000000000002": (
        {
            "status": "failed",
            "attempts": [
                attempt(
                    "isolate",
                    "failed",
                    "2026-12-01T08:00:00+00:00",
                    failures={"network": "UnauthorizedOperation: not allowed", "evidence": "x"},
                    trigger={"type": "guardduty", "finding_id": "f-1"},
                )
            ],
        },
        "failed",
    ),
    "i-00000000000000003": (
        {
            "status": "isolating",
            "started_at": "2026-12-01T10:00:00+00:00",
            "lock_event_id": "evt-running",
            "attempts": [],
        },
        "in-progress",
    ),
    f"{MEMBER}:eu-west-1:i-00000000000000004": (
        {
            "status": "released",
            "released_at": "2026-12-01T07:30:00+00:00",
            "attempts": [
                attempt("isolate", "isolated", "2026-12-01T07:00:00+00:00"),
                attempt("release", "released", "2026-12-01T07:30:00+00:00"),
            ],
        },
        "released",
    ),
    "i-00000000000000005": (
        {
            "status": "release_failed",
            "attempts": [
                attempt(
                    "release",
                    "failed",
                    "2026-11-30T12:00:00+00:00",
                    failures={"profile": "a profile set by hand since the isolation is left for a person"},
                )
            ],
        },
        "release-failed",
    ),
    f"{MEMBER}:us-east-1:i-00000000000000006": (
        {
            "status": "isolated",
            "attempts": [
                attempt("isolate", "isolated", "2026-11-29T12:00:00+00:00"),
                attempt("drift", "isolated", "2026-12-01T11:00:00+00:00", trigger={"type": "reconcile"}),
            ],
        },
        "drift-repaired",
    ),
    "i-00000000000000007": (
        {"status": "terminated", "attempts": [attempt("isolate", "isolated", "2026-11-01T00:00:00+00:00")]},
        "terminated",
    ),
}


@pytest.fixture
def records(dynamodb: Any, record_table: str) -> dict[str, str]:
    """Every kind of record in the table, and a dry-run record (not an isolation): key -> status shown."""
    for key, (fields, _) in RECORDS.items():
        put_record(dynamodb, record_table, key, **fields)
    put_record(dynamodb, record_table, "dry-run#i-00000000000000001", runs=[])
    return {key: shown for key, (_, shown) in RECORDS.items()}


def rows(out: str) -> list[list[str]]:
    """The table's rows (not the header, failure lines or the count), split on runs of blanks."""
    lines = out.splitlines()[1:-1]
    return [line.split() for line in lines if not line.startswith("    ")]


class TestList:
    def test_every_status_is_shown_newest_first_with_account_region_when_and_trigger(
        self, records: dict[str, str], cli: Cli
    ) -> None:
        # Given records of every status, of this account and of a member account in two regions
        assert set(records.values()) == set(STATUSES)
        # When the responder lists them
        run = cli("list")
        # Then there is one row per record (the dry-run record is not one), newest first
        assert run.code == 0, run.err
        table = rows(run.out)
        assert [row[0] for row in table] == [
            "i-00000000000000006",  # 2026-12-01 11:00, a drift repair
            "i-00000000000000003",  # 10:00, in progress
            "i-00000000000000001",  # 09:00
            "i-00000000000000002",  # 08:00
            "i-00000000000000004",  # 07:30
            "i-00000000000000005",  # 2026-11-30
            "i-00000000000000007",  # 2026-11-01
        ]
        by_id = {row[0]: row for row in table}
        assert by_id["i-00000000000000006"][1:] == [
            MEMBER,
            "us-east-1",
            "drift-repaired",
            "2026-12-01",
            "11:00",
            "reconcile",
        ]
        assert by_id["i-00000000000000004"][1:] == [
            MEMBER,
            "eu-west-1",
            "released",
            "2026-12-01",
            "07:30",
            "tag",
        ]
        assert by_id["i-00000000000000002"][1:] == [
            ACCOUNT,
            REGION,
            "failed",
            "2026-12-01",
            "08:00",
            "guardduty",
        ]
        assert by_id["i-00000000000000003"][1:] == [
            ACCOUNT,
            REGION,
            "in-progress",
            "2026-12-01",
            "10:00",
            "(running)",
        ]
        assert run.out.splitlines()[0].split() == [
            "INSTANCE",
            "ACCOUNT",
            "REGION",
            "STATUS",
            "WHEN",
            "(UTC)",
            "BY",
        ]
        assert run.out.splitlines()[-1] == "7 records (table ec2-isolation-records)"

    def test_the_last_failure_is_under_its_record_and_every_line_fits_100_columns(
        self, records: dict[str, str], cli: Cli
    ) -> None:
        run = cli("list")
        lines = run.out.splitlines()
        failed = next(i for i, line in enumerate(lines) if line.startswith("i-00000000000000002"))
        assert lines[failed + 1] == "    last failure: network: UnauthorizedOperation: not allowed (+1 more)"
        release_failed = next(i for i, line in enumerate(lines) if line.startswith("i-00000000000000005"))
        assert lines[release_failed + 1].startswith("    last failure: profile: a profile set by hand")
        assert all(len(line) <= 100 for line in lines), [line for line in lines if len(line) > 100]
        # a column starts at the same place on every row
        status_column = lines[0].index("STATUS")
        assert all(line[status_column:].split()[0] in STATUSES for line in lines[1:-1] if line[0] == "i")

    @pytest.mark.parametrize(
        ("argv", "expected"),
        [
            (["--status", "failed"], {"i-00000000000000002"}),
            (
                ["--status", "failed", "--status", "release-failed"],
                {"i-00000000000000002", "i-00000000000000005"},
            ),
            (["--account", MEMBER], {"i-00000000000000004", "i-00000000000000006"}),
            (["--region", "eu-west-1", "--table-region", REGION], {"i-00000000000000004"}),
            (["--account", MEMBER, "--status", "released"], {"i-00000000000000004"}),
            (
                ["--since", "2026-12-01T09:00:00Z"],
                {"i-00000000000000001", "i-00000000000000003", "i-00000000000000006"},
            ),
            (["--since", "2026-12-01"], {f"i-0000000000000000{n}" for n in (1, 2, 3, 4, 6)}),
        ],
    )
    def test_filters_choose_the_records(
        self, records: dict[str, str], cli: Cli, argv: list[str], expected: set[str]
    ) -> None:
        run = cli("list", *argv)
        assert run.code == 0, run.err
        assert {row[0] for row in rows(run.out)} == expected

    def test_since_takes_a_duration_back_from_now(self, dynamodb: Any, record_table: str, cli: Cli) -> None:
        from datetime import UTC, datetime, timedelta

        recent = (datetime.now(tz=UTC) - timedelta(minutes=10)).isoformat(timespec="seconds")
        old = (datetime.now(tz=UTC) - timedelta(days=3)).isoformat(timespec="seconds")
        put_record(
            dynamodb, record_table, "i-0000000000000000a", attempts=[attempt("isolate", "isolated", recent)]
        )
        put_record(
            dynamodb, record_table, "i-0000000000000000b", attempts=[attempt("isolate", "isolated", old)]
        )
        for since, expected in (
            ("30m", {"i-0000000000000000a"}),
            ("2d", {"i-0000000000000000a"}),
            ("7d", {"i-0000000000000000a", "i-0000000000000000b"}),
        ):
            run = cli("list", "--since", since)
            assert {row[0] for row in rows(run.out)} == expected, since

    def test_json_holds_every_field_of_each_record(self, records: dict[str, str], cli: Cli) -> None:
        run = cli("list", "--json")
        assert run.code == 0, run.err
        document = json.loads(run.out)
        assert document["table"] == "ec2-isolation-records"
        by_key = {r["key"]: r for r in document["records"]}
        assert set(by_key) == set(RECORDS)
        failed = by_key["i-00000000000000002"]
        assert failed == {
            "key": "i-00000000000000002",
            "instance_id": "i-00000000000000002",
            "account": ACCOUNT,
            "region": REGION,
            "status": "failed",
            "record_status": "failed",
            "when": "2026-12-01T08:00:00+00:00",
            "action": "isolate",
            "trigger": "guardduty",
            "event_id": "evt-isolate-2026-12-01T08:00:00+00:00",
            "last_failure": "network: UnauthorizedOperation: not allowed (+1 more)",
        }
        assert by_key["i-00000000000000003"]["event_id"] == "evt-running"
        assert [r["when"] for r in document["records"]] == sorted(
            (r["when"] for r in document["records"]), reverse=True
        )

    def test_a_table_of_many_pages_is_read_whole(self, dynamodb: Any, record_table: str, cli: Cli) -> None:
        # Given more records than one page of the scan (pages of 25 here; DynamoDB's are 1 MB)
        for n in range(130):
            put_record(
                dynamodb,
                record_table,
                f"i-{n:017x}",
                attempts=[attempt("isolate", "isolated", f"2026-11-{1 + n % 28:02d}T00:00:00+00:00")],
            )

        def small_pages(params: dict[str, Any], **_: Any) -> None:
            params["Limit"] = 25

        cli.hooks.append(("provide-client-params.dynamodb.Scan", small_pages))
        # When the responder lists them
        run = cli("list", "--json")
        # Then every record is there, read page by page
        assert run.code == 0, run.err
        assert len(json.loads(run.out)["records"]) == 130
        assert run.calls.operations().count("Scan") == 6  # 5 full pages, then the last one
        assert run.writes() == []

    def test_an_empty_table_says_so(self, cli: Cli) -> None:
        run = cli("list")
        assert (run.code, run.out) == (0, "no isolation records in table ec2-isolation-records match\n")

    def test_the_records_of_real_isolations_are_listed(
        self, ec2: Any, launch: Launch, cli: Cli, invoke: Invoke
    ) -> None:
        # Given an instance isolated by the Lambda
        instance_id = launch(tags={"Name": "web-01", "SecurityIsolation": "Isolate"})
        invoke(tag_change_event([instance_id], event_id="evt-isolate"))
        # Then list shows it isolated, by the tag, with the event
        run = cli("list", "--json")
        [entry] = json.loads(run.out)["records"]
        assert (entry["instance_id"], entry["status"], entry["trigger"], entry["event_id"]) == (
            instance_id,
            "isolated",
            "tag",
            "evt-isolate",
        )


class TestListErrors:
    def test_an_unknown_status_is_a_usage_error(self, cli: Cli) -> None:
        run = cli("list", "--status", "quarantined")
        assert run.code == 2 and "invalid choice: 'quarantined'" in run.err
        assert run.calls.operations() == []

    def test_a_malformed_since_is_a_usage_error(self, cli: Cli) -> None:
        run = cli("list", "--since", "yesterday")
        assert run.code == 2
        assert run.err.startswith("error: --since 'yesterday': expected a duration (30m, 12h, 7d)")

    def test_a_missing_table_is_named_with_its_region(self, cli: Cli) -> None:
        run = cli("list", "--table", "no-such-table")
        assert run.code == 1
        assert run.err.startswith("error: dynamodb:Scan: the record table does not exist in this region")
        assert "--table-region" in run.err and len(run.err.splitlines()) == 1

    def test_access_denied_names_the_scan(self, cli: Cli) -> None:
        cli.faults.append(Fault("Scan", "AccessDeniedException", "not authorized to perform: dynamodb:Scan"))
        run = cli("list")
        assert run.code == 1
        assert run.err.startswith("error: access denied: the responder needs dynamodb:Scan")
