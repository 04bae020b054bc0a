"""A local AWS emulator (a moto server in a subprocess) for end-to-end tests and the demo.

    with Emulator() as emulator:          # moto server on 127.0.0.1:<free port>, answering
        ec2 = emulator.session().client("ec2")   # every client of this session talks to the emulator
        ...                               # terraform with endpoints -> emulator.url, boto3, ...
    # the server's whole process group is gone here, also after an error or Ctrl-C

The server only ever listens on 127.0.0.1. Fake credentials and the `FAKE_REGION` of `tools.tfcli` are
used throughout, so nothing can reach a real AWS account: `Emulator.session()` is a boto3 session whose
profile (in a private config file) sets ``endpoint_url`` to the emulator for every service.
Readiness is polled (with a deadline), never slept for.

The server is moto's with `tools.moto_ext` installed (`tools.moto_server`): EBS snapshot lock, copies of
snapshots another account shared, and snapshots that stay pending until a test completes them
(`Emulator.set_new_snapshot_state`, `Emulator.complete_snapshots`, `Emulator.set_clock`).

`Deployment` applies a Terraform configuration of this repository (default: examples/basic) to the
emulator from a temporary copy, and destroys it again.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Final

import boto3
import botocore.session

from tools.tfcli import (
    ENDPOINT_SERVICES,
    FAKE_ACCESS_KEY,
    FAKE_ACCOUNT_ID,
    FAKE_REGION,
    FAKE_SECRET_KEY,
    REPO_ROOT,
    TerraformError,
    copy_module_tree,
    run_terraform,
    terraform_env,
    write_provider_override,
)

HOST: Final = "127.0.0.1"
#: moto's own API: answers as soon as the server is up, changes nothing
READY_PATH: Final = "/moto-api/"
#: moto's server with the extension and its control endpoints (tools/moto_server.py)
SERVER_MODULE: Final = "tools.moto_server"
PROFILE: Final = "aws-emulator"
DEFAULT_START_TIMEOUT: Final = 60.0
DEFAULT_STOP_TIMEOUT: Final = 10.0
_PR_SET_PDEATHSIG: Final = 1
#: a request line of the server's log answered with a 5xx
_SERVER_ERROR: Final = re.compile(r'" 5\d\d ')
_ANSI: Final = re.compile(r"\x1b\[[0-9;]*m")
#: werkzeug's start-up line, which has the port the kernel chose for port 0
_RUNNING_ON: Final = re.compile(r"Running on http://127\.0\.0\.1:(?P<port>\d+)")
#: the role `Emulator.session` assumes in another account (examples/organization's default deployment role)
MEMBER_DEPLOYMENT_ROLE: Final = "OrganizationAccountAccessRole"


class EmulatorError(RuntimeError):
    """The emulator could not be started, or died."""


def fake_aws_environment(endpoint_url: str, region: str = FAKE_REGION) -> dict[str, str]:
    """Environment variables that point an AWS SDK at ``endpoint_url`` with fake credentials only."""
    return {
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_ACCESS_KEY_ID": FAKE_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": FAKE_SECRET_KEY,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_EC2_METADATA_DISABLED": "true",
        # No shared config or credentials file of the user can add a profile, a role or an endpoint.
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }


def _server_environment(region: str) -> dict[str, str]:
    """The server's environment: this one without any AWS setting, plus fake credentials."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    env.update(fake_aws_environment("", region))
    del env["AWS_ENDPOINT_URL"]
    return env


