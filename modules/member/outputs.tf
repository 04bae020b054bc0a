output "executor_role_arn" {
  description = "ARN of the executor role the central function assumes in this account (by convention arn:<partition>:iam::<account>:role<path><name>-executor; created where create_iam is true)."
  value       = local.executor_role_arn
}

output "forwarding_rule_arn" {
  description = "ARN of the EventBridge rule that forwards this region's isolation tag events to the central bus."
  value       = aws_cloudwatch_event_rule.forward.arn
}

output "api_call_forwarding_rule_arn" {
  description = "ARN of the EventBridge rule that forwards this region's API calls that can undo an isolation to the central bus; null when forward_api_calls is false."
  value       = one(aws_cloudwatch_event_rule.forward_api_calls[*].arn)
}

output "isolation_instance_profile_arn" {
  description = "ARN of the deny-all instance profile isolated instances of this account get (by convention arn:<partition>:iam::<account>:instance-profile<path><name>-isolation)."
  value       = module.isolation_target.isolation_instance_profile_arn
}

output "forwarding_dead_letter_queue_arn" {
  description = "ARN of the SQS queue of the events EventBridge could not forward to the central bus."
  value       = aws_sqs_queue.dead_letter.arn
}

output "evidence_key_arn" {
  description = "ARN of this region's evidence KMS key (alias/<name>-evidence), which re-encrypts the intermediate copies of the evidence snapshots taken into the central account's custody; null when evidence_custody is false."
  value       = one(module.evidence_key[*].arn)
}
