# ---------------------------------------------------------------------------------------------------
# An evidence key: the KMS key that encrypts copies of evidence snapshots, in one account and region,
# under the alias the function finds it by. The root module's key encrypts the copies in custody (its
# evidence.tf); each modules/member instance's key, the intermediate copies of its account and region.
# Its users (var.users) may have EC2 use it for EBS copies only; the account administers it.
# ---------------------------------------------------------------------------------------------------

locals {
  # What EC2 does with the key on a user's behalf, to make a copy encrypted with it or from it.
  actions_via_ec2 = ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncryptFrom", "kms:ReEncryptTo"]

  # Each user's two statements: the use of the key through EC2, and the grant EC2 keeps on the key for
  # each copy (for AWS resources only).
  user_statements = merge(
    { for name, user in var.users : "${name}CopiesViaEc2" => merge(user, { grant = false }) },
    { for name, user in var.users : "${name}GrantsKeyToEc2" => merge(user, { grant = true }) },
  )
}

data "aws_iam_policy_document" "this" {
  # Static security scan (checkov, `make checkov`): IAM identity-policy checks that do not apply to a key
  # policy, where Resource "*" is the key itself and the account's administration (kms:*) is KMS's
  # default key policy statement.
  #checkov:skip=CKV_AWS_109:A key policy: the account root administers its own evidence key (KMS's default statement, so the key never becomes unmanageable); the key's users may only have EC2 create grants for AWS resources.
  #checkov:skip=CKV_AWS_111:A key policy: Resource "*" is this key only; its users may use it through EC2 only (kms:ViaService), the account administers it.
  #checkov:skip=CKV_AWS_356:A key policy names no other resource than its key: Resource "*" is the evidence key itself.

  statement {
    # The account administers the key, and its IAM policies decide who else may use it (the responders
    # who examine the evidence): the key never becomes unmanageable.
    sid       = "AccountAdministersKey"
    effect    = "Allow"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${var.partition}:iam::${var.account_id}:root"]
    }
  }

  dynamic "statement" {
    # Each user's role, by its account and aws:PrincipalArn (the key policy then holds before the role
    # exists), through EC2 only, where the user's copies are made.
    for_each = local.user_statements
    content {
      sid       = statement.key
      effect    = "Allow"
      actions   = statement.value.grant ? ["kms:CreateGrant"] : local.actions_via_ec2
      resources = ["*"]

      principals {
        type        = "AWS"
        identifiers = ["arn:${var.partition}:iam::${statement.value.account_id}:root"]
      }

      condition {
        test     = "ArnEquals"
        variable = "aws:PrincipalArn"
        values   = [statement.value.role_arn]
      }

      condition {
        test     = statement.value.via_service_test
        variable = "kms:ViaService"
        values   = [statement.value.via_service]
      }

      dynamic "condition" {
        for_each = statement.value.grant ? [1] : []
        content {
          test     = "Bool"
          variable = "kms:GrantIsForAWSResource"
          values   = ["true"]
        }
      }
    }
  }
}

resource "aws_kms_key" "this" {
  description = var.description
  # Deleting the key makes every copy encrypted with it unreadable: the longest window KMS allows.
  deletion_window_in_days = 30
  enable_key_rotation     = true
  policy                  = data.aws_iam_policy_document.this.json
  tags                    = var.tags
}

resource "aws_kms_alias" "this" {
  name          = var.alias
  target_key_id = aws_kms_key.this.key_id
}
