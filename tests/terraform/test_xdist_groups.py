"""The test groups of ``make test`` hold: under pytest-xdist's ``--dist loadgroup`` the tests that share
an expensive fixture (this directory's plans, an end-to-end module's deployment) run in one worker, so that
the fixture is made once, and the others spread over the workers (tests/conftest.py)."""

from __future__ import annotations

import os

import pytest

from tests.conftest import assert_runs_in_group, xdist_group
from tests.terraform.plan import Plan


def test_a_test_that_reads_a_plan_runs_in_the_plans_group(
    request: pytest.FixtureRequest, minimal_plan: Plan
) -> None:
    # Given a test of tests/terraform that reads one of the session's plans: its group is "terraform",
    # and under --dist loadgroup xdist scheduled it by that group
    assert minimal_plan.resource_changes
    assert_runs_in_group(request, "terraform")


def test_a_test_that_plans_nothing_is_in_no_group(request: pytest.FixtureRequest) -> None:
    # Given a test of tests/terraform that reads no plan: any worker may take it
    assert xdist_group(request.node) is None
    assert request.node.get_closest_marker("xdist_group") is None
    if os.environ.get("PYTEST_XDIST_WORKER"):
        assert "@" not in request.node.nodeid, request.node.nodeid
