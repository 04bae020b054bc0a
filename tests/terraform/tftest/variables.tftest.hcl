# `terraform test` suite for the module's input validation: one run per validation rule, each with a
# value the rule must refuse (expect_failures), plus a run with the defaults and one with every input
# set to a valid non-default value. The provider is mocked: no credentials, no network.
#
#   terraform test -test-directory=tests/terraform/tftest   (run from the module root; pytest does it)

mock_provider "aws" {
  mock_data "aws_partition" {
    defaults = {
      partition = "aws"
    }
  }
  mock_data "aws_caller_identity" {
    defaults = {
      account_id = "123456789012"
    }
  }
  mock_data "aws_service" {
    defaults = {
      region = "us-east-1"
    }
  }
  mock_data "aws_iam_policy_document" {
    defaults = {
      json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
    }
  }
}

run "defaults_are_valid" {
  command = plan

  assert {
    condition     = aws_lambda_function.this.function_name == "ec2-isolation"
    error_message = "The default name is ec2-isolation."
  }
}

run "every_input_set_to_a_valid_value" {
  command = plan

  variables {
    name                          = "ir_quarantine-2"
    isolation_tag_key             = "Security Isolation/2026:v1"
    isolation_tag_value           = "Now please"
    release_tag_value             = "Lift: done/2026"
    release_role_path             = "/workloads/web/"
    dry_run                       = true
    isolation_security_group_name = "quarantine (no traffic)"
    log_retention_in_days         = 3653
    log_kms_key_arn               = "arn:aws-us-gov:kms:us-gov-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    log_level                     = "DEBUG"
    lambda_timeout                = 900
    lambda_memory_size            = 10240
    lambda_architecture           = "x86_64"
    iam_role_path                 = "/security/ir/"
    permissions_boundary_arn      = "arn:aws:iam::aws:policy/PowerUserAccess"
    tags                          = { Team = "incident-response", "cost-center" = "" }
  }

  assert {
    condition     = aws_cloudwatch_log_group.this.retention_in_days == 3653
    error_message = "The retention reaches the log group."
  }
}

run "name_with_invalid_characters" {
  command = plan
  variables { name = "ec2 isolation!" }
  expect_failures = [var.name]
}

run "name_too_long" {
  command = plan
  variables { name = "a-name-that-is-much-too-long-for-iam-roles-0" }
  expect_failures = [var.name]
}

run "tag_key_too_long" {
  command = plan
  variables { isolation_tag_key = "k123456789k123456789k123456789k123456789k123456789k123456789k123456789k123456789k123456789k1234567" }
  expect_failures = [var.isolation_tag_key]
}

run "tag_key_reserved_prefix" {
  command = plan
  variables { isolation_tag_key = "AWS:isolation" }
  expect_failures = [var.isolation_tag_key]
}

run "tag_key_invalid_characters" {
  command = plan
  variables { isolation_tag_key = "Isolation*" }
  expect_failures = [var.isolation_tag_key]
}

run "tag_value_empty" {
  command = plan
  variables { isolation_tag_value = "" }
  expect_failures = [var.isolation_tag_value]
}

run "tag_value_invalid_characters" {
  command = plan
  variables { isolation_tag_value = "Isolate!" }
  expect_failures = [var.isolation_tag_value]
}

run "security_group_name_like_an_id" {
  command = plan
  variables { isolation_security_group_name = "sg-isolation" }
  expect_failures = [var.isolation_security_group_name]
}

run "log_retention_not_offered_by_cloudwatch" {
  command = plan
  variables { log_retention_in_days = 2 }
  expect_failures = [var.log_retention_in_days]
}

run "log_key_given_as_an_alias" {
  command = plan
  variables { log_kms_key_arn = "alias/logs" }
  expect_failures = [var.log_kms_key_arn]
}

run "log_level_unknown" {
  command = plan
  variables { log_level = "TRACE" }
  expect_failures = [var.log_level]
}

