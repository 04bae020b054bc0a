# ---------------------------------------------------------------------------------------------------
# The statements of the evidence snapshots, in the account (account_id) and the regions given, besides
# the snapshot step's own (statements.tf, where the Describe statement reads the locks), while the
# snapshots are taken (steps.snapshot_volumes):
#   - the lock (steps.lock_evidence): each snapshot locked right after it is taken; nothing here, or
#     anywhere in the module, grants ec2:UnlockSnapshot;
#   - the custody (steps.evidence_custody): a snapshot re-encrypted with the account's evidence key (the
#     key aliased evidence_key_alias, in each region) into an intermediate copy, shared with
#     evidence_custody_account_id only, and the intermediate copy deleted once the custody account has
#     its own copy (the central module's copy into custody: its iam.tf). In the custody account itself,
#     the copy is made into it.
# A document of its own (evidence_policy_json): the central function's role and the executor role get it
# as a managed policy, beside their inline policy (IAM allows 10,240 characters of inline policy a role).
# ---------------------------------------------------------------------------------------------------

locals {
  # The evidence snapshots' lock and custody, only while the snapshots are taken.
  lock_evidence    = var.steps.snapshot_volumes && var.steps.lock_evidence
  evidence_custody = var.steps.snapshot_volumes && var.steps.evidence_custody
  # The evidence key of account_id in each region, found by its alias (its ARN is known after apply only).
  evidence_key_arns = [for region in var.regions : "arn:${var.partition}:kms:${region}:${var.account_id}:key/*"]
  # EC2 uses the keys on the function's behalf, in the regions it acts in ("*": StringLike).
  ec2_services        = [for region in var.regions : "ec2.${region}.amazonaws.com"]
  ec2_services_test   = contains(var.regions, "*") ? "StringLike" : "StringEquals"
  source_key_arns     = local.evidence_custody ? sort(distinct(var.evidence_source_key_arns)) : []
  key_actions_via_ec2 = ["kms:Decrypt", "kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncryptFrom", "kms:ReEncryptTo"]

  # Whether the document has a statement.
  evidence_statements = local.lock_evidence || local.evidence_custody
}

