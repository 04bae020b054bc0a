# `terraform test` suite for modules/member's input validation: one run per validation rule, each with a
# value the rule must refuse (expect_failures), plus a run with valid inputs. The provider is mocked.
#
#   terraform test   (run from modules/member; tests/terraform/test_member_tftest.py does it)

mock_provider "aws" {
  mock_data "aws_partition" {
    defaults = {
      partition = "aws"
    }
  }
  mock_data "aws_caller_identity" {
    defaults = {
      account_id = "111111111111"
    }
  }
  mock_data "aws_service" {
    defaults = {
      region = "eu-west-1"
    }
  }
  mock_data "aws_iam_policy_document" {
    defaults = {
      json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
    }
  }
}

variables {
  central_account_id      = "123456789012"
  central_lambda_role_arn = "arn:aws:iam::123456789012:role/ec2-isolation-lambda"
}

run "valid_inputs" {
  command = plan

  variables {
    central_region  = "us-east-1"
    external_id     = "ir-2026"
    organization_id = "o-a1b2c3d4e5"
    regions         = ["eu-west-1", "us-east-1"]
    tags            = { Team = "incident-response" }
  }

  assert {
    condition     = aws_cloudwatch_event_target.forward.arn == "arn:aws:events:us-east-1:123456789012:event-bus/default"
    error_message = "The target is the central account's default bus in the central region."
  }

  assert {
    condition     = length(aws_iam_role.executor) == 1 && aws_iam_role.executor[0].name == "ec2-isolation-executor"
    error_message = "create_iam (default) creates the executor role, named by convention."
  }

  assert {
    condition     = module.isolation_target.iam != null
    error_message = "create_iam (default) creates the isolation role and instance profile (modules/isolation-target)."
  }
}

run "no_iam_in_a_secondary_region" {
  command = plan
  variables { create_iam = false }

  assert {
    condition     = length(aws_iam_role.executor) + length(aws_iam_role.forwarder) == 0 && module.isolation_target.iam == null
    error_message = "create_iam = false creates no IAM resource (nor does modules/isolation-target)."
  }
}

run "name_with_invalid_characters" {
  command = plan
  variables { name = "ec2 isolation!" }
  expect_failures = [var.name]
}

run "central_account_id_not_12_digits" {
  command = plan
  variables { central_account_id = "12345" }
  expect_failures = [var.central_account_id]
}

run "central_region_not_a_region" {
  command = plan
  variables { central_region = "Europe" }
  expect_failures = [var.central_region]
}

run "central_event_bus_not_an_arn" {
  command = plan
  variables { central_event_bus_arn = "default" }
  expect_failures = [var.central_event_bus_arn]
}

run "central_lambda_role_not_a_role_arn" {
  command = plan
  variables { central_lambda_role_arn = "arn:aws:iam::123456789012:user/someone" }
  expect_failures = [var.central_lambda_role_arn]
}

run "tag_key_reserved_prefix" {
  command = plan
  variables { isolation_tag_key = "aws:isolation" }
  expect_failures = [var.isolation_tag_key]
}

run "tag_value_empty" {
  command = plan
  variables { isolation_tag_value = "" }
  expect_failures = [var.isolation_tag_value]
}

run "release_value_with_invalid_characters" {
  command = plan
  variables { release_tag_value = "Release!" }
  expect_failures = [var.release_tag_value]
}

run "external_id_too_short" {
  command = plan
  variables { external_id = "x" }
  expect_failures = [var.external_id]
}

run "organization_id_without_prefix" {
  command = plan
  variables { organization_id = "a1b2c3d4e5" }
  expect_failures = [var.organization_id]
}

run "regions_empty" {
  command = plan
  variables { regions = [] }
  expect_failures = [var.regions]
}

run "auto_scaling_action_unknown" {
  command = plan
  variables { isolation_steps = { auto_scaling_action = "terminate" } }
  expect_failures = [var.isolation_steps]
}

run "release_role_path_without_slashes" {
  command = plan
  variables { isolation_steps = { release_role_path = "workloads" } }
  expect_failures = [var.isolation_steps]
}

run "retry_attempts_above_185" {
  command = plan
  variables { event_target_maximum_retry_attempts = 186 }
  expect_failures = [var.event_target_maximum_retry_attempts]
}

run "iam_path_without_slashes" {
  command = plan
  variables { iam_role_path = "security" }
  expect_failures = [var.iam_role_path]
}

run "permissions_boundary_not_a_policy_arn" {
  command = plan
  variables { permissions_boundary_arn = "boundary" }
  expect_failures = [var.permissions_boundary_arn]
}

run "tag_key_aws_prefix" {
  command = plan
  variables { tags = { "aws:owner" = "x" } }
  expect_failures = [var.tags]
}

run "evidence_custody_creates_the_regions_key" {
  command = plan
  variables {
    evidence_custody         = true
    evidence_source_key_arns = ["arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"]
  }

  assert {
    condition     = length(module.evidence_key) == 1 && module.evidence_key[0].alias == "alias/ec2-isolation-evidence"
    error_message = "evidence_custody creates this region's evidence key (modules/evidence-key: rotated, its own suite) under the alias the central function finds it by."
  }

  assert {
    condition     = length(aws_iam_policy.executor_evidence) == 1
    error_message = "The executor role (create_iam) gets the evidence statements."
  }
}

run "no_evidence_key_without_custody" {
  command = plan

  assert {
    condition     = length(module.evidence_key) == 0
    error_message = "Without evidence_custody, no key is created."
  }
}

run "evidence_source_key_given_as_an_alias" {
  command = plan
  variables {
    evidence_custody         = true
    evidence_source_key_arns = ["alias/ebs-volumes"]
  }
  expect_failures = [var.evidence_source_key_arns]
}