run "lambda_timeout_too_short" {
  command = plan
  variables { lambda_timeout = 5 }
  expect_failures = [var.lambda_timeout]
}

run "lambda_memory_too_large" {
  command = plan
  variables { lambda_memory_size = 10241 }
  expect_failures = [var.lambda_memory_size]
}

run "lambda_architecture_unknown" {
  command = plan
  variables { lambda_architecture = "arm32" }
  expect_failures = [var.lambda_architecture]
}

run "iam_path_without_trailing_slash" {
  command = plan
  variables { iam_role_path = "/security" }
  expect_failures = [var.iam_role_path]
}

run "permissions_boundary_not_a_policy" {
  command = plan
  variables { permissions_boundary_arn = "arn:aws:iam::123456789012:role/boundary" }
  expect_failures = [var.permissions_boundary_arn]
}

run "too_many_tags" {
  command = plan
  variables {
    tags = { for i in range(50) : "tag-${i}" => "v" }
  }
  expect_failures = [var.tags]
}

run "tag_key_with_reserved_prefix" {
  command = plan
  variables { tags = { "aws:team" = "x" } }
  expect_failures = [var.tags]
}

run "tags_too_large_for_the_lambda_environment" {
  command = plan
  variables {
    tags = { for i in range(12) : "tag-${i}" => join("", [for j in range(220) : "v"]) }
  }
  expect_failures = [var.tags]
}

run "untrack_wait_too_long" {
  command = plan
  variables { untrack_wait_seconds = 301 }
  expect_failures = [var.untrack_wait_seconds]
}

run "revocation_role_path_without_leading_slash" {
  command = plan
  variables { credential_revocation_role_path = "workloads/" }
  expect_failures = [var.credential_revocation_role_path]
}

run "auto_scaling_action_unknown" {
  command = plan
  variables { auto_scaling_action = "terminate" }
  expect_failures = [var.auto_scaling_action]
}

run "untrack_wait_longer_than_the_function_may_run" {
  command = plan
  variables {
    lambda_timeout       = 60
    untrack_wait_seconds = 30
  }
  expect_failures = [aws_lambda_function.this]
}

run "a_short_timeout_is_fine_without_untracking" {
  command = plan
  variables {
    lambda_timeout      = 30
    untrack_connections = false
  }
}

run "release_value_empty" {
  command = plan
  variables { release_tag_value = "" }
  expect_failures = [var.release_tag_value]
}

run "release_value_invalid_characters" {
  command = plan
  variables { release_tag_value = "Release!" }
  expect_failures = [var.release_tag_value]
}

run "release_value_equal_to_the_isolation_value" {
  command = plan
  variables {
    isolation_tag_value = "Toggle"
    release_tag_value   = "Toggle"
  }
  expect_failures = [aws_cloudwatch_event_rule.this]
}

run "release_role_path_without_slashes" {
  command = plan
  variables { release_role_path = "workloads" }
  expect_failures = [var.release_role_path]
}

# ---- notifications and result events --------------------------------------------------------------

run "a_created_topic_is_encrypted_with_the_sns_managed_key_by_default" {
  command = plan
  variables { create_sns_topic = true }
  # ...which CloudWatch alarms cannot publish to: the module warns (failure.tf).
  expect_failures = [check.alarms_can_notify_the_created_topic]

  assert {
    condition     = aws_sns_topic.this[0].kms_master_key_id == "alias/aws/sns"
    error_message = "The created topic is encrypted with SNS's AWS managed key by default."
  }

  assert {
    condition     = aws_lambda_function.this.environment[0].variables["SNS_TOPIC_ARN"] == "arn:aws:sns:us-east-1:123456789012:ec2-isolation"
    error_message = "The function is told the created topic's ARN."
  }
}

