output "lambda_function_arn" {
  description = "ARN of the isolation Lambda function."
  value       = module.ec2_isolation.lambda_function_arn
}

output "lambda_function_name" {
  description = "Name of the isolation Lambda function."
  value       = module.ec2_isolation.lambda_function_name
}

output "lambda_role_arn" {
  description = "ARN of the Lambda's execution role."
  value       = module.ec2_isolation.lambda_role_arn
}

output "event_rule_arn" {
  description = "ARN of the EventBridge rule that triggers the isolation."
  value       = module.ec2_isolation.event_rule_arn
}

output "event_rule_name" {
  description = "Name of the EventBridge rule that triggers the isolation."
  value       = module.ec2_isolation.event_rule_name
}

output "log_group_name" {
  description = "Name of the Lambda's log group."
  value       = module.ec2_isolation.log_group_name
}

output "isolation_role_arn" {
  description = "ARN of the deny-all role of isolated instances."
  value       = module.ec2_isolation.isolation_role_arn
}

output "isolation_instance_profile_arn" {
  description = "ARN of the instance profile given to isolated instances."
  value       = module.ec2_isolation.isolation_instance_profile_arn
}

output "isolation_instance_profile_name" {
  description = "Name of the instance profile given to isolated instances."
  value       = module.ec2_isolation.isolation_instance_profile_name
}

output "isolation_security_group_name" {
  description = "Name of the isolation security group the Lambda creates per VPC."
  value       = module.ec2_isolation.isolation_security_group_name
}

output "status_tag_prefix" {
  description = "Prefix of the status tags the Lambda writes on isolated instances."
  value       = module.ec2_isolation.status_tag_prefix
}

output "record_table_name" {
  description = "Name of the DynamoDB table of isolation records."
  value       = module.ec2_isolation.record_table_name
}

output "record_table_arn" {
  description = "ARN of the DynamoDB table of isolation records."
  value       = module.ec2_isolation.record_table_arn
}

output "responder_cli_environment" {
  description = "EC2_ISOLATION_* variables for the responder CLI (ec2-isolation) on this deployment."
  value       = module.ec2_isolation.responder_cli_environment
}

output "dead_letter_queue_url" {
  description = "URL of the dead-letter queue of the isolations that failed (read it to redrive them)."
  value       = module.ec2_isolation.dead_letter_queue_url
}

output "dead_letter_queue_arn" {
  description = "ARN of the dead-letter queue of the isolations that failed."
  value       = module.ec2_isolation.dead_letter_queue_arn
}

output "alarm_names" {
  description = "Names of the failure-path alarms, by kind."
  value       = module.ec2_isolation.alarm_names
}

output "analyst_isolate_policy_json" {
  description = "IAM policy for analysts who may isolate (the isolation tag key, to the isolation value only)."
  value       = module.ec2_isolation.analyst_isolate_policy_json
}

output "analyst_release_policy_json" {
  description = "IAM policy for analysts who may release (the isolation tag key, to the release value only)."
  value       = module.ec2_isolation.analyst_release_policy_json
}

output "isolation_tag_protection_scp_json" {
  description = "SCP that stops everyone but the Lambda and tag_administrator_arns from writing the isolation tag key."
  value       = module.ec2_isolation.isolation_tag_protection_scp_json
}
