# ---------------------------------------------------------------------------------------------------
# The executor role's permissions: the isolation steps of the central function's policy (iam.tf of the
# root module, statements Describe to PassIsolationRole, with the same switches), in this account and
# the given regions. The central-only statements (logs, dead-letter queue, topic, result events, record
# table) stay with the function's own role. A plan test holds both action sets equal.
# ---------------------------------------------------------------------------------------------------

locals {
  steps             = var.isolation_steps
  status_tag_prefix = "${var.isolation_tag_key}:"
  managed_tag_key   = "${var.isolation_tag_key}:ManagedBy"
  regions           = var.regions == null ? ["*"] : var.regions

  ec2_prefixes = [for region in local.regions : "arn:${local.partition}:ec2:${region}:${local.account_id}"]
  # Snapshot ARNs have no account id.
  snapshot_arns = [for region in local.regions : "arn:${local.partition}:ec2:${region}::snapshot/*"]

  describe_actions = sort(concat(
    [
      "ec2:DescribeIamInstanceProfileAssociations",
      "ec2:DescribeInstances",
      "ec2:DescribeNetworkInterfaces",
      "ec2:DescribeSecurityGroupRules",
      "ec2:DescribeSecurityGroups",
    ],
    local.steps.protect_from_termination ? ["ec2:DescribeInstanceAttribute"] : [],
    local.steps.snapshot_volumes ? ["ec2:DescribeSnapshots"] : [],
    local.steps.disassociate_elastic_ips ? ["ec2:DescribeAddresses"] : [],
    local.steps.auto_scaling_action != "none" ? ["autoscaling:DescribeAutoScalingInstances"] : [],
    local.steps.deregister_from_target_groups ? ["elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:DescribeTargetHealth"] : [],
  ))
}