run "an_existing_topic_is_given_to_the_function" {
  command = plan
  variables {
    sns_topic_arn         = "arn:aws-us-gov:sns:us-gov-west-1:123456789012:security_alerts-2"
    sns_topic_kms_key_arn = "arn:aws-us-gov:kms:us-gov-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    sns_kms_master_key_id = "mrk-1234abcd12ab34cd56ef1234567890ab"
    result_events         = false
    result_event_source   = "com.example/isolation_v2"
  }

  assert {
    condition     = length(aws_sns_topic.this) == 0
    error_message = "No topic is created for an existing one."
  }

  assert {
    condition     = aws_lambda_function.this.environment[0].variables["SNS_TOPIC_ARN"] == "arn:aws-us-gov:sns:us-gov-west-1:123456789012:security_alerts-2"
    error_message = "The function is told the existing topic's ARN."
  }

  assert {
    condition     = aws_lambda_function.this.environment[0].variables["RESULT_EVENT_SOURCE"] == ""
    error_message = "With result events off, the function puts none."
  }

  assert {
    condition     = output.sns_topic_arn == "arn:aws-us-gov:sns:us-gov-west-1:123456789012:security_alerts-2" && output.result_event_source == null
    error_message = "The outputs name the existing topic, and no source."
  }
}

run "a_topic_both_created_and_given" {
  command = plan
  variables {
    create_sns_topic = true
    sns_topic_arn    = "arn:aws:sns:us-east-1:123456789012:alerts"
  }
  # (the created topic has the SNS managed key: the alarms' check warns too)
  expect_failures = [aws_sns_topic.this, check.alarms_can_notify_the_created_topic]
}

run "sns_topic_arn_of_a_fifo_topic" {
  command = plan
  variables { sns_topic_arn = "arn:aws:sns:us-east-1:123456789012:alerts.fifo" }
  expect_failures = [var.sns_topic_arn]
}

run "sns_kms_master_key_id_not_a_key" {
  command = plan
  variables { sns_kms_master_key_id = "aws/sns" }
  expect_failures = [var.sns_kms_master_key_id]
}

run "sns_topic_kms_key_given_as_an_alias" {
  command = plan
  variables { sns_topic_kms_key_arn = "arn:aws:kms:us-east-1:123456789012:alias/sns" }
  expect_failures = [var.sns_topic_kms_key_arn]
}

run "result_event_source_with_a_space" {
  command = plan
  variables { result_event_source = "ec2 isolation" }
  expect_failures = [var.result_event_source]
}

run "result_event_source_reserved_for_aws" {
  command = plan
  variables { result_event_source = "AWS.ec2-isolation" }
  expect_failures = [var.result_event_source]
}

# ---- failure path ----------------------------------------------------------------------------------

run "failure_path_inputs_set_to_valid_values" {
  command = plan
  variables {
    reserved_concurrent_executions            = 1000
    lambda_maximum_retry_attempts             = 0
    lambda_maximum_event_age_in_seconds       = 21600
    event_target_maximum_retry_attempts       = 0
    event_target_maximum_event_age_in_seconds = 86400
    dead_letter_queue_kms_key_arn             = "arn:aws-us-gov:kms:us-gov-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    sns_topic_arn                             = "arn:aws:sns:us-east-1:123456789012:alerts"
    alarm_actions                             = ["arn:aws:sns:us-east-1:123456789012:on-call", "arn:aws-cn:sns:cn-north-1:123456789012:pager"]
  }

  assert {
    condition     = aws_lambda_function.this.reserved_concurrent_executions == 1000
    error_message = "The reserved concurrency reaches the function."
  }

  assert {
    condition     = aws_sqs_queue.dead_letter.kms_master_key_id == "arn:aws-us-gov:kms:us-gov-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    error_message = "A given key encrypts the queue."
  }

  assert {
    condition     = alltrue([for alarm in aws_cloudwatch_metric_alarm.this : toset(alarm.alarm_actions) == toset(["arn:aws:sns:us-east-1:123456789012:alerts", "arn:aws:sns:us-east-1:123456789012:on-call", "arn:aws-cn:sns:cn-north-1:123456789012:pager"])])
    error_message = "Every alarm notifies the existing topic and the given actions."
  }
}

