"""moto's server with `tools.moto_ext` installed, and endpoints to drive what the extension emulates.

    python -m tools.moto_server -H 127.0.0.1 -p 0      # moto.server's own arguments and start-up line

Every request is moto's, except the control endpoints (POST, JSON body and answer), which a test calls
through `tools.emulator.Emulator`:

- ``/moto-ext/snapshots/new-state`` ``{"state": "pending" | "completed"}``: the state new snapshots start in;
- ``/moto-ext/snapshots/complete`` ``{"snapshot_ids": [...] | null}``: pending snapshots (null: all) to
  ``completed``; answers ``{"snapshot_ids": [the ids moved]}``;
- ``/moto-ext/snapshots/fail`` ``{"snapshot_ids": [...]}``: pending snapshots to ``error``;
- ``/moto-ext/clock`` ``{"now": "<ISO 8601>" | null}`` or ``{"advance_seconds": N}``: fix, move or free
  the emulator's clock; answers ``{"now": "<ISO 8601>"}``.

A malformed body answers 400, an unknown snapshot 404, each with ``{"error": "..."}``.

The server is threaded (werkzeug), but moto's backends are not safe under concurrent requests: two
RemovePermission calls on one function at once (Terraform destroys both schedules' permissions in
parallel) iterate and shrink the same statement list, so one of them misses its statement, answers 404
and leaves it in place, and Terraform's wait for it to go times out. The application therefore answers
one request at a time (`ONE_REQUEST_AT_A_TIME`); moto's handlers are pure Python under one interpreter
lock, and none of them waits (every caller here receives SQS messages with ``WaitTimeSeconds=0``), so
serving them in turn costs nothing measurable.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any, Final

import moto.server
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from werkzeug.wrappers import Request, Response

from tools import moto_ext

CONTROL_PREFIX: Final = "/moto-ext/"
NEW_STATE_PATH: Final = "/moto-ext/snapshots/new-state"
COMPLETE_PATH: Final = "/moto-ext/snapshots/complete"
FAIL_PATH: Final = "/moto-ext/snapshots/fail"
CLOCK_PATH: Final = "/moto-ext/clock"
#: held while moto answers a request, body included: its backends' state changes one request at a time
ONE_REQUEST_AT_A_TIME: Final = threading.Lock()


class ControlError(ValueError):
    """A control request that can't be carried out: answered with ``status``."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _snapshot_ids(body: dict[str, Any], *, required: bool) -> list[str] | None:
    ids = body.get("snapshot_ids")
    if ids is None and not required:
        return None
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise ControlError("snapshot_ids must be a list of snapshot ids" + ("" if required else " or null"))
    return ids


def _moved(change: Callable[[], Iterable[str]]) -> dict[str, Any]:
    try:
        return {"snapshot_ids": list(change())}
    except moto_ext.UnknownSnapshotsError as error:
        raise ControlError(str(error), status=404) from error


def _new_state(body: dict[str, Any]) -> dict[str, Any]:
    state = body.get("state")
    if not isinstance(state, str):
        raise ControlError('the body is {"state": "pending" | "completed"}')
    moto_ext.set_new_snapshot_state(state)
    return {"state": moto_ext.new_snapshot_state()}


def _complete(body: dict[str, Any]) -> dict[str, Any]:
    ids = _snapshot_ids(body, required=False)
    return _moved(lambda: moto_ext.complete_snapshots(ids))


def _fail(body: dict[str, Any]) -> dict[str, Any]:
    ids = _snapshot_ids(body, required=True)
    assert ids is not None
    return _moved(lambda: moto_ext.fail_snapshots(ids))


def _clock(body: dict[str, Any]) -> dict[str, Any]:
    if "advance_seconds" in body:
        seconds = body["advance_seconds"]
        if not isinstance(seconds, int | float) or isinstance(seconds, bool):
            raise ControlError("advance_seconds must be a number")
        moto_ext.advance_clock(timedelta(seconds=seconds))
    elif "now" in body:
        at = body["now"]
        if at is not None and not isinstance(at, str):
            raise ControlError("now must be an ISO 8601 date and time or null")
        moto_ext.set_clock(None if at is None else datetime.fromisoformat(at))
    else:
        raise ControlError('the body is {"now": "<ISO 8601>" | null} or {"advance_seconds": N}')
    return {"now": moto_ext.now().isoformat()}


ROUTES: Final[dict[str, Callable[[dict[str, Any]], dict[str, Any]]]] = {
    NEW_STATE_PATH: _new_state,
    COMPLETE_PATH: _complete,
    FAIL_PATH: _fail,
    CLOCK_PATH: _clock,
}


def _json(status: int, answer: dict[str, Any]) -> Response:
    return Response(json.dumps(answer), status=status, mimetype="application/json")


def _body(request: Request) -> dict[str, Any]:
    body = json.loads(request.get_data(as_text=True) or "{}")
    if not isinstance(body, dict):
        raise ControlError("the body is a JSON object")
    return body


def control(request: Request) -> Response:
    """Answer a request to a control endpoint."""
    route = ROUTES.get(request.path)
    if route is None:
        return _json(404, {"error": f"no control endpoint {request.path}"})
    if request.method != "POST":
        return _json(405, {"error": "control endpoints answer POST"})
    try:
        return _json(200, route(_body(request)))
    except ControlError as error:
        return _json(error.status, {"error": str(error)})
    except ValueError as error:  # malformed JSON, a date or a state that does not parse
        return _json(400, {"error": str(error)})


class ExtendedApplication(DomainDispatcherApplication):
    """moto's WSGI application, which also answers the control endpoints; one request at a time."""

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        with ONE_REQUEST_AT_A_TIME:
            if str(environ.get("PATH_INFO", "")).startswith(CONTROL_PREFIX):
                answer = control(Request(environ))(environ, start_response)
            else:
                answer = super().__call__(environ, start_response)
            # the body too: a lazy one would be made after the lock is released
            try:
                return list(answer)
            finally:
                close = getattr(answer, "close", None)
                if close is not None:
                    close()


def main(argv: list[str] | None = None) -> None:
    """moto.server's main, on the extended application."""
    moto_ext.install()
    # main() builds its application from this module global
    setattr(moto.server, "DomainDispatcherApplication", ExtendedApplication)  # noqa: B010
    moto.server.main(argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()
