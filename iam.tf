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
    # A dead-letter queue encrypted with a customer managed key: SQS uses the key on the sender's behalf.
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

  statement {
    # These read actions do not support resource-level permissions.
    sid       = "Describe"
    effect    = "Allow"
    actions   = local.describe_actions
    resources = ["*"]
  }

  statement {
    sid     = "CreateIsolationGroup"
    effect  = "Allow"
    actions = ["ec2:CreateSecurityGroup"]
    resources = [
      "${local.arn_prefix_ec2}:vpc/*",
      "${local.arn_prefix_ec2}:security-group/*",
    ]
  }

  statement {
    # Tags may only be written on security groups as part of creating them (TagSpecifications).
    sid       = "TagIsolationGroupOnCreate"
    effect    = "Allow"
    actions   = ["ec2:CreateTags"]
    resources = ["${local.arn_prefix_ec2}:security-group/*"]

    condition {
      test     = "StringEquals"
      variable = "ec2:CreateAction"
      values   = ["CreateSecurityGroup"]
    }
  }

  statement {
    # Only groups this deployment created (managed-by tag) can have their rules revoked, to remove the
    # default allow-all egress rule.
    sid       = "SealIsolationGroup"
    effect    = "Allow"
    actions   = ["ec2:RevokeSecurityGroupEgress", "ec2:RevokeSecurityGroupIngress"]
    resources = ["${local.arn_prefix_ec2}:security-group/*"]

    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/${local.managed_tag_key}"
      values   = [var.name]
    }
  }

  statement {
    sid     = "MoveEnis"
    effect  = "Allow"
    actions = ["ec2:ModifyNetworkInterfaceAttribute"]
    resources = [
      "${local.arn_prefix_ec2}:network-interface/*",
      "${local.arn_prefix_ec2}:security-group/*",
      "${local.arn_prefix_ec2}:instance/*",
    ]
  }

  statement {
    # Swap at isolation; re-associate the original (or remove the isolation profile) at release.
    sid       = "SwapInstanceProfile"
    effect    = "Allow"
    actions   = ["ec2:AssociateIamInstanceProfile", "ec2:DisassociateIamInstanceProfile", "ec2:ReplaceIamInstanceProfileAssociation"]
    resources = ["${local.arn_prefix_ec2}:instance/*"]
  }

  statement {
    # The Lambda may only write (and, at release, remove) its own status tags, never the trigger tag or
    # any other tag.
    sid       = "TagInstanceStatus"
    effect    = "Allow"
    actions   = ["ec2:CreateTags", "ec2:DeleteTags"]
    resources = ["${local.arn_prefix_ec2}:instance/*"]

    condition {
      test     = "ForAllValues:StringLike"
      variable = "aws:TagKeys"
      values   = ["${local.status_tag_prefix}*"]
    }

    # ForAllValues is also true for a request without tag keys: require them.
    condition {
      test     = "Null"
      variable = "aws:TagKeys"
      values   = ["false"]
    }
  }

  dynamic "statement" {
    # The transition group (all traffic) may only be opened on the module's own groups.
    for_each = var.untrack_connections ? [1] : []
    content {
      sid       = "OpenTransitionGroup"
      effect    = "Allow"
      actions   = ["ec2:AuthorizeSecurityGroupEgress", "ec2:AuthorizeSecurityGroupIngress"]
      resources = ["${local.arn_prefix_ec2}:security-group/*"]

      condition {
        test     = "StringEquals"
        variable = "aws:ResourceTag/${local.managed_tag_key}"
        values   = [var.name]
      }
    }
  }

  dynamic "statement" {
    # Termination protection, shutdown behaviour and DeleteOnTermination.
    for_each = var.protect_from_termination ? [1] : []
    content {
      sid       = "ProtectInstance"
      effect    = "Allow"
      actions   = ["ec2:ModifyInstanceAttribute"]
      resources = ["${local.arn_prefix_ec2}:instance/*"]
    }
  }

  dynamic "statement" {
    for_each = var.snapshot_volumes ? [1] : []
    content {
      sid     = "SnapshotVolumes"
      effect  = "Allow"
      actions = ["ec2:CreateSnapshots"]
      resources = [
        "${local.arn_prefix_ec2}:instance/*",
        "${local.arn_prefix_ec2}:volume/*",
        # Snapshot ARNs have no account id.
        "arn:${local.partition}:ec2:${local.region}::snapshot/*",
      ]
    }
  }

  dynamic "statement" {
    # Tags may only be written on snapshots as part of creating them.
    for_each = var.snapshot_volumes ? [1] : []
    content {
      sid       = "TagSnapshotsOnCreate"
      effect    = "Allow"
      actions   = ["ec2:CreateTags"]
      resources = ["arn:${local.partition}:ec2:${local.region}::snapshot/*"]

      condition {
        test     = "StringEquals"
        variable = "ec2:CreateAction"
        values   = ["CreateSnapshots"]
      }
    }
  }

  dynamic "statement" {
    for_each = var.revoke_credentials ? [1] : []
    content {
      sid       = "FindInstanceRole"
      effect    = "Allow"
      actions   = ["iam:GetInstanceProfile"]
      resources = ["arn:${local.partition}:iam::${local.account_id}:instance-profile/*"]
    }
  }

  dynamic "statement" {
    # The most powerful grant of the module: limit it with credential_revocation_role_path.
    for_each = var.revoke_credentials ? [1] : []
    content {
      sid       = "RevokeInstanceCredentials"
      effect    = "Allow"
      actions   = ["iam:GetRolePolicy", "iam:PutRolePolicy"]
      resources = ["arn:${local.partition}:iam::${local.account_id}:role${var.credential_revocation_role_path}*"]
    }
  }

  dynamic "statement" {
    # ...and never on the module's own roles: the Lambda must not widen its own permissions.
    for_each = var.revoke_credentials ? [1] : []
    content {
      sid       = "NeverOnOwnRoles"
      effect    = "Deny"
      actions   = ["iam:PutRolePolicy"]
      resources = [local.lambda_role_arn, local.isolation_role_arn]
    }
  }

  dynamic "statement" {
    for_each = var.auto_scaling_action == "none" ? [] : [1]
    content {
      # Out of the group at isolation, back in at release.
      sid       = "LeaveAutoScalingGroup"
      effect    = "Allow"
      actions   = var.auto_scaling_action == "detach" ? ["autoscaling:AttachInstances", "autoscaling:DetachInstances"] : ["autoscaling:EnterStandby", "autoscaling:ExitStandby"]
      resources = ["arn:${local.partition}:autoscaling:${local.region}:${local.account_id}:autoScalingGroup:*:autoScalingGroupName/*"]
    }
  }

  dynamic "statement" {
    for_each = var.deregister_from_target_groups ? [1] : []
    content {
      sid       = "LeaveTargetGroups"
      effect    = "Allow"
      actions   = ["elasticloadbalancing:DeregisterTargets", "elasticloadbalancing:RegisterTargets"]
      resources = ["arn:${local.partition}:elasticloadbalancing:${local.region}:${local.account_id}:targetgroup/*/*"]
    }
  }

  dynamic "statement" {
    for_each = var.disassociate_elastic_ips ? [1] : []
    content {
      sid     = "DisassociateElasticIps"
      effect  = "Allow"
      actions = ["ec2:AssociateAddress", "ec2:DisassociateAddress"]
      resources = [
        "${local.arn_prefix_ec2}:elastic-ip/*",
        "${local.arn_prefix_ec2}:network-interface/*",
        "${local.arn_prefix_ec2}:instance/*",
      ]
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

  statement {
    # A release re-associates the instance's original profile: its role is passed to EC2. Limit the
    # roles with release_role_path.
    sid       = "PassOriginalRoles"
    effect    = "Allow"
    actions   = ["iam:PassRole"]
    resources = ["arn:${local.partition}:iam::${local.account_id}:role${var.release_role_path}*"]

    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ec2.amazonaws.com"]
    }
  }

  statement {
    # ...never the Lambda's own role: no instance may run with the isolation automation's permissions.
    sid       = "NeverPassOwnRole"
    effect    = "Deny"
    actions   = ["iam:PassRole"]
    resources = [local.lambda_role_arn]
  }

  statement {
    sid       = "PassIsolationRole"
    effect    = "Allow"
    actions   = ["iam:PassRole"]
    resources = [local.isolation_role_arn]

    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "lambda" {
  name   = "isolate-ec2-instances"
  role   = aws_iam_role.lambda.id
  policy = data.aws_iam_policy_document.lambda.json
}

# ---------------------------------------------------------------------------------------------------
# Isolation role: replaces the instance profile of an isolated instance. It grants nothing, so
# credentials stolen from the instance metadata service are useless.
# ---------------------------------------------------------------------------------------------------

data "aws_iam_policy_document" "isolation_assume_role" {
  statement {
    sid     = "Ec2AssumesRole"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "isolation" {
  name                 = local.isolation_role_name
  path                 = var.iam_role_path
  description          = "Deny-all role of EC2 instances isolated by ${var.name}."
  assume_role_policy   = data.aws_iam_policy_document.isolation_assume_role.json
  permissions_boundary = var.permissions_boundary_arn
  tags                 = var.tags

  lifecycle {
    postcondition {
      condition     = self.arn == local.isolation_role_arn
      error_message = "The isolation role ARN ${self.arn} differs from the one the Lambda may pass (${local.isolation_role_arn})."
    }
  }
}

data "aws_iam_policy_document" "isolation" {
  statement {
    sid       = "DenyEverything"
    effect    = "Deny"
    actions   = ["*"]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "isolation" {
  name   = "deny-all"
  role   = aws_iam_role.isolation.id
  policy = data.aws_iam_policy_document.isolation.json
}

resource "aws_iam_instance_profile" "isolation" {
  name = local.isolation_role_name
  path = var.iam_role_path
  role = aws_iam_role.isolation.name
  tags = var.tags

  lifecycle {
    postcondition {
      condition     = self.arn == local.isolation_instance_profile_arn
      error_message = "The isolation instance profile ARN ${self.arn} differs from the one given to the Lambda (${local.isolation_instance_profile_arn})."
    }
  }
}
