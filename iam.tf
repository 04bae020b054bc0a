# ---------------------------------------------------------------------------------------------------
# Lambda execution role: least privilege for isolating one instance.
# ---------------------------------------------------------------------------------------------------

data "aws_iam_policy_document" "lambda_assume_role" {
  statement {
    sid     = "LambdaAssumesRole"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "lambda" {
  name                 = local.lambda_role_name
  path                 = var.iam_role_path
  description          = "Execution role of the ${var.name} EC2 isolation Lambda."
  assume_role_policy   = data.aws_iam_policy_document.lambda_assume_role.json
  permissions_boundary = var.permissions_boundary_arn
  tags                 = var.tags

  lifecycle {
    postcondition {
      condition     = self.arn == local.lambda_role_arn
      error_message = "The Lambda role ARN ${self.arn} differs from the one member accounts' executor roles trust (${local.lambda_role_arn})."
    }
  }
}

data "aws_iam_policy_document" "lambda" {
  # The containment steps' statements (modules/isolation-target: the same as a member account's executor
  # role gets), in this account and region; then what only the central function needs.
  source_policy_documents = [module.isolation_target.step_policy_json]

  statement {
    sid       = "Logs"
    effect    = "Allow"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${local.log_group_arn}:*"]
  }

  statement {
    # The on-failure destination (failure.tf): the Lambda service sends each invocation that still
    # fails after its retries to the dead-letter queue with the function's role. The handler never does.
    sid       = "SendFailedInvocations"
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = [local.dead_letter_queue_arn]
  }

  dynamic "statement" {
    # The dead-letter and reconcile queues encrypted with a customer managed key (the same one): SQS
    # uses the key on the sender's and the receiver's behalf.
    for_each = local.dead_letter_queue_kms_key_arn == null ? [] : [1]
    content {
      sid       = "EncryptFailedInvocations"
      effect    = "Allow"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = [local.dead_letter_queue_kms_key_arn]

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["sqs.${local.region}.amazonaws.com"]
      }
    }
  }

  dynamic "statement" {
    # The summaries (notifications.tf): this one topic only.
    for_each = local.sns_topic_arn == null ? [] : [1]
    content {
      sid       = "PublishSummaries"
      effect    = "Allow"
      actions   = ["sns:Publish"]
      resources = [local.sns_topic_arn]
    }
  }

  dynamic "statement" {
    # A topic encrypted with a customer managed key: SNS uses the key on the publisher's behalf.
    for_each = local.sns_topic_kms_key_arn == null ? [] : [1]
    content {
      sid       = "EncryptSummaries"
      effect    = "Allow"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = [local.sns_topic_kms_key_arn]

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["sns.${local.region}.amazonaws.com"]
      }
    }
  }

  dynamic "statement" {
    # The result events: on the default bus only, with the configured source and the module's
    # detail-types only (EventBridge evaluates both keys on each PutEvents entry).
    for_each = var.result_events ? [1] : []
    content {
      sid       = "PutResultEvents"
      effect    = "Allow"
      actions   = ["events:PutEvents"]
      resources = [local.default_event_bus_arn]

      condition {
        test     = "StringEquals"
        variable = "events:source"
        values   = [var.result_event_source]
      }

      condition {
        test     = "StringEquals"
        variable = "events:detail-type"
        values   = sort(values(local.result_event_detail_types))
      }
    }
  }

  statement {
    # The record of each isolation: written before the first change (conditionally: the lock), then
    # completed with the outcome of each attempt.
    sid       = "IsolationRecords"
    effect    = "Allow"
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"]
    resources = [local.record_table_arn]
  }

  dynamic "statement" {
    # The reconciler's sweeps (reconcile.tf, while a schedule is on): they read the open records, and
    # send their work (one message per account and region, one per instance) to the reconcile queue.
    for_each = local.reconcile_queue_enabled ? [1] : []
    content {
      sid       = "SweepRecords"
      effect    = "Allow"
      actions   = ["dynamodb:Scan"]
      resources = [local.record_table_arn]
    }
  }

  dynamic "statement" {
    for_each = local.reconcile_queue_enabled ? [1] : []
    content {
      sid       = "SendReconcileWork"
      effect    = "Allow"
      actions   = ["sqs:SendMessage"]
      resources = [local.reconcile_queue_arn]
    }
  }

  dynamic "statement" {
    # The event source mapping reads the queue with the function's role: it receives each message, and
    # deletes it once the function has not reported it failed.
    for_each = local.reconcile_queue_enabled ? [1] : []
    content {
      sid       = "PollReconcileQueue"
      effect    = "Allow"
      actions   = ["sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"]
      resources = [local.reconcile_queue_arn]
    }
  }
}

resource "aws_iam_role_policy" "lambda" {
  name   = "isolate-ec2-instances"
  role   = aws_iam_role.lambda.id
  policy = data.aws_iam_policy_document.lambda.json
}

# ---------------------------------------------------------------------------------------------------
# The evidence snapshots' grants (evidence.tf): modules/isolation-target's lock and custody statements,
# in this account and region (the same as a member account's executor role gets), and the copy of member
# accounts' evidence into custody (defined here, rendered in the same document by modules/isolation-target:
# evidence_custody_account_statements). A managed policy of their own: IAM allows 10,240 characters of
# inline policy a role, and with every option on the role's inline policies take most of them.
# ---------------------------------------------------------------------------------------------------