run "no_reserved_concurrency" {
  command = plan
  variables { reserved_concurrent_executions = null }

  assert {
    condition     = coalesce(aws_lambda_function.this.reserved_concurrent_executions, -1) == -1
    error_message = "null reserves nothing (unset: the provider plans -1)."
  }
}

run "no_alarms" {
  command = plan
  variables { alarms_enabled = false }

  assert {
    condition     = length(aws_cloudwatch_metric_alarm.this) == 0 && output.alarm_names == {}
    error_message = "alarms_enabled = false creates no alarm."
  }
}

run "alarms_can_notify_a_topic_with_a_customer_managed_key" {
  command = plan
  variables {
    create_sns_topic      = true
    sns_kms_master_key_id = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
  }

  assert {
    condition     = alltrue([for alarm in aws_cloudwatch_metric_alarm.this : alarm.alarm_actions == toset(["arn:aws:sns:us-east-1:123456789012:ec2-isolation"])])
    error_message = "Every alarm notifies the created topic."
  }
}

run "reserved_concurrency_zero" {
  command = plan
  variables { reserved_concurrent_executions = 0 }
  expect_failures = [var.reserved_concurrent_executions]
}

run "lambda_retries_beyond_two" {
  command = plan
  variables { lambda_maximum_retry_attempts = 3 }
  expect_failures = [var.lambda_maximum_retry_attempts]
}

run "lambda_event_age_beyond_six_hours" {
  command = plan
  variables { lambda_maximum_event_age_in_seconds = 21601 }
  expect_failures = [var.lambda_maximum_event_age_in_seconds]
}

run "event_target_retries_beyond_185" {
  command = plan
  variables { event_target_maximum_retry_attempts = 186 }
  expect_failures = [var.event_target_maximum_retry_attempts]
}

run "event_target_event_age_under_a_minute" {
  command = plan
  variables { event_target_maximum_event_age_in_seconds = 59 }
  expect_failures = [var.event_target_maximum_event_age_in_seconds]
}

run "dead_letter_queue_key_given_as_an_alias" {
  command = plan
  variables { dead_letter_queue_kms_key_arn = "alias/aws/sqs" }
  expect_failures = [var.dead_letter_queue_kms_key_arn]
}

run "alarm_action_not_an_arn" {
  command = plan
  variables { alarm_actions = ["on-call"] }
  expect_failures = [var.alarm_actions]
}

run "guardduty_minimum_severity_below_guardduty_range" {
  command = plan
  variables { guardduty_minimum_severity = 0.5 }
  expect_failures = [var.guardduty_minimum_severity]
}

run "guardduty_finding_type_not_a_guardduty_type" {
  command = plan
  variables { guardduty_finding_types = ["UnauthorizedAccess:EC2/SSHBruteForce", "ssh brute force"] }
  expect_failures = [var.guardduty_finding_types]
}

run "security_hub_action_name_longer_than_20_characters" {
  command = plan
  variables { security_hub_action_name = "Isolate this instance now" }
  expect_failures = [var.security_hub_action_name]
}

run "security_hub_action_identifier_not_alphanumeric" {
  command = plan
  variables { security_hub_action_identifier = "isolate-instance" }
  expect_failures = [var.security_hub_action_identifier]
}

run "security_hub_action_description_empty" {
  command = plan
  variables { security_hub_action_description = "" }
  expect_failures = [var.security_hub_action_description]
}

# ---- permission model (analyst.tf) -------------------------------------------------------------------

run "tag_administrators_set_to_valid_patterns" {
  command = plan

  variables {
    tag_administrator_arns = [
      "arn:aws:iam::123456789012:role/incident-response/*",
      "arn:aws-us-gov:iam::*:role/SecurityAnalyst",
      "arn:aws:iam::123456789012:user/break-glass",
    ]
  }
}

run "tag_administrator_not_an_iam_principal_arn" {
  command = plan
  variables { tag_administrator_arns = ["arn:aws:sts::123456789012:assumed-role/analyst/alice"] }
  expect_failures = [var.tag_administrator_arns]
}

