data "aws_partition" "current" {}

data "aws_caller_identity" "current" {}

# The region of the provider. `data.aws_region` has no attribute that is valid on hashicorp/aws 5.x
# without being deprecated on 6.x (`name` and `id` are deprecated in 6.x, `region` does not exist in
# 5.x); `aws_service` has had a non-deprecated `region` attribute, defaulting to the provider's
# region, on both. It is computed locally by the provider: no API call.
data "aws_service" "ec2" {
  service_id = "ec2"
}

locals {
  partition  = data.aws_partition.current.partition
  region     = data.aws_service.ec2.region
  account_id = data.aws_caller_identity.current.account_id

  # The isolation target's definition (modules/isolation-target, shared with modules/member): the
  # status tags the Lambda writes on the instance ("<key>:<suffix>"), the managed-by tag on the
  # isolation security groups it creates (the only groups it may revoke rules from), the isolation
  # role and profile, the event pattern.
  status_tag_prefix             = module.isolation_target.status_tag_prefix
  managed_tag_key               = module.isolation_target.managed_tag_key
  isolation_security_group_name = coalesce(var.isolation_security_group_name, "${var.name}-isolation")
  # All traffic in and out: ENIs pass through it so that tracked connections become untracked.
  transition_security_group_name = "${local.isolation_security_group_name}-untrack"
  revocation_policy_prefix       = "${var.name}-revoke-"
  record_table_name              = "${var.name}-records"
  record_table_arn               = "arn:${local.partition}:dynamodb:${local.region}:${local.account_id}:table/${local.record_table_name}"

  lambda_role_name = "${var.name}-lambda"
  event_rule_name  = "${var.name}-on-isolation-tag"
  # Lambda's default log group name: the function logs there without a logging_config block.
  log_group_name = "/aws/lambda/${var.name}"

  # ARNs are built from names rather than taken from resource attributes so that the IAM policy is
  # fully known at plan time (reviewable in the plan).
  arn_prefix_ec2  = "arn:${local.partition}:ec2:${local.region}:${local.account_id}"
  log_group_arn   = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${local.log_group_name}"
  lambda_role_arn = "arn:${local.partition}:iam::${local.account_id}:role${var.iam_role_path}${local.lambda_role_name}"

  # Known at plan time, unlike the instance profile's arn attribute, so the Lambda's environment is
  # too; a postcondition on the instance profile checks it against the real ARN.
  isolation_instance_profile_arn = module.isolation_target.isolation_instance_profile_arn

  lambda_package = "${path.module}/lambda/dist/ec2_isolation.zip"
}

resource "aws_cloudwatch_event_rule" "this" {
  name        = local.event_rule_name
  description = "Isolates an EC2 instance when its ${var.isolation_tag_key} tag is set to ${var.isolation_tag_value}, releases it when set to ${var.release_tag_value}."
  # An analyst setting (or changing) the isolation tag to the isolation or the release value on an EC2
  # instance: the one pattern of modules/isolation-target, which modules/member's forwarding rules match.
  event_pattern = jsonencode(module.isolation_target.event_pattern)
  tags          = var.tags

  lifecycle {
    precondition {
      condition     = var.release_tag_value != var.isolation_tag_value
      error_message = "release_tag_value must differ from isolation_tag_value: one value cannot both isolate and release."
    }

    postcondition {
      condition     = self.arn == local.event_rule_arn
      error_message = "The rule ARN ${self.arn} differs from the one the dead-letter queue accepts events from (${local.event_rule_arn})."
    }
  }
}

resource "aws_cloudwatch_event_target" "this" {
  rule      = aws_cloudwatch_event_rule.this.name
  target_id = "isolation-lambda"
  arn       = aws_lambda_function.this.arn

  # When the Lambda service refuses the event (failure.tf): EventBridge retries, then sends it to the
  # dead-letter queue (the queue policy lets this rule, and only it, send).
  retry_policy {
    maximum_retry_attempts       = var.event_target_maximum_retry_attempts
    maximum_event_age_in_seconds = var.event_target_maximum_event_age_in_seconds
  }

  dead_letter_config {
    arn = aws_sqs_queue.dead_letter.arn
  }
}

