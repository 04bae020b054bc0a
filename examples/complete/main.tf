variable "region" {
  description = "AWS region to deploy the isolation automation to (it handles the instances of this region)."
  type        = string
  default     = "eu-west-1"
}

provider "aws" {
  region = var.region
}

# Every input of the module, set (tests/terraform/test_complete_example.py fails when one is missing).
# The ARNs of keys, topics, boundaries and roles are placeholders: replace 123456789012 and the names
# with your own.
module "ec2_isolation" {
  source = "../../"

  name                          = "ir-quarantine"
  isolation_tag_key             = "SecurityIsolation"
  isolation_tag_value           = "Isolate"
  release_tag_value             = "Release"
  release_role_path             = "/workloads/"
  dry_run                       = false
  isolation_security_group_name = "ir-quarantine-no-traffic"

  # Logs: one year, encrypted with a customer managed key (its policy must allow CloudWatch Logs).
  log_retention_in_days = 365
  log_kms_key_arn       = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
  log_level             = "INFO"

  lambda_timeout           = 180
  lambda_memory_size       = 512
  lambda_architecture      = "arm64"
  iam_role_path            = "/security/"
  permissions_boundary_arn = "arn:aws:iam::123456789012:policy/security-automation-boundary"

  tags = {
    Project     = "ec2-isolation"
    Environment = "example"
    Owner       = "security-operations"
  }

  # Containment depth: every step on.
  untrack_connections                     = true
  untrack_wait_seconds                    = 30
  revoke_credentials                      = true
  credential_revocation_role_path         = "/workloads/"
  protect_from_termination                = true
  snapshot_volumes                        = true
  auto_scaling_action                     = "standby"
  auto_scaling_decrement_desired_capacity = false
  deregister_from_target_groups           = true
  disassociate_elastic_ips                = true

  # Evidence: each snapshot locked for a year in governance mode (a principal allowed
  # ec2:UnlockSnapshot, which this module grants to nobody, could still unlock it). Compliance mode,
  # with a cooling-off period (evidence_lock_cool_off_hours, 1 to 72), makes the lock irreversible once
  # that period is over: nobody, the root user included, can delete the snapshots or shorten the lock, and
  # they are billed for the whole duration; choose it deliberately, after trying governance. The member
  # accounts' evidence is taken into this account's custody (their modules/member with
  # evidence_custody = true create their keys).
  evidence_lock_mode           = "governance"
  evidence_lock_duration_days  = 365
  evidence_lock_cool_off_hours = null
  evidence_custody             = true

  # Keep deletion protection on for a real deployment (the records are the audit trail); this example is
  # only planned by the tests.
  record_deletion_protection = true

  # Notifications: a topic the module creates, encrypted with a customer managed key the Lambda may use
  # (sns_topic_arn would name an existing topic instead).
  create_sns_topic      = true
  sns_topic_arn         = null
  sns_kms_master_key_id = "arn:aws:kms:eu-west-1:123456789012:key/5678abcd-12ab-34cd-56ef-1234567890ab"
  sns_topic_kms_key_arn = "arn:aws:kms:eu-west-1:123456789012:key/5678abcd-12ab-34cd-56ef-1234567890ab"
  result_events         = true
  result_event_source   = "com.example.ir-quarantine"

  # Failure path
  reserved_concurrent_executions            = 30
  lambda_maximum_retry_attempts             = 2
  lambda_maximum_event_age_in_seconds       = 3600
  event_target_maximum_retry_attempts       = 185
  event_target_maximum_event_age_in_seconds = 3600
  dead_letter_queue_kms_key_arn             = "arn:aws:kms:eu-west-1:123456789012:key/9abcabcd-12ab-34cd-56ef-1234567890ab"
  alarms_enabled                            = true
  alarm_actions                             = ["arn:aws:sns:eu-west-1:123456789012:on-call"]

  # Permission model: the roles the isolation tag protection SCP lets set the isolation tag (attach
  # analyst_isolate_policy_json / analyst_release_policy_json to them).
  tag_administrator_arns = [
    "arn:aws:iam::123456789012:role/incident-response/*",
    "arn:aws:iam::123456789012:role/SecurityResponder",
  ]

  # More triggers: GuardDuty findings about an instance, and a Security Hub custom action.
  guardduty_trigger_enabled       = true
  guardduty_minimum_severity      = 7
  guardduty_finding_types         = ["UnauthorizedAccess:EC2/SSHBruteForce", "CryptoCurrency:EC2/BitcoinTool.B!DNS"]
  security_hub_action_enabled     = true
  security_hub_action_name        = "Isolate instance"
  security_hub_action_identifier  = "IsolateInstance"
  security_hub_action_description = "Isolate the EC2 instances of the selected findings."

  # Organization layout (examples/organization shows the member side): the member accounts whose
  # forwarded events this function serves, and the executor role it assumes there.
  member_account_ids   = ["210987654321", "310987654321"]
  organization_id      = "o-exampleorg1"
  executor_role_name   = "ir-quarantine-executor"
  executor_external_id = "ir-quarantine-isolation"

  # Reconciler (reconcile.tf): a sweep every 5 minutes and a full one nightly, at most 5 at once, on the
  # API calls that could undo an isolation too (a CloudTrail trail with management events must be on),
  # in both member accounts (null: member_account_ids) and two regions.
  reconcile_schedule            = "rate(5 minutes)"
  reconcile_full_schedule       = "cron(0 3 * * ? *)"
  reconcile_maximum_concurrency = 5
  reconcile_on_api_calls        = true
  reconcile_regions             = ["eu-west-1", "eu-central-1"]
  reconcile_account_ids         = null
  metrics_namespace             = "EC2Isolation"
}