def _die_with_parent() -> None:
    """In the server process (Linux): get SIGTERM when the parent dies, even by SIGKILL."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class Emulator:
    """A moto server subprocess on 127.0.0.1, in its own process group. Use as a context manager.

    By default the server binds port 0, so the kernel picks a free port with no window for another
    process to take it, and the port is read from the server's own start-up line; `url` is known once
    `start` has returned. ``port`` binds a fixed port instead.
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        region: str = FAKE_REGION,
        start_timeout: float = DEFAULT_START_TIMEOUT,
    ) -> None:
        self._requested_port = port
        self.port: int | None = port
        self.region = region
        self.account_id = FAKE_ACCOUNT_ID
        self.start_timeout = start_timeout
        #: private directory: the server's log and the AWS config file of `session()`
        self.directory = Path(tempfile.mkdtemp(prefix="aws-emulator-"))
        self.log_path = self.directory / "moto-server.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    # ---- address --------------------------------------------------------------------------------

    @property
    def host(self) -> str:
        return HOST

    @property
    def url(self) -> str:
        """The endpoint URL of every emulated service, e.g. ``http://127.0.0.1:53121``."""
        if self.port is None:
            raise EmulatorError("the emulator's port is known once it has started")
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    # ---- lifecycle ------------------------------------------------------------------------------

    def start(self) -> Emulator:
        """Start the server and return once it answers HTTP; `EmulatorError` when it does not."""
        if self._process is not None:
            raise EmulatorError(f"the emulator is already started (pid {self._process.pid})")
        self.port = self._requested_port
        self._spawn()
        try:
            self._wait_until_ready()
        except BaseException:  # also Ctrl-C while waiting: never leave the server behind
            self.stop()
            raise
        return self

    def _spawn(self) -> None:
        self._log = self.log_path.open("ab")
        port = 0 if self._requested_port is None else self._requested_port
        command = [sys.executable, "-m", SERVER_MODULE, "-H", HOST, "-p", str(port)]
        self._process = subprocess.Popen(  # noqa: S603 - fixed argument list, no shell
            command,
            cwd=REPO_ROOT,  # where ``-m tools.moto_server`` is found
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            # Own process group (and session): killed as a whole, and a Ctrl-C in the terminal reaches
            # only our process, whose cleanup then stops the server.
            start_new_session=True,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - only calls prctl(2), async-signal-safe
            env=_server_environment(self.region),
        )
        atexit.register(self.stop)

    def _bound_port(self) -> int | None:
        """The port in the server's start-up line (``Running on http://127.0.0.1:PORT``), once written."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
        found = _RUNNING_ON.search(text)
        return int(found["port"]) if found else None

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + READY_PATH, timeout=2) as response:  # noqa: S310 - our URL
                return bool(response.status == 200)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        delay = 0.02
        while True:
            assert self._process is not None
            if self._process.poll() is not None:
                raise EmulatorError(
                    f"the moto server exited with {self._process.returncode} before it answered\n"
                    f"{self.log_tail()}"
                )
            if self.port is None:
                self.port = self._bound_port()
            if self.port is not None and self._answers():
                return
            if time.monotonic() >= deadline:
                raise EmulatorError(
                    f"the moto server did not answer within {self.start_timeout:.0f}s\n{self.log_tail()}"
                )
            # Polling interval of the readiness check (not a synchronisation sleep: the loop has a deadline).
            time.sleep(delay)
            delay = min(delay * 2, 0.25)

    def stop(self, timeout: float = DEFAULT_STOP_TIMEOUT) -> None:
        """Stop the server's whole process group (SIGTERM, then SIGKILL). Idempotent."""
        process, self._process = self._process, None
        atexit.unregister(self.stop)
        if process is not None:
            if process.poll() is None:
                self._signal_group(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    self._signal_group(process.pid, signal.SIGKILL)
                    process.wait(timeout=timeout)
            # Children the server may have started (it starts none today) go with the group.
            self._signal_group(process.pid, signal.SIGKILL)
        if self._log is not None:
            self._log.close()
            self._log = None

    @staticmethod
    def _signal_group(pgid: int, signum: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signum)

    def close(self) -> None:
        """Stop the server and remove its private directory (log, AWS config)."""
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> Emulator:
        try:
            return self.start()
        except BaseException:
            self.close()  # __exit__ does not run when __enter__ fails
            raise

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # ---- clients --------------------------------------------------------------------------------

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of the server's output (for error messages)."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no moto server log)"
        return "--- moto server log (tail) ---\n" + "\n".join(text.splitlines()[-lines:])

    def server_errors(self, lines: int = 80) -> str:
        """What the server answered with a 5xx, and the tracebacks it logged: for the message of a failed
        ``terraform`` run, whose provider retries such an answer (a create the server had carried out
        before it failed then finds its own resource, "already exists")."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no moto server log)"
        found: list[str] = []
        in_traceback = False
        for line in _ANSI.sub("", text).splitlines():
            if line.startswith("Traceback (most recent call last)"):
                in_traceback = True
            if in_traceback or _SERVER_ERROR.search(line):
                found.append(line)
            if (
                in_traceback
                and line
                and not line.startswith((" ", "Traceback", "During handling", "The above"))
            ):
                in_traceback = False  # the exception's own line ends the traceback
        if not found:
            return "--- moto server: no 5xx answer, no traceback ---"
        return "--- moto server: 5xx answers and tracebacks (tail) ---\n" + "\n".join(found[-lines:])

    def terraform(
        self,
        args: Sequence[str],
        *,
        cwd: Path,
        env: Mapping[str, str],
        timeout: float = 600,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """``terraform <args>`` against this emulator (`tools.tfcli.run_terraform`); a failure also says
        what the server answered with a 5xx (`server_errors`)."""
        try:
            return run_terraform(args, cwd=cwd, env=env, timeout=timeout, check=check)
        except TerraformError as error:
            raise TerraformError(f"{error}\n{self.server_errors()}") from error

    def session(self, *, account: str | None = None, region: str | None = None) -> boto3.session.Session:
        """A boto3 session whose clients all talk to the emulator: with fake credentials of the emulator's
        own account, or (``account``) of another account.

        Its profile, in a config file of its own, sets ``endpoint_url`` (botocore's configured endpoint
        URLs) and the region (``region``, default the emulator's); the user's config and credentials files
        are not read. Only an ``AWS_ENDPOINT_URL*`` variable in this process's environment would take
        precedence.

        moto keeps accounts apart by credentials: for another ``account``, the session holds the
        credentials the emulator's STS hands out for `MEMBER_DEPLOYMENT_ROLE` of that account (as
        Terraform's ``assume_role`` gets them in examples/organization), so everything it does happens
        in that account.
        """
        region = region or self.region
        config = self.directory / f"aws-config-{region}"
        config.write_text(
            f"[profile {PROFILE}]\nregion = {region}\nendpoint_url = {self.url}\n", encoding="utf-8"
        )
        core = botocore.session.Session(profile=PROFILE)
        core.set_config_variable("config_file", str(config))
        core.set_config_variable("credentials_file", os.devnull)
        core.set_credentials(FAKE_ACCESS_KEY, FAKE_SECRET_KEY)
        session = boto3.session.Session(botocore_session=core)
        if account is not None and account != self.account_id:
            assumed = session.client("sts").assume_role(
                RoleArn=f"arn:aws:iam::{account}:role/{MEMBER_DEPLOYMENT_ROLE}", RoleSessionName="tests"
            )["Credentials"]
            core.set_credentials(assumed["AccessKeyId"], assumed["SecretAccessKey"], assumed["SessionToken"])
            assumed_account = session.client("sts").get_caller_identity()["Account"]
            if assumed_account != account:
                raise EmulatorError(
                    f"the emulator's STS handed out credentials of {assumed_account}, not {account}"
                )
        return session

    def environment(self) -> dict[str, str]:
        """Environment variables for a process whose AWS SDK must talk to this emulator only."""
        return fake_aws_environment(self.url, self.region)

    # ---- what the extension emulates (tools/moto_ext.py), driven over HTTP --------------------------

    def set_new_snapshot_state(self, state: str) -> None:
        """Snapshots created from now on (CreateSnapshot, CreateSnapshots, CopySnapshot) start ``pending``
        (until `complete_snapshots`) or ``completed`` (moto's default)."""
        self._control("/moto-ext/snapshots/new-state", {"state": state})

    def complete_snapshots(self, ids: list[str] | None = None) -> list[str]:
        """Pending snapshots (``ids``, or all of every account) to ``completed``; the ids moved."""
        moved: list[str] = self._control("/moto-ext/snapshots/complete", {"snapshot_ids": ids})[
            "snapshot_ids"
        ]
        return moved

    def fail_snapshots(self, ids: list[str]) -> list[str]:
        """Pending snapshots to ``error`` (a lock taken while pending is canceled); the ids moved."""
        moved: list[str] = self._control("/moto-ext/snapshots/fail", {"snapshot_ids": ids})["snapshot_ids"]
        return moved

    def set_clock(self, now: datetime | None) -> datetime:
        """Fix the emulator's clock (snapshot locks) at ``now``, or back to real time (None)."""
        answer = self._control("/moto-ext/clock", {"now": None if now is None else now.isoformat()})
        return datetime.fromisoformat(answer["now"])

    def advance_clock(self, delta: timedelta) -> datetime:
        """Move the emulator's clock on by ``delta`` (and keep it fixed there); the new time."""
        answer = self._control("/moto-ext/clock", {"advance_seconds": delta.total_seconds()})
        return datetime.fromisoformat(answer["now"])

    def _control(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(  # noqa: S310 - our own URL
            self.url + path,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - our own URL
                answer: dict[str, Any] = json.loads(response.read())
        except urllib.error.HTTPError as error:
            raise EmulatorError(
                f"{path}: HTTP {error.code}: {error.read().decode(errors='replace')}"
            ) from error
        return answer


# --------------------------------------------------------------------------------------------------
# A Terraform configuration of this repository, applied to the emulator
# --------------------------------------------------------------------------------------------------

EXAMPLE: Final = Path("examples") / "basic"


class Deployment:
    """A configuration of this repository (default: examples/basic) applied to an `Emulator`.

    Everything happens in a temporary copy of the repository (`tfcli.copy_module_tree`), into which a
    provider override sends every service's API calls to the emulator (`tfcli.write_provider_override`)
    with fake credentials; Terraform runs offline (`tfcli.terraform_env`: CLI config with the local
    provider mirror). As a context manager, whatever was applied is destroyed on exit (best effort when
    leaving on an error; not with ``destroy_on_exit=False``, for an emulator that is discarded anyway) and
    the copy is removed. The copy is private to this object, so Terraform's state lock is not used: a
    terraform process killed by Ctrl-C cannot leave a lock that would stop the clean-up's ``destroy``.
    """

    def __init__(
        self,
        emulator: Emulator,
        configuration: Path = EXAMPLE,
        *,
        variables: Mapping[str, str] | None = None,
        timeout: float = 600,
        destroy_on_exit: bool = True,
    ) -> None:
        self.emulator = emulator
        self.destroy_on_exit = destroy_on_exit
        self.configuration = configuration
        self.variables = dict(variables or {})
        self.timeout = timeout
        self.root = Path(tempfile.mkdtemp(prefix="ec2-isolation-deployment-"))
        self.module = copy_module_tree(self.root / "module")
        self.directory = self.module / configuration
        self.env = terraform_env(self.root / "cli", region=emulator.region)
        self.override = write_provider_override(
            self.directory, endpoint_url=emulator.url, services=ENDPOINT_SERVICES, region=emulator.region
        )
        self.outputs: dict[str, Any] = {}
        self.applied = False
        self.destroyed = False

    def terraform(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``terraform <args>`` in the configuration's copy; a failure says what the emulator's server
        answered with a 5xx (`Emulator.terraform`)."""
        return self.emulator.terraform(
            args, cwd=self.directory, env=self.env, timeout=self.timeout, check=check
        )

    def _var_args(self) -> list[str]:
        return [f"-var={name}={value}" for name, value in self.variables.items()]

    def apply(self) -> dict[str, Any]:
        """``init`` and ``apply``; returns (and keeps in `outputs`) the root outputs' values."""
        self.terraform("init", "-backend=false", "-input=false")
        self.applied = True  # from here on, something may exist that `destroy` must remove
        self.terraform("apply", "-auto-approve", "-input=false", "-lock=false", *self._var_args())
        shown = self.terraform("output", "-json")
        self.outputs = {name: output["value"] for name, output in json.loads(shown.stdout).items()}
        return self.outputs

    def destroy(self) -> subprocess.CompletedProcess[str]:
        """``terraform destroy``; `TerraformError` when it fails.

        Without a refresh: the state is what this object applied, and nothing changes the resources
        Terraform manages behind its back here (the function creates groups, tags and records of its
        own, none of them in the state). The refresh would read every resource back through every
        provider first: half the destroy's time for examples/organization's five providers.
        """
        result = self.terraform(
            "destroy", "-auto-approve", "-input=false", "-lock=false", "-refresh=false", *self._var_args()
        )
        self.destroyed = True
        return result

    def state_addresses(self) -> list[str]:
        """The resource addresses in the Terraform state (empty after a destroy)."""
        listed = self.terraform("state", "list", check=False)
        return [line for line in listed.stdout.splitlines() if line.strip()]

    def close(self, *, destroy: bool | None = None) -> None:
        """Destroy what was applied (if not done yet, and ``destroy``: by default `destroy_on_exit`) and
        remove the copy."""
        if destroy is None:
            destroy = self.destroy_on_exit
        try:
            if destroy and self.applied and not self.destroyed and self.emulator.running:
                self.destroy()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Deployment:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
            return
        # Leaving on an error: clean up as far as possible, but report the original error.
        with contextlib.suppress(TerraformError):
            self.close()
