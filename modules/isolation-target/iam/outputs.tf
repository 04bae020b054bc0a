output "role_arn" {
  description = "ARN of the isolation role (known after apply)."
  value       = aws_iam_role.isolation.arn
}

output "instance_profile_arn" {
  description = "ARN of the isolation instance profile (known after apply)."
  value       = aws_iam_instance_profile.isolation.arn
}

output "instance_profile_name" {
  description = "Name of the isolation instance profile."
  value       = aws_iam_instance_profile.isolation.name
}
