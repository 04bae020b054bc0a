# `terraform test` suite for the module's input validation: a value every validation rule must refuse
# (expect_failures), plus a run with the defaults and one with every input set to a valid non-default
# value. The refused values of single inputs are planned together, one per input in each
# refused_values_* run (a plan each, not one per rule: the runs are what the suite's time goes on):
# expect_failures holds each of them to failing its own input's validation, and fails the run on any
# other error. The runs whose values need other inputs set, or that check more, stand alone. The provider
# is mocked: no credentials, no network.
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

# A refused value of each input (the comment names the rule it breaks), then a second and a third for the
# inputs with more rules: a variable's validation reads only that variable, so one value cannot make
# another input's rule fail.
run "refused_values_first" {
  command = plan

  variables {
    # name with invalid characters
    name = "ec2 isolation!"
    # tag key too long
    isolation_tag_key = "k123456789k123456789k123456789k123456789k123456789k123456789k123456789k123456789k123456789k1234567"
    # tag value empty
    isolation_tag_value = ""
    # security group name like an id
    isolation_security_group_name = "sg-isolation"
    # log retention not offered by cloudwatch
    log_retention_in_days = 2
    # log key given as an alias
    log_kms_key_arn = "alias/logs"
    # log level unknown
    log_level = "TRACE"
    # lambda timeout too short
    lambda_timeout = 5
    # lambda memory too large
    lambda_memory_size = 10241
    # lambda architecture unknown
    lambda_architecture = "arm32"
    # iam path without trailing slash
    iam_role_path = "/security"
    # permissions boundary not a policy
    permissions_boundary_arn = "arn:aws:iam::123456789012:role/boundary"
    # tag key with reserved prefix
    tags = { "aws:team" = "x" }
    # untrack wait too long
    untrack_wait_seconds = 301
    # revocation role path without leading slash
    credential_revocation_role_path = "workloads/"
    # auto scaling action unknown
    auto_scaling_action = "terminate"
    # release value empty
    release_tag_value = ""
    # release role path without slashes
    release_role_path = "workloads"
    # sns topic arn of a fifo topic
    sns_topic_arn = "arn:aws:sns:us-east-1:123456789012:alerts.fifo"
    # sns kms master key id not a key
    sns_kms_master_key_id = "aws/sns"
    # sns topic kms key given as an alias
    sns_topic_kms_key_arn = "arn:aws:kms:us-east-1:123456789012:alias/sns"
    # result event source with a space
    result_event_source = "ec2 isolation"
    # reserved concurrency zero
    reserved_concurrent_executions = 0
    # lambda retries beyond two
    lambda_maximum_retry_attempts = 3
    # lambda event age beyond six hours
    lambda_maximum_event_age_in_seconds = 21601
    # event target retries beyond 185
    event_target_maximum_retry_attempts = 186
    # event target event age under a minute
    event_target_maximum_event_age_in_seconds = 59
    # dead letter queue key given as an alias
    dead_letter_queue_kms_key_arn = "alias/aws/sqs"
    # alarm action not an arn
    alarm_actions = ["on-call"]
    # guardduty minimum severity below guardduty range
    guardduty_minimum_severity = 0.5
    # guardduty finding type not a guardduty type
    guardduty_finding_types = ["UnauthorizedAccess:EC2/SSHBruteForce", "ssh brute force"]
    # security hub action name longer than 20 characters
    security_hub_action_name = "Isolate this instance now"
    # security hub action identifier not alphanumeric
    security_hub_action_identifier = "isolate-instance"
    # security hub action description empty
    security_hub_action_description = ""
    # tag administrator not an iam principal arn
    tag_administrator_arns = ["arn:aws:sts::123456789012:assumed-role/analyst/alice"]
    # member account id not 12 digits
    member_account_ids = ["111111111111", "12345"]
    # organization id without prefix
    organization_id = "a1b2c3d4e5"
    # executor role name with a slash
    executor_role_name = "security/executor"
    # executor external id too short
    executor_external_id = "x"
    # reconcile schedule not a schedule expression
    reconcile_schedule = "rate(1 minutes)"
    # reconcile full schedule not a schedule expression
    reconcile_full_schedule = "cron(0 3 * * ?)"
    # reconcile maximum concurrency below two
    reconcile_maximum_concurrency = 1
    # reconcile regions malformed
    reconcile_regions = ["eu-west-1", "Europe"]
    # reconcile account ids malformed
    reconcile_account_ids = ["1234"]
    # metrics namespace reserved
    metrics_namespace = "AWS/Lambda"
    # evidence lock mode unknown
    evidence_lock_mode = "legal-hold"
    # evidence lock duration beyond 100 years
    evidence_lock_duration_days = 36501
  }

  expect_failures = [
    var.name,
    var.isolation_tag_key,
    var.isolation_tag_value,
    var.isolation_security_group_name,
    var.log_retention_in_days,
    var.log_kms_key_arn,
    var.log_level,
    var.lambda_timeout,
    var.lambda_memory_size,
    var.lambda_architecture,
    var.iam_role_path,
    var.permissions_boundary_arn,
    var.tags,
    var.untrack_wait_seconds,
    var.credential_revocation_role_path,
    var.auto_scaling_action,
    var.release_tag_value,
    var.release_role_path,
    var.sns_topic_arn,
    var.sns_kms_master_key_id,
    var.sns_topic_kms_key_arn,
    var.result_event_source,
    var.reserved_concurrent_executions,
    var.lambda_maximum_retry_attempts,
    var.lambda_maximum_event_age_in_seconds,
    var.event_target_maximum_retry_attempts,
    var.event_target_maximum_event_age_in_seconds,
    var.dead_letter_queue_kms_key_arn,
    var.alarm_actions,
    var.guardduty_minimum_severity,
    var.guardduty_finding_types,
    var.security_hub_action_name,
    var.security_hub_action_identifier,
    var.security_hub_action_description,
    var.tag_administrator_arns,
    var.member_account_ids,
    var.organization_id,
    var.executor_role_name,
    var.executor_external_id,
    var.reconcile_schedule,
    var.reconcile_full_schedule,
    var.reconcile_maximum_concurrency,
    var.reconcile_regions,
    var.reconcile_account_ids,
    var.metrics_namespace,
    var.evidence_lock_mode,
    var.evidence_lock_duration_days,
  ]
}