run "tag_administrators_too_long_for_the_scp" {
  command = plan
  variables { tag_administrator_arns = [for i in range(30) : "arn:aws:iam::123456789012:role/incident-response/analyst-${i}"] }
  expect_failures = [var.tag_administrator_arns]
}

run "member_account_id_not_12_digits" {
  command = plan
  variables { member_account_ids = ["111111111111", "12345"] }
  expect_failures = [var.member_account_ids]
}

run "organization_id_without_prefix" {
  command = plan
  variables { organization_id = "a1b2c3d4e5" }
  expect_failures = [var.organization_id]
}

run "executor_role_name_with_a_slash" {
  command = plan
  variables { executor_role_name = "security/executor" }
  expect_failures = [var.executor_role_name]
}

run "executor_external_id_too_short" {
  command = plan
  variables { executor_external_id = "x" }
  expect_failures = [var.executor_external_id]
}

run "organization_inputs_create_the_bus_policy_and_the_assume_grant" {
  command = plan
  variables {
    member_account_ids   = ["111111111111"]
    organization_id      = "o-a1b2c3d4e5"
    executor_external_id = "ir-2026"
  }

  assert {
    condition     = length(aws_cloudwatch_event_bus_policy.organization) == 1 && length(aws_iam_role_policy.assume_executor) == 1
    error_message = "The organization inputs create the bus policy and the assume grant."
  }

  assert {
    condition     = aws_lambda_function.this.environment[0].variables["MEMBER_ACCOUNT_IDS"] == "111111111111"
    error_message = "The member accounts reach the function."
  }
}

# ---- reconciler -------------------------------------------------------------------------------------

run "reconcile_schedule_not_a_schedule_expression" {
  command = plan
  variables { reconcile_schedule = "rate(1 minutes)" }
  expect_failures = [var.reconcile_schedule]
}

run "reconcile_full_schedule_not_a_schedule_expression" {
  command = plan
  variables { reconcile_full_schedule = "cron(0 3 * * ?)" }
  expect_failures = [var.reconcile_full_schedule]
}

run "reconcile_maximum_concurrency_below_two" {
  command = plan
  variables { reconcile_maximum_concurrency = 1 }
  expect_failures = [var.reconcile_maximum_concurrency]
}

run "reconcile_regions_malformed" {
  command = plan
  variables { reconcile_regions = ["eu-west-1", "Europe"] }
  expect_failures = [var.reconcile_regions]
}

run "reconcile_account_ids_malformed" {
  command = plan
  variables { reconcile_account_ids = ["1234"] }
  expect_failures = [var.reconcile_account_ids]
}

run "metrics_namespace_reserved" {
  command = plan
  variables { metrics_namespace = "AWS/Lambda" }
  expect_failures = [var.metrics_namespace]
}

run "reconcile_maximum_concurrency_not_below_the_reserved_concurrency" {
  command = plan
  variables {
    reserved_concurrent_executions = 5
    reconcile_maximum_concurrency  = 5
  }
  expect_failures = [aws_lambda_event_source_mapping.reconcile]
}

run "reconcile_account_ids_not_served" {
  command = plan
  variables {
    member_account_ids    = ["111111111111"]
    reconcile_account_ids = ["111111111111", "222222222222"]
  }
  expect_failures = [aws_lambda_function.this]
}

run "reconcile_account_ids_without_an_organization" {
  command = plan
  variables { reconcile_account_ids = ["111111111111"] }
  expect_failures = [aws_lambda_function.this]
}

run "reconcile_account_ids_of_an_organization" {
  command = plan
  variables {
    organization_id       = "o-a1b2c3d4e5"
    reconcile_account_ids = ["111111111111"]
  }

  assert {
    condition     = aws_lambda_function.this.environment[0].variables["RECONCILE_ACCOUNT_IDS"] == "111111111111"
    error_message = "With only organization_id, the listed accounts are swept."
  }
}

