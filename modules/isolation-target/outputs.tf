output "event_pattern" {
  description = "Event pattern of an analyst's isolation tag change on an EC2 instance (the isolation or the release value): the central rule's and each forwarding rule's (jsonencode it)."
  value       = local.event_pattern
}

output "api_call_event_pattern" {
  description = "Event pattern of a successful CloudTrail-recorded API call that can undo part of an isolation, by anyone but api_call_excluded_role_arns: the central reconciler's rule and each forwarding rule of API calls (jsonencode it)."
  value       = local.api_call_event_pattern
}

output "step_policy_json" {
  description = "IAM policy (JSON) of the statements the containment steps need, in account_id and regions: the central function's role gets them, and each member account's executor role."
  value       = data.aws_iam_policy_document.steps.json
}

output "evidence_policy" {
  description = "Whether there are evidence statements (the lock or the custody is on, and the snapshots are taken): known at plan time, for a count."
  value       = local.evidence_statements
}

output "evidence_policy_json" {
  description = "IAM policy (JSON) of the evidence snapshots' lock and custody, in account_id and regions (evidence.tf), with evidence_custody_account_statements; null when evidence_policy is false. The central function's role gets it, and each member account's executor role, as a managed policy."
  value       = one(data.aws_iam_policy_document.evidence[*].json)
}

output "status_tag_prefix" {
  description = "Prefix of the status tags the function writes on the instances (\"<isolation tag key>:\")."
  value       = local.status_tag_prefix
}

output "managed_tag_key" {
  description = "Key of the managed-by tag of the isolation security groups the function creates (its value is name)."
  value       = local.managed_tag_key
}

output "custody_copy_tag_key" {
  description = "Key of the tag the function writes on each copy of an evidence snapshot (\"<isolation tag key>:CustodyCopy\"): \"intermediate\" in the instance's account, \"custody\" in the central account."
  value       = local.custody_copy_tag_key
}

output "evidence_key_alias" {
  description = "Alias of the evidence KMS keys (\"alias/<name>-evidence\"): the central account's custody key and each member account's key, in every region."
  value       = local.evidence_key_alias
}

output "isolation_role_name" {
  description = "Name of the isolation role and of its instance profile (\"<name>-isolation\")."
  value       = local.isolation_role_name
}

output "isolation_role_arn" {
  description = "ARN of the isolation role by the naming convention (known at plan time)."
  value       = local.isolation_role_arn
}

output "isolation_instance_profile_arn" {
  description = "ARN of the isolation instance profile by the naming convention (known at plan time)."
  value       = local.isolation_instance_profile_arn
}

output "iam" {
  description = "The created isolation role and instance profile (role_arn, instance_profile_arn, instance_profile_name; known after apply), or null where create_iam is false."
  value       = one(module.iam[*])
}
