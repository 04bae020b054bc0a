# ---------------------------------------------------------------------------------------------------
# Evidence: the snapshots the function takes of an isolated instance's volumes are locked right after
# they are taken (evidence_lock_mode: EBS snapshot lock; nothing grants ec2:UnlockSnapshot), and, in the
# organization layout, those of member accounts are taken into this account's custody
# (evidence_custody):
#
#   member account (executor role), its region              this account (the function's role), its region
#   evidence snapshot ─▶ CopySnapshot, re-encrypted with the
#                        member's alias/<name>-evidence key
#                        (the intermediate copy) ─▶ shared with
#                        this account only ──────────────────▶ CopySnapshot, encrypted with this
#                                                              account's alias/<name>-evidence key
#                                                              (the copy in custody) ─▶ LockSnapshot
#   intermediate copy deleted, share removed ◀────────────────┘
#
# The grants are modules/isolation-target's step statements (in the member through its executor role,
# here through the function's role) and, for the copy into custody, iam.tf. The member accounts' keys are
# modules/member's (evidence_custody).
# ---------------------------------------------------------------------------------------------------

locals {
  evidence_key_alias = module.isolation_target.evidence_key_alias
  # The custody of member accounts' evidence needs their snapshots (preconditions below).
  evidence_custody_enabled = var.evidence_custody && var.snapshot_volumes

  # The function's view of the evidence settings (main.tf); "" for what is off. With custody, the key's
  # ARN is known after apply only, and the provider then shows the whole environment as known after
  # apply in the plan that creates the key.
  evidence_environment = {
    EVIDENCE_LOCK_MODE           = var.evidence_lock_mode == null ? "" : var.evidence_lock_mode
    EVIDENCE_LOCK_DURATION_DAYS  = tostring(var.evidence_lock_duration_days)
    EVIDENCE_LOCK_COOL_OFF_HOURS = var.evidence_lock_cool_off_hours == null ? "" : tostring(var.evidence_lock_cool_off_hours)
    EVIDENCE_CUSTODY             = tostring(var.evidence_custody)
    EVIDENCE_CUSTODY_KEY_ARN     = var.evidence_custody ? one(aws_kms_key.evidence[*].arn) : ""
    # The member accounts' keys, which the function finds by alias in each account and region.
    EVIDENCE_KEY_ALIAS = local.evidence_key_alias
  }
}

# ---- The key of the copies in custody ---------------------------------------------------------------

data "aws_iam_policy_document" "evidence_key" {
  # Static security scan (checkov, `make checkov`): IAM identity-policy checks that do not apply to a key
  # policy, where Resource "*" is the key itself and the account's administration (kms:*) is KMS's
  # default key policy statement.
  #checkov:skip=CKV_AWS_109:A key policy: the account root administers its own evidence key (KMS's default statement, so the key never becomes unmanageable); the function's role may only have EC2 create grants for AWS resources.
  #checkov:skip=CKV_AWS_111:A key policy: Resource "*" is this key only; the function's role may use it through EC2 only (kms:ViaService), the account administers it.
  #checkov:skip=CKV_AWS_356:A key policy names no other resource than its key: Resource "*" is the evidence key itself.
  count = var.evidence_custody ? 1 : 0

  statement {
    # The account administers the key, and its IAM policies decide who else may use it (the responders
    # who examine the evidence): the key never becomes unmanageable.
    sid       = "AccountAdministersKey"
    effect    = "Allow"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    # The function's role encrypts the copies in custody through EC2, in this region, and uses the key
    # for nothing else. Named by aws:PrincipalArn, so that the key can be created before the role.
    sid       = "FunctionEncryptsCopiesViaEc2"
    effect    = "Allow"
    actions   = ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncryptFrom", "kms:ReEncryptTo"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:PrincipalArn"
      values   = [local.lambda_role_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["ec2.${local.region}.amazonaws.com"]
    }
  }

  statement {
    # ...and the grant EC2 keeps on the key for each copy.
    sid       = "FunctionGrantsKeyToEc2"
    effect    = "Allow"
    actions   = ["kms:CreateGrant"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:PrincipalArn"
      values   = [local.lambda_role_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["ec2.${local.region}.amazonaws.com"]
    }

    condition {
      test     = "Bool"
      variable = "kms:GrantIsForAWSResource"
      values   = ["true"]
    }
  }
}

resource "aws_kms_key" "evidence" {
  count = var.evidence_custody ? 1 : 0

  description = "Encrypts the ${var.name} isolation function's copies of member accounts' evidence snapshots, in custody."
  # Deleting the key makes every copy in custody unreadable: the longest window KMS allows.
  deletion_window_in_days = 30
  enable_key_rotation     = true
  policy                  = one(data.aws_iam_policy_document.evidence_key[*].json)
  tags                    = var.tags

  lifecycle {
    precondition {
      condition     = local.organization_enabled
      error_message = "evidence_custody takes member accounts' evidence into custody: set member_account_ids or organization_id (and modules/member's evidence_custody in each member)."
    }

    precondition {
      condition     = var.snapshot_volumes
      error_message = "evidence_custody needs snapshot_volumes: without snapshots there is no evidence to take into custody."
    }

    precondition {
      # The reconciler's rounds carry custody forward (reconcile.tf): the snapshots take minutes to hours.
      condition     = local.reconcile_queue_enabled
      error_message = "evidence_custody needs the reconciler's rounds, which carry custody forward: set reconcile_schedule (or reconcile_full_schedule)."
    }
  }
}

resource "aws_kms_alias" "evidence" {
  count = var.evidence_custody ? 1 : 0

  # The same alias as the member accounts' keys (modules/isolation-target): the function's grants find
  # each key by it.
  name          = local.evidence_key_alias
  target_key_id = aws_kms_key.evidence[0].key_id
}
