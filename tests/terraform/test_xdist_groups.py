"""The test groups of ``make test`` hold: under pytest-xdist's ``--dist loadgroup`` the tests that share
an expensive fixture (this directory's plans, an end-to-end module's deployment) run in one worker, so that
the fixture is made once (tests/conftest.py)."""

from __future__ import annotations

import os

import pytest

from tests.conftest import xdist_group


def test_this_test_runs_in_the_group_of_its_directory(request: pytest.FixtureRequest) -> None:
    # Given a test of tests/terraform: its group is "terraform"
    assert xdist_group(request.node) == "terraform"
    mark = request.node.get_closest_marker("xdist_group")
    assert mark is not None and mark.args == ("terraform",)
    # When it runs in a pytest-xdist worker with --dist loadgroup, then xdist scheduled it by that group:
    # its node id carries the group (xdist adds it in the worker, from the mark, at collection)
    if os.environ.get("PYTEST_XDIST_WORKER") and request.config.getvalue("loadgroup"):
        assert request.node.nodeid.endswith("@terraform"), request.node.nodeid
