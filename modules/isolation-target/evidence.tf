# ---------------------------------------------------------------------------------------------------
# The statements of the evidence snapshots, in the account (account_id) and the regions given, besides
# the snapshot step's own (statements.tf, where the Describe statement reads the locks), while the
# snapshots are taken (steps.snapshot_volumes):
#   - the lock (steps.lock_evidence): each snapshot locked right after it is taken; nothing here, or
#     anywhere in the module, grants ec2:UnlockSnapshot;
#   - the custody (steps.evidence_custody): a snapshot re-encrypted with the account's evidence key (the
#     key aliased evidence_key_alias, in each region) into an intermediate copy, shared with
#     evidence_custody_account_id only, and the intermediate copy deleted once the custody account has
#     its own copy (the central module's copy into custody: its iam.tf, which defines those statements
#     and passes them in evidence_custody_account_statements). In the custody account itself, the copy is
#     made into it.
# A document of its own (evidence_policy_json): the central function's role and the executor role get it
# as a managed policy, beside their inline policy (IAM allows 10,240 characters of inline policy a role).
# Every statement is data (evidence_statement_by_sid), and one block renders them all.
# ---------------------------------------------------------------------------------------------------

locals {
  # The evidence snapshots' lock and custody, only while the snapshots are taken.
  lock_evidence    = var.steps.snapshot_volumes && var.steps.lock_evidence
  evidence_custody = var.steps.snapshot_volumes && var.steps.evidence_custody
  # The evidence key of account_id in each region, found by its alias (its ARN is known after apply only).
  evidence_key_arns = [for region in var.regions : "arn:${var.partition}:kms:${region}:${var.account_id}:key/*"]
  source_key_arns   = local.evidence_custody ? sort(distinct(var.evidence_source_key_arns)) : []
  # Whether the document has a statement (known at plan time, for a count).
  evidence_statements = local.lock_evidence || local.evidence_custody || length(var.evidence_custody_account_statements) > 0

  # The conditions several statements share: a key found by the evidence key's alias; EC2 using a key on
  # the function's behalf, in the regions it acts in ("*": StringLike); a grant for AWS resources only.
  evidence_key_by_alias = { test = "ForAnyValue:StringEquals", variable = "kms:ResourceAliases", values = [local.evidence_key_alias] }
  via_ec2 = {
    test     = contains(var.regions, "*") ? "StringLike" : "StringEquals"
    variable = "kms:ViaService"
    values   = [for region in var.regions : "ec2.${region}.amazonaws.com"]
  }
  grant_for_aws_resource = { test = "Bool", variable = "kms:GrantIsForAWSResource", values = ["true"] }

  # The keys EC2 uses on the function's behalf to make a copy, each with two statements, Use<keys>ViaEc2
  # (what EC2 does with them) and Grant<keys>ToEc2 (the grant EC2 keeps on the key for the copy): the
  # evidence key, which the copy is encrypted with (no other use of it); the customer managed keys of the
  # account's volumes (evidence_source_key_arns), which EC2 decrypts the snapshots with to re-encrypt the
  # copy.
  keys_via_ec2 = {
    EvidenceKey = {
      on         = local.evidence_custody
      actions    = ["kms:Decrypt", "kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncryptFrom", "kms:ReEncryptTo"]
      resources  = local.evidence_key_arns
      conditions = [local.evidence_key_by_alias]
    }
    SourceKeys = {
      on         = length(local.source_key_arns) > 0
      actions    = ["kms:Decrypt", "kms:DescribeKey", "kms:ReEncryptFrom"]
      resources  = local.source_key_arns
      conditions = []
    }
  }

  # Every evidence statement, by Sid: on (whether the document has it), actions, resources, conditions.
  evidence_statement_by_sid = merge(
    {
      # Each evidence snapshot locked right after it is taken (the copy in custody too, in the custody
      # account): nobody can delete it until the lock expires. Nothing grants ec2:UnlockSnapshot.
      LockEvidenceSnapshots = { on = local.lock_evidence, actions = ["ec2:LockSnapshot"], resources = local.snapshot_arns, conditions = [] }

      # ---- Custody ----
      # The source snapshot and the copy, both of account_id (the custody account's copy of a shared
      # snapshot: the central module's iam.tf).
      CopyEvidenceSnapshots = { on = local.evidence_custody, actions = ["ec2:CopySnapshot"], resources = local.snapshot_arns, conditions = [] }
      # Tags may only be written on the copies as part of creating them.
      TagEvidenceCopiesOnCreate = {
        on         = local.evidence_custody
        actions    = ["ec2:CreateTags"]
        resources  = local.snapshot_arns
        conditions = [{ test = "StringEquals", variable = "ec2:CreateAction", values = ["CopySnapshot"] }]
      }
      # Shared with the custody account only (create volume permission added, then removed), never with
      # a group (the public).
      ShareEvidenceWithCustody = {
        on        = local.evidence_custody
        actions   = ["ec2:ModifySnapshotAttribute"]
        resources = local.snapshot_arns
        conditions = [
          { test = "ForAllValues:StringEquals", variable = "ec2:Add/userId", values = [var.evidence_custody_account_id] },
          { test = "ForAllValues:StringEquals", variable = "ec2:Remove/userId", values = [var.evidence_custody_account_id] },
          { test = "Null", variable = "ec2:Add/group", values = ["true"] },
        ]
      }
      # Only this deployment's intermediate copies may be deleted: never an evidence snapshot itself, nor
      # the copy in custody, nor any other snapshot.
      DeleteIntermediateCopies = {
        on        = local.evidence_custody
        actions   = ["ec2:DeleteSnapshot"]
        resources = local.snapshot_arns
        conditions = [
          { test = "StringEquals", variable = "aws:ResourceTag/${local.managed_tag_key}", values = [var.name] },
          { test = "StringEquals", variable = "aws:ResourceTag/${local.custody_copy_tag_key}", values = ["intermediate"] },
        ]
      }
      # The function finds the evidence key by its alias.
      DescribeEvidenceKey = { on = local.evidence_custody, actions = ["kms:DescribeKey"], resources = local.evidence_key_arns, conditions = [local.evidence_key_by_alias] }
    },
    { for keys, key in local.keys_via_ec2 : "Use${keys}ViaEc2" => merge(key, { conditions = concat(key.conditions, [local.via_ec2]) }) },
    {
      for keys, key in local.keys_via_ec2 : "Grant${keys}ToEc2" => merge(key, {
        actions    = ["kms:CreateGrant"]
        conditions = concat(key.conditions, [local.via_ec2, local.grant_for_aws_resource])
      })
    },
    # The custody account's own (the central module's copy into custody).
    { for sid, statement in var.evidence_custody_account_statements : sid => merge(statement, { on = true }) },
  )
}

data "aws_iam_policy_document" "evidence" {
  count = local.evidence_statements ? 1 : 0

  dynamic "statement" {
    # One block for every statement: the statements are the data above.
    for_each = { for sid, statement in local.evidence_statement_by_sid : sid => statement if statement.on }
    content {
      sid       = statement.key
      effect    = "Allow"
      actions   = statement.value.actions
      resources = statement.value.resources

      dynamic "condition" {
        for_each = statement.value.conditions
        content {
          test     = condition.value.test
          variable = condition.value.variable
          values   = condition.value.values
        }
      }
    }
  }
}
