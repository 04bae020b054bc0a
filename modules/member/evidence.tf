# ---------------------------------------------------------------------------------------------------
# The evidence key of this account and region (evidence_custody): the central function, through the
# executor role, copies each evidence snapshot re-encrypted with it (the intermediate copy), shares the
# copy with the central account only, and the central function's own role copies it into the central
# account's custody (the central module's evidence.tf). KMS keys are regional: every instance of this
# module creates its region's key, under the alias the function finds it by (alias/<name>-evidence).
# ---------------------------------------------------------------------------------------------------

locals {
  # What EC2 may do with the key on a principal's behalf, to make a copy encrypted with it or from it.
  evidence_key_actions = ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncryptFrom", "kms:ReEncryptTo"]
  # The two principals, by account and aws:PrincipalArn: the key policy then holds before either role
  # exists (the executor role is created by the account's create_iam instance, the central role by the
  # central deployment).
  evidence_key_users = {
    Executor = {
      account  = local.account_id
      role_arn = local.executor_role_arn
      # The intermediate copies are made in this region.
      via_test    = "StringEquals"
      via_service = "ec2.${local.region}.amazonaws.com"
    }
    CentralFunction = {
      account  = var.central_account_id
      role_arn = var.central_lambda_role_arn
      # The copy into custody is made in the central region, from this one.
      via_test    = "StringLike"
      via_service = "ec2.*.amazonaws.com"
    }
  }
}

data "aws_iam_policy_document" "evidence_key" {
  # Static security scan (checkov, `make checkov`): IAM identity-policy checks that do not apply to a key
  # policy, where Resource "*" is the key itself and the account's administration (kms:*) is KMS's
  # default key policy statement.
  #checkov:skip=CKV_AWS_109:A key policy: the member account root administers its own evidence key (KMS's default statement, so the key never becomes unmanageable); the executor and central roles may only have EC2 create grants for AWS resources.
  #checkov:skip=CKV_AWS_111:A key policy: Resource "*" is this key only; the executor and central roles may use it through EC2 only (kms:ViaService), the account administers it.
  #checkov:skip=CKV_AWS_356:A key policy names no other resource than its key: Resource "*" is the evidence key itself.
  count = var.evidence_custody ? 1 : 0

  statement {
    # The account administers the key: it never becomes unmanageable.
    sid       = "AccountAdministersKey"
    effect    = "Allow"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  dynamic "statement" {
    # The executor role and the central function's role use the key for EBS copies only (through EC2).
    for_each = local.evidence_key_users
    content {
      sid       = "${statement.key}CopiesViaEc2"
      effect    = "Allow"
      actions   = local.evidence_key_actions
      resources = ["*"]

      principals {
        type        = "AWS"
        identifiers = ["arn:${local.partition}:iam::${statement.value.account}:root"]
      }

      condition {
        test     = "ArnEquals"
        variable = "aws:PrincipalArn"
        values   = [statement.value.role_arn]
      }

      condition {
        test     = statement.value.via_test
        variable = "kms:ViaService"
        values   = [statement.value.via_service]
      }
    }
  }

  dynamic "statement" {
    # ...and the grant EC2 keeps on the key for each copy.
    for_each = local.evidence_key_users
    content {
      sid       = "${statement.key}GrantsKeyToEc2"
      effect    = "Allow"
      actions   = ["kms:CreateGrant"]
      resources = ["*"]

      principals {
        type        = "AWS"
        identifiers = ["arn:${local.partition}:iam::${statement.value.account}:root"]
      }

      condition {
        test     = "ArnEquals"
        variable = "aws:PrincipalArn"
        values   = [statement.value.role_arn]
      }

      condition {
        test     = statement.value.via_test
        variable = "kms:ViaService"
        values   = [statement.value.via_service]
      }

      condition {
        test     = "Bool"
        variable = "kms:GrantIsForAWSResource"
        values   = ["true"]
      }
    }
  }
}

resource "aws_kms_key" "evidence" {
  count = var.evidence_custody ? 1 : 0

  description = "Re-encrypts this account's evidence snapshots for the ${var.name} isolation function's custody (intermediate copies, deleted once in custody)."
  # Deleting the key makes the intermediate copies unreadable before they reach custody.
  deletion_window_in_days = 30
  enable_key_rotation     = true
  policy                  = one(data.aws_iam_policy_document.evidence_key[*].json)
  tags                    = var.tags
}

resource "aws_kms_alias" "evidence" {
  count = var.evidence_custody ? 1 : 0

  # The central function finds the key by this alias (kms:DescribeKey; its grants: kms:ResourceAliases).
  name          = module.isolation_target.evidence_key_alias
  target_key_id = aws_kms_key.evidence[0].key_id
}
