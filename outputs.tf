output "lambda_function_arn" {
  description = "ARN of the isolation Lambda function."
  value       = aws_lambda_function.this.arn
}

output "lambda_function_name" {
  description = "Name of the isolation Lambda function."
  value       = aws_lambda_function.this.function_name
}

output "lambda_role_arn" {
  description = "ARN of the Lambda's execution role."
  value       = aws_iam_role.lambda.arn
}

output "event_rule_arn" {
  description = "ARN of the EventBridge rule that matches the isolation tag being set on an EC2 instance."
  value       = aws_cloudwatch_event_rule.this.arn
}

output "event_rule_name" {
  description = "Name of the EventBridge rule that matches the isolation tag being set on an EC2 instance."
  value       = aws_cloudwatch_event_rule.this.name
}

output "log_group_name" {
  description = "Name of the CloudWatch Logs log group of the Lambda."
  value       = aws_cloudwatch_log_group.this.name
}

output "isolation_role_arn" {
  description = "ARN of the deny-all IAM role that isolated instances get through the isolation instance profile."
  value       = module.isolation_target.iam.role_arn
}

output "isolation_instance_profile_arn" {
  description = "ARN of the instance profile that replaces the instance profile of isolated instances."
  value       = module.isolation_target.iam.instance_profile_arn
}

output "isolation_instance_profile_name" {
  description = "Name of the instance profile that replaces the instance profile of isolated instances."
  value       = module.isolation_target.iam.instance_profile_name
}

output "isolation_security_group_name" {
  description = "Name of the rule-less security group the Lambda creates in an isolated instance's VPC."
  value       = local.isolation_security_group_name
}

output "status_tag_prefix" {
  description = "Prefix of the status tags the Lambda writes on the instances it isolates (\"<isolation tag key>:\")."
  value       = local.status_tag_prefix
}

output "record_table_name" {
  description = "Name of the DynamoDB table of isolation records (prior state, lock, audit trail)."
  value       = aws_dynamodb_table.records.name
}

output "record_table_arn" {
  description = "ARN of the DynamoDB table of isolation records."
  value       = aws_dynamodb_table.records.arn
}

output "responder_cli_environment" {
  description = "Environment for the responder CLI (ec2-isolation isolate|release|status|list) to act on this deployment: its tag key and values, and its record table and the table's region, as EC2_ISOLATION_* variables."
  value = {
    EC2_ISOLATION_TAG_KEY             = var.isolation_tag_key
    EC2_ISOLATION_ISOLATE_VALUE       = var.isolation_tag_value
    EC2_ISOLATION_RELEASE_VALUE       = var.release_tag_value
    EC2_ISOLATION_RECORD_TABLE        = local.record_table_name
    EC2_ISOLATION_RECORD_TABLE_REGION = local.region
  }
}

output "sns_topic_arn" {
  description = "ARN of the SNS topic that receives the summary of each isolation, release and failure (the one created, or the one given); null when there is none."
  value       = var.create_sns_topic ? one(aws_sns_topic.this[*].arn) : var.sns_topic_arn
}

output "result_event_source" {
  description = "Source of the result events the Lambda puts on the default EventBridge bus; null when result events are off."
  value       = local.result_event_source
}

output "result_event_detail_types" {
  description = "Detail-types of the result events, by outcome (completed, failed, released, dry_run; the reconciler's caught_up, drift_repaired, needs_attention, group_resealed, record_closed): what an EventBridge rule matches on."
  value       = local.result_event_detail_types
}

output "dead_letter_queue_arn" {
  description = "ARN of the SQS dead-letter queue: the isolation events that still failed after Lambda's retries (on-failure destination records) and those EventBridge could not deliver to the function."
  value       = aws_sqs_queue.dead_letter.arn
}

output "dead_letter_queue_url" {
  description = "URL of the SQS dead-letter queue, to read and redrive the failed isolations (aws sqs receive-message --queue-url ...)."
  value       = aws_sqs_queue.dead_letter.id
}

output "alarm_names" {
  description = "Names of the CloudWatch alarms, by kind: the failure path's (errors, throttles, destination_delivery_failures, dead_letters) and the reconciler's (drift_repaired, while it runs); empty when alarms_enabled is false."
  value = merge(
    { for kind, alarm in aws_cloudwatch_metric_alarm.this : kind => alarm.alarm_name },
    { for alarm in aws_cloudwatch_metric_alarm.drift_repaired : "drift_repaired" => alarm.alarm_name },
  )
}

