output "arn" {
  description = "ARN of the key (known after apply)."
  value       = aws_kms_key.this.arn
}

output "key_id" {
  description = "ID of the key (known after apply)."
  value       = aws_kms_key.this.key_id
}

output "alias" {
  description = "Name of the key's alias (\"alias/<name>-evidence\")."
  value       = aws_kms_alias.this.name
}
