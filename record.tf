# ---------------------------------------------------------------------------------------------------
# Isolation records: each isolated instance's prior state (written before the first change, so that a
# release can restore it exactly), the lock against concurrent events, and the audit trail of attempts.
# ---------------------------------------------------------------------------------------------------

resource "aws_dynamodb_table" "records" {
  #checkov:skip=CKV_AWS_119:Encrypted at rest with the AWS managed key (server_side_encryption enabled); a customer managed key option is not offered yet.
  name                        = local.record_table_name
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "instance_id"
  deletion_protection_enabled = var.record_deletion_protection

  attribute {
    name = "instance_id"
    type = "S"
  }

  server_side_encryption {
    enabled = true
  }

  point_in_time_recovery {
    enabled = true
  }

  tags = var.tags
}