output "alarm_arns" {
  description = "ARNs of the CloudWatch alarms, by kind (as alarm_names); empty when alarms_enabled is false."
  value = merge(
    { for kind, alarm in aws_cloudwatch_metric_alarm.this : kind => alarm.arn },
    { for alarm in aws_cloudwatch_metric_alarm.drift_repaired : "drift_repaired" => alarm.arn },
  )
}

output "reconcile_queue_url" {
  description = "URL of the reconciler's SQS queue (the sweeps' work: one message per account and region, or per instance); null when both reconcile schedules are null."
  value       = one(aws_sqs_queue.reconcile[*].url)
}

output "reconcile_queue_arn" {
  description = "ARN of the reconciler's SQS queue; null when both reconcile schedules are null."
  value       = one(aws_sqs_queue.reconcile[*].arn)
}

output "reconcile_rule_arn" {
  description = "ARN of the EventBridge rule of the reconciler's sweep (reconcile_schedule); null when it is null."
  value       = try(aws_cloudwatch_event_rule.reconcile["sweep"].arn, null)
}

output "reconcile_full_rule_arn" {
  description = "ARN of the EventBridge rule of the reconciler's full sweep (reconcile_full_schedule); null when it is null."
  value       = try(aws_cloudwatch_event_rule.reconcile["full"].arn, null)
}

output "api_call_rule_arn" {
  description = "ARN of the EventBridge rule that reconciles an instance on a CloudTrail-recorded API call that can undo its isolation; null when reconcile_on_api_calls is false."
  value       = one(aws_cloudwatch_event_rule.api_call[*].arn)
}

output "analyst_isolate_policy_json" {
  description = "IAM policy (JSON) for analysts who may isolate: ec2:CreateTags of the isolation tag key, alone, to the isolation value only, on this account's instances in this region; the reads of the responder CLI (status) and of the record table; never removing the key or writing a status tag."
  value       = data.aws_iam_policy_document.analyst["isolate"].json
}

output "analyst_release_policy_json" {
  description = "IAM policy (JSON) for analysts who may release (a separate privilege): the same as analyst_isolate_policy_json with the release value instead of the isolation value."
  value       = data.aws_iam_policy_document.analyst["release"].json
}

output "isolation_tag_protection_scp_json" {
  description = "Service control policy (JSON, minified) that denies setting or removing the isolation tag key and the status tags (\"<key>:*\"), at launch too, to every principal but tag_administrator_arns and the Lambda's role. Attach it in AWS Organizations; it does not apply to the management account."
  value       = local.isolation_tag_protection_scp_json

  precondition {
    condition     = length(local.isolation_tag_protection_scp_json) <= local.scp_max_characters
    error_message = "The isolation tag protection SCP takes ${length(local.isolation_tag_protection_scp_json)} characters, more than the ${local.scp_max_characters} AWS Organizations allows: shorten tag_administrator_arns (use ARN patterns)."
  }
}

output "event_bus_arn" {
  description = "ARN of this account's default event bus: where member accounts forward their isolation tag events (modules/member central_event_bus_arn)."
  value       = local.default_event_bus_arn
}

output "executor_role_name" {
  description = "Name of the executor role the function assumes in member accounts (modules/member creates it as \"<name>-executor\")."
  value       = local.executor_role_name
}

output "member_module_inputs" {
  description = "The inputs modules/member needs from this deployment, all known at plan time: central_account_id, central_event_bus_arn, central_lambda_role_arn, name, iam_role_path, the isolation tag key and values, organization_id, forward_api_calls (whether the reconciler acts on forwarded API calls) and evidence_custody (whether this account takes the members' evidence into custody: each member then needs its evidence key)."
  value = {
    central_account_id      = local.account_id
    central_event_bus_arn   = local.default_event_bus_arn
    central_lambda_role_arn = local.lambda_role_arn
    name                    = var.name
    iam_role_path           = var.iam_role_path
    isolation_tag_key       = var.isolation_tag_key
    isolation_tag_value     = var.isolation_tag_value
    release_tag_value       = var.release_tag_value
    organization_id         = var.organization_id
    forward_api_calls       = var.reconcile_on_api_calls
    evidence_custody        = var.evidence_custody
  }
}

output "evidence_key_arn" {
  description = "ARN of the KMS key (alias/<name>-evidence) that encrypts the copies of member accounts' evidence snapshots in this account's custody; null when evidence_custody is false. Responders who examine the evidence need kms:Decrypt and kms:CreateGrant on it (through EC2)."
  value       = one(module.evidence_key[*].arn)
}
