# `terraform test` suite for modules/member's input validation: a value every validation rule must refuse
# (expect_failures), plus a run with valid inputs. The refused values of single inputs are planned
# together, one per input in each refused_values_* run (the comment names the rule each breaks):
# expect_failures holds each to failing its own input's validation. The provider is mocked.
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

run "refused_values_first" {
  command = plan

  variables {
    # name with invalid characters
    name = "ec2 isolation!"
    # central account id not 12 digits
    central_account_id = "12345"
    # central region not a region
    central_region = "Europe"
    # central event bus not an arn
    central_event_bus_arn = "default"
    # central lambda role not a role arn
    central_lambda_role_arn = "arn:aws:iam::123456789012:user/someone"
    # tag key reserved prefix
    isolation_tag_key = "aws:isolation"
    # tag value empty
    isolation_tag_value = ""
    # release value with invalid characters
    release_tag_value = "Release!"
    # external id too short
    external_id = "x"
    # organization id without prefix
    organization_id = "a1b2c3d4e5"
    # regions empty
    regions = []
    # auto scaling action unknown
    isolation_steps = { auto_scaling_action = "terminate" }
    # retry attempts above 185
    event_target_maximum_retry_attempts = 186
    # iam path without slashes
    iam_role_path = "security"
    # permissions boundary not a policy arn
    permissions_boundary_arn = "boundary"
    # tag key aws prefix
    tags = { "aws:owner" = "x" }
  }

  expect_failures = [
    var.name,
    var.central_account_id,
    var.central_region,
    var.central_event_bus_arn,
    var.central_lambda_role_arn,
    var.isolation_tag_key,
    var.isolation_tag_value,
    var.release_tag_value,
    var.external_id,
    var.organization_id,
    var.regions,
    var.isolation_steps,
    var.event_target_maximum_retry_attempts,
    var.iam_role_path,
    var.permissions_boundary_arn,
    var.tags,
  ]
}

run "refused_values_second" {
  command = plan

  variables {
    # release role path without slashes
    isolation_steps = { release_role_path = "workloads" }
  }

  expect_failures = [
    var.isolation_steps,
  ]
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
