output "lambda_role_arn" {
  description = "ARN of the central function's role: the only principal the executor roles trust."
  value       = module.ec2_isolation.lambda_role_arn
}

output "event_bus_arn" {
  description = "ARN of the security account's default bus the member accounts forward to."
  value       = module.ec2_isolation.event_bus_arn
}

output "executor_role_arns" {
  description = "ARNs of the member accounts' executor roles, by account."
  value = {
    workloads_a = module.workloads_a_primary.executor_role_arn
    workloads_b = module.workloads_b_primary.executor_role_arn
  }
}

output "forwarding_rule_arns" {
  description = "ARNs of the forwarding rules, by account and region."
  value = {
    workloads_a_primary   = module.workloads_a_primary.forwarding_rule_arn
    workloads_a_secondary = module.workloads_a_secondary.forwarding_rule_arn
    workloads_b_primary   = module.workloads_b_primary.forwarding_rule_arn
    workloads_b_secondary = module.workloads_b_secondary.forwarding_rule_arn
  }
}

output "lambda_function_name" {
  description = "Name of the central isolation function."
  value       = module.ec2_isolation.lambda_function_name
}

output "record_table_name" {
  description = "The central record table: every member account's isolations are recorded there, keyed <account>:<region>:<instance id> outside the security account's own region."
  value       = module.ec2_isolation.record_table_name
}

output "isolation_security_group_name" {
  description = "Name of the isolation security group the function creates in each VPC it isolates in, in every account."
  value       = module.ec2_isolation.isolation_security_group_name
}

output "isolation_instance_profile_arns" {
  description = "ARNs of the member accounts' deny-all isolation instance profiles, by account."
  value = {
    workloads_a = module.workloads_a_primary.isolation_instance_profile_arn
    workloads_b = module.workloads_b_primary.isolation_instance_profile_arn
  }
}