run "the_reconciler_switched_off" {
  command = plan
  variables {
    reconcile_schedule      = null
    reconcile_full_schedule = null
    reconcile_on_api_calls  = false
  }

  assert {
    condition     = length(aws_sqs_queue.reconcile) == 0 && length(aws_cloudwatch_event_rule.reconcile) == 0 && length(aws_cloudwatch_event_rule.api_call) == 0 && length(aws_cloudwatch_metric_alarm.drift_repaired) == 0
    error_message = "Without schedules and API calls, no reconciler resource is planned."
  }

  assert {
    condition     = aws_lambda_function.this.environment[0].variables["RECONCILE_QUEUE_URL"] == ""
    error_message = "The function is told there is no queue."
  }
}

# ---- Evidence (evidence.tf) ---------------------------------------------------------------------------

run "evidence_lock_in_compliance_mode_with_a_cooling_off_period" {
  command = plan
  variables {
    evidence_lock_mode           = "compliance"
    evidence_lock_duration_days  = 36500
    evidence_lock_cool_off_hours = 72
  }

  assert {
    condition     = aws_lambda_function.this.environment[0].variables["EVIDENCE_LOCK_MODE"] == "compliance" && aws_lambda_function.this.environment[0].variables["EVIDENCE_LOCK_DURATION_DAYS"] == "36500" && aws_lambda_function.this.environment[0].variables["EVIDENCE_LOCK_COOL_OFF_HOURS"] == "72"
    error_message = "The lock's mode, duration and cooling-off period reach the function."
  }
}

run "evidence_not_locked" {
  command = plan
  variables { evidence_lock_mode = null }

  assert {
    condition     = aws_lambda_function.this.environment[0].variables["EVIDENCE_LOCK_MODE"] == "" && length(aws_iam_policy.evidence) == 0
    error_message = "Without a lock mode, the function locks nothing and gets no evidence grant."
  }
}

run "evidence_lock_mode_unknown" {
  command = plan
  variables { evidence_lock_mode = "legal-hold" }
  expect_failures = [var.evidence_lock_mode]
}

run "evidence_lock_duration_beyond_100_years" {
  command = plan
  variables { evidence_lock_duration_days = 36501 }
  expect_failures = [var.evidence_lock_duration_days]
}

run "evidence_lock_cool_off_beyond_72_hours" {
  command = plan
  variables {
    evidence_lock_mode           = "compliance"
    evidence_lock_cool_off_hours = 73
  }
  expect_failures = [var.evidence_lock_cool_off_hours]
}

run "evidence_lock_cool_off_in_governance_mode" {
  command = plan
  variables { evidence_lock_cool_off_hours = 24 }
  expect_failures = [aws_lambda_function.this]
}

run "evidence_custody_of_an_organization" {
  command = plan
  variables {
    organization_id  = "o-a1b2c3d4e5"
    evidence_custody = true
  }

  assert {
    condition     = length(module.evidence_key) == 1 && module.evidence_key[0].alias == "alias/ec2-isolation-evidence" && aws_lambda_function.this.environment[0].variables["EVIDENCE_CUSTODY"] == "true"
    error_message = "Custody creates the evidence key (modules/evidence-key: rotated, its own suite) under its alias and tells the function."
  }
}

run "evidence_custody_without_member_accounts" {
  command = plan
  variables { evidence_custody = true }
  expect_failures = [aws_lambda_function.this]
}

run "evidence_custody_without_snapshots" {
  command = plan
  variables {
    member_account_ids = ["111111111111"]
    snapshot_volumes   = false
    evidence_custody   = true
  }
  expect_failures = [aws_lambda_function.this]
}

run "evidence_custody_without_the_reconciler" {
  command = plan
  variables {
    member_account_ids      = ["111111111111"]
    reconcile_schedule      = null
    reconcile_full_schedule = null
    evidence_custody        = true
  }
  expect_failures = [aws_lambda_function.this]
}