locals {
  # The copy into custody (evidence.tf), by Sid, while custody is on: the function's own account's
  # statements are modules/isolation-target's (its lock, copy and evidence key: the executor role's too).
  custody_statements = {
    # Of a member account's snapshot shared with this account, in the member's region, into this region.
    # CopySnapshot is authorized on the source snapshot too, and snapshot ARNs name no account: the source
    # is any region's, the request this region's only (the copy, here: modules/isolation-target's
    # CopyEvidenceSnapshots; tagged and locked there too).
    CopySharedEvidenceIntoCustody = {
      actions    = ["ec2:CopySnapshot"]
      resources  = ["arn:${local.partition}:ec2:*::snapshot/*"]
      conditions = [{ test = "StringEquals", variable = "aws:RequestedRegion", values = [local.region] }]
    }
    # The shared snapshot is encrypted with the member account's evidence key (modules/member, whose key
    # policy lets this role use it for EBS copies): EC2 decrypts it with that key on this role's behalf.
    # Any region's key of the member accounts (by the conditions of AssumeMemberExecutorRoles,
    # organization.tf), found by its alias. This account's key: modules/isolation-target's statements.
    UseMemberEvidenceKeysViaEc2 = {
      actions    = ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncryptFrom", "kms:ReEncryptTo"]
      resources  = ["arn:${local.partition}:kms:*:*:key/*"]
      conditions = concat(local.member_evidence_key_conditions, local.member_conditions)
    }
    # ...and the grant EC2 keeps on the key for the copy.
    GrantMemberEvidenceKeysToEc2 = {
      actions   = ["kms:CreateGrant"]
      resources = ["arn:${local.partition}:kms:*:*:key/*"]
      conditions = concat(
        local.member_evidence_key_conditions,
        [{ test = "Bool", variable = "kms:GrantIsForAWSResource", values = ["true"] }],
        local.member_conditions,
      )
    }
  }
  # A member's evidence key: by its alias, through EC2 in any region.
  member_evidence_key_conditions = [
    { test = "ForAnyValue:StringEquals", variable = "kms:ResourceAliases", values = [local.evidence_key_alias] },
    { test = "StringLike", variable = "kms:ViaService", values = ["ec2.*.amazonaws.com"] },
  ]
}

resource "aws_iam_policy" "evidence" {
  count = module.isolation_target.evidence_policy ? 1 : 0

  name        = "${var.name}-evidence"
  path        = var.iam_role_path
  description = "Lets the ${var.name} EC2 isolation function lock its evidence snapshots and take member accounts' evidence into custody."
  policy      = module.isolation_target.evidence_policy_json
  tags        = var.tags
}

resource "aws_iam_role_policy_attachment" "evidence" {
  count = module.isolation_target.evidence_policy ? 1 : 0

  role       = aws_iam_role.lambda.name
  policy_arn = aws_iam_policy.evidence[0].arn
}

# ---------------------------------------------------------------------------------------------------
# The isolation target (modules/isolation-target, shared with modules/member): the statements above,
# the event pattern, and the isolation role and instance profile that replace the instance profile of
# an isolated instance. The role grants nothing, so credentials stolen from the instance metadata
# service are useless.
# ---------------------------------------------------------------------------------------------------

module "isolation_target" {
  source = "./modules/isolation-target"

  name                = var.name
  isolation_tag_key   = var.isolation_tag_key
  isolation_tag_value = var.isolation_tag_value
  release_tag_value   = var.release_tag_value

  partition  = local.partition
  account_id = local.account_id
  regions    = [local.region]
  steps = {
    untrack_connections             = var.untrack_connections
    revoke_credentials              = var.revoke_credentials
    credential_revocation_role_path = var.credential_revocation_role_path
    protect_from_termination        = var.protect_from_termination
    snapshot_volumes                = var.snapshot_volumes
    auto_scaling_action             = var.auto_scaling_action
    deregister_from_target_groups   = var.deregister_from_target_groups
    disassociate_elastic_ips        = var.disassociate_elastic_ips
    release_role_path               = var.release_role_path
    lock_evidence                   = var.evidence_lock_mode != null
    evidence_custody                = var.evidence_custody
  }
  # The custody of member accounts' evidence (evidence.tf): their snapshots are shared with this
  # account only, and copied here. This account's own evidence is never shared.
  evidence_custody_account_id = local.account_id
  evidence_source_key_arns    = []
  # ...and copied here (the custody statements above), in the same document as its own account's.
  evidence_custody_account_statements = {
    for sid, statement in local.custody_statements : sid => statement if local.evidence_custody_enabled
  }
  # Never passed to an instance, never given a revocation policy.
  own_role_arns = [local.lambda_role_arn]
  # The reconciler's rule leaves the deployment's own calls out (reconcile.tf).
  api_call_excluded_role_arns = local.api_call_excluded_role_arns

  create_iam               = true
  iam_role_path            = var.iam_role_path
  permissions_boundary_arn = var.permissions_boundary_arn
  tags                     = var.tags
}

# The isolation role, its policy and its instance profile were this module's own resources before
# modules/isolation-target: moved, not replaced (an isolated instance keeps its profile).
moved {
  from = aws_iam_role.isolation
  to   = module.isolation_target.module.iam[0].aws_iam_role.isolation
}

moved {
  from = aws_iam_role_policy.isolation
  to   = module.isolation_target.module.iam[0].aws_iam_role_policy.isolation
}

moved {
  from = aws_iam_instance_profile.isolation
  to   = module.isolation_target.module.iam[0].aws_iam_instance_profile.isolation
}