run "refused_values_second" {
  command = plan

  variables {
    # name too long
    name = "a-name-that-is-much-too-long-for-iam-roles-0"
    # tag key reserved prefix
    isolation_tag_key = "AWS:isolation"
    # tag value invalid characters
    isolation_tag_value = "Isolate!"
    # release value invalid characters
    release_tag_value = "Release!"
    # result event source reserved for aws
    result_event_source = "AWS.ec2-isolation"
    # tag administrators too long for the scp
    tag_administrator_arns = [for i in range(30) : "arn:aws:iam::123456789012:role/incident-response/analyst-${i}"]
  }

  expect_failures = [
    var.name,
    var.isolation_tag_key,
    var.isolation_tag_value,
    var.release_tag_value,
    var.result_event_source,
    var.tag_administrator_arns,
  ]
}

run "refused_values_third" {
  command = plan

  variables {
    # tag key invalid characters
    isolation_tag_key = "Isolation*"
  }

  expect_failures = [
    var.isolation_tag_key,
  ]
}

run "too_many_tags" {
  command = plan
  variables {
    tags = { for i in range(50) : "tag-${i}" => "v" }
  }
  expect_failures = [var.tags]
}

run "tags_too_large_for_the_lambda_environment" {
  command = plan
  variables {
    tags = { for i in range(12) : "tag-${i}" => join("", [for j in range(220) : "v"]) }
  }
  expect_failures = [var.tags]
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

run "release_value_equal_to_the_isolation_value" {
  command = plan
  variables {
    isolation_tag_value = "Toggle"
    release_tag_value   = "Toggle"
  }
  expect_failures = [aws_cloudwatch_event_rule.this]
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
