"""Containment steps. Each step is a small function that takes its boto3 client as a parameter, is
idempotent (it says "already done" and changes nothing when it is), and declares the IAM actions it
needs with ``@requires`` so that tests can hold the Terraform policy against them."""

from __future__ import annotations

from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

#: step name -> the IAM actions it may call
STEP_ACTIONS: dict[str, frozenset[str]] = {}


def requires(*actions: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Declare the IAM actions a step calls (Cloud Custodian style)."""

    def register(step: Callable[P, R]) -> Callable[P, R]:
        STEP_ACTIONS[step.__name__] = frozenset(actions)
        return step

    return register


def required_actions() -> frozenset[str]:
    """Every IAM action the handler may call (imports every step module so the registry is full)."""
    from ec2_isolation.steps import (  # noqa: F401, PLC0415
        assume,
        credentials,
        custody,
        evidence,
        instance,
        network,
        notify,
        observe,
        profile,
        queue,
        record,
        restore,
        services,
        status,
    )

    return frozenset().union(*STEP_ACTIONS.values())