data "aws_iam_policy_document" "evidence" {
  count = local.evidence_statements ? 1 : 0

  dynamic "statement" {
    # Each evidence snapshot locked right after it is taken (the copy in custody too, in the custody
    # account): nobody can delete it until the lock expires. Nothing grants ec2:UnlockSnapshot.
    for_each = local.lock_evidence ? [1] : []
    content {
      sid       = "LockEvidenceSnapshots"
      effect    = "Allow"
      actions   = ["ec2:LockSnapshot"]
      resources = local.snapshot_arns
    }
  }

  # ---- Custody ---------------------------------------------------------------------------------

  dynamic "statement" {
    # The source snapshot and the copy, both of account_id (the custody account's copy of a shared
    # snapshot: the central module's iam.tf).
    for_each = local.evidence_custody ? [1] : []
    content {
      sid       = "CopyEvidenceSnapshots"
      effect    = "Allow"
      actions   = ["ec2:CopySnapshot"]
      resources = local.snapshot_arns
    }
  }

  dynamic "statement" {
    # Tags may only be written on the copies as part of creating them.
    for_each = local.evidence_custody ? [1] : []
    content {
      sid       = "TagEvidenceCopiesOnCreate"
      effect    = "Allow"
      actions   = ["ec2:CreateTags"]
      resources = local.snapshot_arns

      condition {
        test     = "StringEquals"
        variable = "ec2:CreateAction"
        values   = ["CopySnapshot"]
      }
    }
  }

  dynamic "statement" {
    # Shared with the custody account only (create volume permission added, then removed), never
    # with a group (the public).
    for_each = local.evidence_custody ? [1] : []
    content {
      sid       = "ShareEvidenceWithCustody"
      effect    = "Allow"
      actions   = ["ec2:ModifySnapshotAttribute"]
      resources = local.snapshot_arns

      condition {
        test     = "ForAllValues:StringEquals"
        variable = "ec2:Add/userId"
        values   = [var.evidence_custody_account_id]
      }

      condition {
        test     = "ForAllValues:StringEquals"
        variable = "ec2:Remove/userId"
        values   = [var.evidence_custody_account_id]
      }

      condition {
        test     = "Null"
        variable = "ec2:Add/group"
        values   = ["true"]
      }
    }
  }

  dynamic "statement" {
    # Only this deployment's intermediate copies may be deleted: never an evidence snapshot itself,
    # nor the copy in custody, nor any other snapshot.
    for_each = local.evidence_custody ? [1] : []
    content {
      sid       = "DeleteIntermediateCopies"
      effect    = "Allow"
      actions   = ["ec2:DeleteSnapshot"]
      resources = local.snapshot_arns

      condition {
        test     = "StringEquals"
        variable = "aws:ResourceTag/${local.managed_tag_key}"
        values   = [var.name]
      }

      condition {
        test     = "StringEquals"
        variable = "aws:ResourceTag/${local.custody_copy_tag_key}"
        values   = ["intermediate"]
      }
    }
  }

  dynamic "statement" {
    # The function finds the evidence key by its alias.
    for_each = local.evidence_custody ? [1] : []
    content {
      sid       = "DescribeEvidenceKey"
      effect    = "Allow"
      actions   = ["kms:DescribeKey"]
      resources = local.evidence_key_arns

      condition {
        test     = "ForAnyValue:StringEquals"
        variable = "kms:ResourceAliases"
        values   = [local.evidence_key_alias]
      }
    }
  }

  dynamic "statement" {
    # EC2 encrypts the copies with the evidence key on the function's behalf; no other use of the key.
    for_each = local.evidence_custody ? [1] : []
    content {
      sid       = "UseEvidenceKeyViaEc2"
      effect    = "Allow"
      actions   = local.key_actions_via_ec2
      resources = local.evidence_key_arns

      condition {
        test     = "ForAnyValue:StringEquals"
        variable = "kms:ResourceAliases"
        values   = [local.evidence_key_alias]
      }

      condition {
        test     = local.ec2_services_test
        variable = "kms:ViaService"
        values   = local.ec2_services
      }
    }
  }

  dynamic "statement" {
    # ...and the grant EC2 keeps on the key for the copy.
    for_each = local.evidence_custody ? [1] : []
    content {
      sid       = "GrantEvidenceKeyToEc2"
      effect    = "Allow"
      actions   = ["kms:CreateGrant"]
      resources = local.evidence_key_arns

      condition {
        test     = "ForAnyValue:StringEquals"
        variable = "kms:ResourceAliases"
        values   = [local.evidence_key_alias]
      }

      condition {
        test     = local.ec2_services_test
        variable = "kms:ViaService"
        values   = local.ec2_services
      }

      condition {
        test     = "Bool"
        variable = "kms:GrantIsForAWSResource"
        values   = ["true"]
      }
    }
  }

  dynamic "statement" {
    # Snapshots encrypted with a customer managed key of the account (evidence_source_key_arns): EC2
    # decrypts them with it to re-encrypt the copy.
    for_each = length(local.source_key_arns) > 0 ? [1] : []
    content {
      sid       = "UseSourceKeysViaEc2"
      effect    = "Allow"
      actions   = ["kms:Decrypt", "kms:DescribeKey", "kms:ReEncryptFrom"]
      resources = local.source_key_arns

      condition {
        test     = local.ec2_services_test
        variable = "kms:ViaService"
        values   = local.ec2_services
      }
    }
  }

  dynamic "statement" {
    for_each = length(local.source_key_arns) > 0 ? [1] : []
    content {
      sid       = "GrantSourceKeysToEc2"
      effect    = "Allow"
      actions   = ["kms:CreateGrant"]
      resources = local.source_key_arns

      condition {
        test     = local.ec2_services_test
        variable = "kms:ViaService"
        values   = local.ec2_services
      }

      condition {
        test     = "Bool"
        variable = "kms:GrantIsForAWSResource"
        values   = ["true"]
      }
    }
  }
}
