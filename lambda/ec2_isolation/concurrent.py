"""Independent calls at the same time: a read-only prologue and per-ENI changes cost one round trip
instead of one each. Every task runs in a copy of the caller's context, so its log lines keep the event
and instance ids; every task is waited for, and the first failure (in the tasks' order) is raised."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextvars import copy_context
from typing import TypeVar

K = TypeVar("K")
T = TypeVar("T")

#: more would only queue in the HTTP connection pool (botocore's default is 10 connections per client)
MAX_WORKERS = 8


def in_parallel(tasks: Mapping[K, Callable[[], T]]) -> dict[K, T]:
    """Run ``tasks`` concurrently; their results by key. One task runs inline, without a thread."""
    if len(tasks) <= 1:
        return {key: task() for key, task in tasks.items()}
    with ThreadPoolExecutor(max_workers=min(MAX_WORKERS, len(tasks))) as pool:
        futures = {key: pool.submit(copy_context().run, task) for key, task in tasks.items()}
    # The pool has waited for every task: nothing is left running when a failure is raised here.
    return {key: future.result() for key, future in futures.items()}