resource "aws_lambda_permission" "events" {
  statement_id  = "AllowInvokeFromIsolationTagRule"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.this.function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.this.arn
}

# Created before the function so that Terraform, not the Lambda service, owns the log group (retention,
# encryption, tags, and deletion with the module).
resource "aws_cloudwatch_log_group" "this" {
  name              = local.log_group_name
  retention_in_days = var.log_retention_in_days
  kms_key_id        = var.log_kms_key_arn
  tags              = var.tags
}

resource "aws_lambda_function" "this" {
  # Static security scan (checkov, `make checkov`): checks that do not apply to this function.
  #checkov:skip=CKV_AWS_116:The dead-letter queue is the on-failure destination of aws_lambda_function_event_invoke_config.this (failure.tf), not dead_letter_config: its records carry the error and the retry count besides the event, and both together would send each failure twice.
  #checkov:skip=CKV_AWS_117:Not in a VPC on purpose: the function calls only AWS APIs (EC2, IAM PassRole, CloudWatch Logs) and serves nothing, so a VPC would add NAT or endpoints and no protection.
  #checkov:skip=CKV_AWS_272:No code signing: the package is built reproducibly from this repository and deployed by Terraform from a local file; code signing needs an AWS Signer profile and signed S3 artifacts.
  #checkov:skip=CKV_AWS_173:No customer-managed key for the environment: it holds only tag names, a log level, ARNs and account ids, and the optional executor external ID (which AWS does not treat as a secret), and Lambda encrypts it at rest with an AWS managed key.
  #checkov:skip=CKV_AWS_50:No X-Ray active tracing: the handler logs one JSON line per step with the event and instance ids, and tracing would need X-Ray write permissions in the least-privilege role.
  function_name    = var.name
  description      = "Isolates the EC2 instances an analyst tags with ${var.isolation_tag_key}."
  role             = aws_iam_role.lambda.arn
  runtime          = "python3.12"
  handler          = "ec2_isolation.handler.lambda_handler"
  filename         = local.lambda_package
  source_code_hash = filebase64sha256(local.lambda_package)
  architectures    = [var.lambda_architecture]
  timeout          = var.lambda_timeout
  memory_size      = var.lambda_memory_size
  # null: nothing reserved (the provider's -1)
  reserved_concurrent_executions = var.reserved_concurrent_executions

  environment {
    # The finding triggers' filter (triggers.tf) is added only when a trigger is on; the reconciler's
    # settings (reconcile.tf) and the evidence's (evidence.tf) always.
    variables = merge({
      ISOLATION_TAG_KEY              = var.isolation_tag_key
      ISOLATION_TAG_VALUE            = var.isolation_tag_value
      RELEASE_TAG_VALUE              = var.release_tag_value
      DRY_RUN                        = tostring(var.dry_run)
      STATUS_TAG_PREFIX              = local.status_tag_prefix
      ISOLATION_SECURITY_GROUP_NAME  = local.isolation_security_group_name
      ISOLATION_INSTANCE_PROFILE_ARN = local.isolation_instance_profile_arn
      MANAGED_TAG_KEY                = local.managed_tag_key
      MANAGED_TAG_VALUE              = var.name
      RESOURCE_TAGS                  = jsonencode(var.tags)
      LOG_LEVEL                      = var.log_level
      RECORD_TABLE_NAME              = local.record_table_name
      # A record's lock outlives the longest invocation that could hold it.
      RECORD_LOCK_SECONDS = tostring(var.lambda_timeout + 60)
      # Containment depth (see variables.tf)
      UNTRACK_CONNECTIONS                     = tostring(var.untrack_connections)
      UNTRACK_WAIT_SECONDS                    = tostring(var.untrack_wait_seconds)
      TRANSITION_SECURITY_GROUP_NAME          = local.transition_security_group_name
      REVOKE_CREDENTIALS                      = tostring(var.revoke_credentials)
      REVOCATION_POLICY_PREFIX                = local.revocation_policy_prefix
      PROTECT_FROM_TERMINATION                = tostring(var.protect_from_termination)
      SNAPSHOT_VOLUMES                        = tostring(var.snapshot_volumes)
      AUTO_SCALING_ACTION                     = var.auto_scaling_action
      AUTO_SCALING_DECREMENT_DESIRED_CAPACITY = tostring(var.auto_scaling_decrement_desired_capacity)
      DEREGISTER_TARGETS                      = tostring(var.deregister_from_target_groups)
      DISASSOCIATE_ELASTIC_IPS                = tostring(var.disassociate_elastic_ips)
      # Notifications (notifications.tf); "" sends none
      SNS_TOPIC_ARN       = local.sns_topic_arn == null ? "" : local.sns_topic_arn
      RESULT_EVENT_SOURCE = var.result_events ? var.result_event_source : ""
      # Organization (organization.tf): the member accounts the function may act in ("" for none), the
      # executor role it assumes there (with its path) and the external ID it passes ("" for none).
      MEMBER_ACCOUNT_IDS   = join(",", var.member_account_ids)
      ORGANIZATION_ID      = var.organization_id == null ? "" : var.organization_id
      EXECUTOR_ROLE_NAME   = "${var.iam_role_path}${local.executor_role_name}"
      EXECUTOR_EXTERNAL_ID = var.executor_external_id == null ? "" : var.executor_external_id
    }, local.trigger_environment, local.reconcile_environment, local.evidence_environment)
  }

  lifecycle {
    precondition {
      condition     = !var.untrack_connections || var.lambda_timeout >= var.untrack_wait_seconds + 45
      error_message = "lambda_timeout must be at least untrack_wait_seconds + 45 s: the function waits that long before the network cut."
    }

    precondition {
      condition     = var.evidence_lock_cool_off_hours == null || var.evidence_lock_mode == "compliance"
      error_message = "evidence_lock_cool_off_hours applies to a compliance-mode lock only: set evidence_lock_mode = \"compliance\", or leave the cooling-off period null."
    }

    precondition {
      # The sweeps act in a member account through its executor role, which the function may assume
      # only in the accounts it serves (organization.tf).
      condition = (
        length(local.reconcile_account_ids) == 0 ||
        (length(var.member_account_ids) > 0 ? length(setsubtract(local.reconcile_account_ids, var.member_account_ids)) == 0 : var.organization_id != null)
      )
      error_message = "reconcile_account_ids must be accounts this deployment serves: listed in member_account_ids (or, with only organization_id, accounts of the organization)."
    }

    # The custody of member accounts' evidence (evidence.tf, EVIDENCE_CUSTODY).
    precondition {
      condition     = !var.evidence_custody || local.organization_enabled
      error_message = "evidence_custody takes member accounts' evidence into custody: set member_account_ids or organization_id (and modules/member's evidence_custody in each member)."
    }

    precondition {
      condition     = !var.evidence_custody || var.snapshot_volumes
      error_message = "evidence_custody needs snapshot_volumes: without snapshots there is no evidence to take into custody."
    }

    precondition {
      # The reconciler's rounds carry custody forward (reconcile.tf): the snapshots take minutes to hours.
      condition     = !var.evidence_custody || local.reconcile_queue_enabled
      error_message = "evidence_custody needs the reconciler's rounds, which carry custody forward: set reconcile_schedule (or reconcile_full_schedule)."
    }
  }

  tags = var.tags

  # The log group must exist before the first invocation, the role must be able to write to it, and
  # the instance profile, the record table and the topic named in the environment must exist.
  depends_on = [
    aws_cloudwatch_log_group.this,
    aws_iam_role_policy.lambda,
    aws_iam_role_policy_attachment.evidence,
    module.isolation_target,
    aws_dynamodb_table.records,
    # the topic the function publishes its first summary to
    aws_sns_topic.this,
    # the evidence key of the copies in custody, and the alias its grants find the key by
    module.evidence_key,
  ]
}
