"""The test groups of ``make test`` hold: under pytest-xdist's ``--dist loadgroup`` the tests that share
an expensive fixture (this directory's plans, an end-to-end module's deployment) run in one worker, so that
the fixture is made once (tests/conftest.py)."""

from __future__ import annotations

import pytest

from tests.conftest import assert_runs_in_group


def test_this_test_runs_in_the_group_of_its_directory(request: pytest.FixtureRequest) -> None:
    # Given a test of tests/terraform: its group is "terraform", and under --dist loadgroup xdist
    # scheduled it by that group
    assert_runs_in_group(request, "terraform")