data "aws_iam_policy_document" "executor" {
  statement {
    # These read actions do not support resource-level permissions.
    sid       = "Describe"
    effect    = "Allow"
    actions   = local.describe_actions
    resources = ["*"]
  }

  statement {
    sid       = "CreateIsolationGroup"
    effect    = "Allow"
    actions   = ["ec2:CreateSecurityGroup"]
    resources = flatten([for prefix in local.ec2_prefixes : ["${prefix}:vpc/*", "${prefix}:security-group/*"]])
  }

  statement {
    sid       = "TagIsolationGroupOnCreate"
    effect    = "Allow"
    actions   = ["ec2:CreateTags"]
    resources = [for prefix in local.ec2_prefixes : "${prefix}:security-group/*"]

    condition {
      test     = "StringEquals"
      variable = "ec2:CreateAction"
      values   = ["CreateSecurityGroup"]
    }
  }

  statement {
    sid       = "SealIsolationGroup"
    effect    = "Allow"
    actions   = ["ec2:RevokeSecurityGroupEgress", "ec2:RevokeSecurityGroupIngress"]
    resources = [for prefix in local.ec2_prefixes : "${prefix}:security-group/*"]

    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/${local.managed_tag_key}"
      values   = [var.name]
    }
  }

  statement {
    sid       = "MoveEnis"
    effect    = "Allow"
    actions   = ["ec2:ModifyNetworkInterfaceAttribute"]
    resources = flatten([for prefix in local.ec2_prefixes : ["${prefix}:network-interface/*", "${prefix}:security-group/*", "${prefix}:instance/*"]])
  }

  statement {
    sid       = "SwapInstanceProfile"
    effect    = "Allow"
    actions   = ["ec2:AssociateIamInstanceProfile", "ec2:DisassociateIamInstanceProfile", "ec2:ReplaceIamInstanceProfileAssociation"]
    resources = [for prefix in local.ec2_prefixes : "${prefix}:instance/*"]
  }

  statement {
    sid       = "TagInstanceStatus"
    effect    = "Allow"
    actions   = ["ec2:CreateTags", "ec2:DeleteTags"]
    resources = [for prefix in local.ec2_prefixes : "${prefix}:instance/*"]

    condition {
      test     = "ForAllValues:StringLike"
      variable = "aws:TagKeys"
      values   = ["${local.status_tag_prefix}*"]
    }

    condition {
      test     = "Null"
      variable = "aws:TagKeys"
      values   = ["false"]
    }
  }

  dynamic "statement" {
    for_each = local.steps.untrack_connections ? [1] : []
    content {
      sid       = "OpenTransitionGroup"
      effect    = "Allow"
      actions   = ["ec2:AuthorizeSecurityGroupEgress", "ec2:AuthorizeSecurityGroupIngress"]
      resources = [for prefix in local.ec2_prefixes : "${prefix}:security-group/*"]

      condition {
        test     = "StringEquals"
        variable = "aws:ResourceTag/${local.managed_tag_key}"
        values   = [var.name]
      }
    }
  }

  dynamic "statement" {
    for_each = local.steps.protect_from_termination ? [1] : []
    content {
      sid       = "ProtectInstance"
      effect    = "Allow"
      actions   = ["ec2:ModifyInstanceAttribute"]
      resources = [for prefix in local.ec2_prefixes : "${prefix}:instance/*"]
    }
  }

  dynamic "statement" {
    for_each = local.steps.snapshot_volumes ? [1] : []
    content {
      sid       = "SnapshotVolumes"
      effect    = "Allow"
      actions   = ["ec2:CreateSnapshots"]
      resources = concat(flatten([for prefix in local.ec2_prefixes : ["${prefix}:instance/*", "${prefix}:volume/*"]]), local.snapshot_arns)
    }
  }

  dynamic "statement" {
    for_each = local.steps.snapshot_volumes ? [1] : []
    content {
      sid       = "TagSnapshotsOnCreate"
      effect    = "Allow"
      actions   = ["ec2:CreateTags"]
      resources = local.snapshot_arns

      condition {
        test     = "StringEquals"
        variable = "ec2:CreateAction"
        values   = ["CreateSnapshots"]
      }
    }
  }

  dynamic "statement" {
    for_each = local.steps.revoke_credentials ? [1] : []
    content {
      sid       = "FindInstanceRole"
      effect    = "Allow"
      actions   = ["iam:GetInstanceProfile"]
      resources = ["arn:${local.partition}:iam::${local.account_id}:instance-profile/*"]
    }
  }

  dynamic "statement" {
    for_each = local.steps.revoke_credentials ? [1] : []
    content {
      sid       = "RevokeInstanceCredentials"
      effect    = "Allow"
      actions   = ["iam:GetRolePolicy", "iam:PutRolePolicy"]
      resources = ["arn:${local.partition}:iam::${local.account_id}:role${local.steps.credential_revocation_role_path}*"]
    }
  }

  dynamic "statement" {
    # ...never on the module's own roles.
    for_each = local.steps.revoke_credentials ? [1] : []
    content {
      sid       = "NeverOnOwnRoles"
      effect    = "Deny"
      actions   = ["iam:PutRolePolicy"]
      resources = [local.executor_role_arn, local.isolation_role_arn, local.forwarder_role_arn]
    }
  }

  dynamic "statement" {
    for_each = local.steps.auto_scaling_action == "none" ? [] : [1]
    content {
      sid       = "LeaveAutoScalingGroup"
      effect    = "Allow"
      actions   = local.steps.auto_scaling_action == "detach" ? ["autoscaling:AttachInstances", "autoscaling:DetachInstances"] : ["autoscaling:EnterStandby", "autoscaling:ExitStandby"]
      resources = [for region in local.regions : "arn:${local.partition}:autoscaling:${region}:${local.account_id}:autoScalingGroup:*:autoScalingGroupName/*"]
    }
  }

  dynamic "statement" {
    for_each = local.steps.deregister_from_target_groups ? [1] : []
    content {
      sid       = "LeaveTargetGroups"
      effect    = "Allow"
      actions   = ["elasticloadbalancing:DeregisterTargets", "elasticloadbalancing:RegisterTargets"]
      resources = [for region in local.regions : "arn:${local.partition}:elasticloadbalancing:${region}:${local.account_id}:targetgroup/*/*"]
    }
  }

  dynamic "statement" {
    for_each = local.steps.disassociate_elastic_ips ? [1] : []
    content {
      sid       = "DisassociateElasticIps"
      effect    = "Allow"
      actions   = ["ec2:AssociateAddress", "ec2:DisassociateAddress"]
      resources = flatten([for prefix in local.ec2_prefixes : ["${prefix}:elastic-ip/*", "${prefix}:network-interface/*", "${prefix}:instance/*"]])
    }
  }

  statement {
    sid       = "PassOriginalRoles"
    effect    = "Allow"
    actions   = ["iam:PassRole"]
    resources = ["arn:${local.partition}:iam::${local.account_id}:role${local.steps.release_role_path}*"]

    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ec2.amazonaws.com"]
    }
  }

  statement {
    # ...never the executor's own role or the forwarding role.
    sid       = "NeverPassOwnRole"
    effect    = "Deny"
    actions   = ["iam:PassRole"]
    resources = [local.executor_role_arn, local.forwarder_role_arn]
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
