# ---------------------------------------------------------------------------------------------------
# The statements each containment step needs, in the account (account_id) and the regions given (the
# central function: its own region; an executor role: the member's regions), least privilege for
# isolating and releasing one instance. A step's statements are there only while the step is on
# (steps). The caller adds what it needs besides (the central function: logs, dead-letter queue, topic,
# result events, record table).
# ---------------------------------------------------------------------------------------------------

locals {
  ec2_prefixes        = [for region in var.regions : "arn:${var.partition}:ec2:${region}:${var.account_id}"]
  instance_arns       = [for prefix in local.ec2_prefixes : "${prefix}:instance/*"]
  security_group_arns = [for prefix in local.ec2_prefixes : "${prefix}:security-group/*"]
  # Snapshot ARNs have no account id.
  snapshot_arns = [for region in var.regions : "arn:${var.partition}:ec2:${region}::snapshot/*"]

  # Read actions (no resource-level permissions), each only when a step that calls it is on.
  describe_actions = sort(concat(
    [
      "ec2:DescribeIamInstanceProfileAssociations",
      "ec2:DescribeInstances",
      "ec2:DescribeNetworkInterfaces",
      "ec2:DescribeSecurityGroupRules",
      "ec2:DescribeSecurityGroups",
    ],
    var.steps.snapshot_volumes ? ["ec2:DescribeSnapshots"] : [],
    local.lock_evidence ? ["ec2:DescribeLockedSnapshots"] : [],
    var.steps.disassociate_elastic_ips ? ["ec2:DescribeAddresses"] : [],
    var.steps.auto_scaling_action != "none" ? ["autoscaling:DescribeAutoScalingInstances"] : [],
    var.steps.deregister_from_target_groups ? ["elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:DescribeTargetHealth"] : [],
  ))
}

data "aws_iam_policy_document" "steps" {
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
    # Tags may only be written on security groups as part of creating them (TagSpecifications).
    sid       = "TagIsolationGroupOnCreate"
    effect    = "Allow"
    actions   = ["ec2:CreateTags"]
    resources = local.security_group_arns

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
    resources = local.security_group_arns

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
    # Swap at isolation; re-associate the original (or remove the isolation profile) at release.
    sid       = "SwapInstanceProfile"
    effect    = "Allow"
    actions   = ["ec2:AssociateIamInstanceProfile", "ec2:DisassociateIamInstanceProfile", "ec2:ReplaceIamInstanceProfileAssociation"]
    resources = local.instance_arns
  }

  statement {
    # The function may only write (and, at release, remove) its own status tags, never the trigger tag
    # or any other tag.
    sid       = "TagInstanceStatus"
    effect    = "Allow"
    actions   = ["ec2:CreateTags", "ec2:DeleteTags"]
    resources = local.instance_arns

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
    # The transition group (all traffic) may only be opened on the deployment's own groups.
    for_each = var.steps.untrack_connections ? [1] : []
    content {
      sid       = "OpenTransitionGroup"
      effect    = "Allow"
      actions   = ["ec2:AuthorizeSecurityGroupEgress", "ec2:AuthorizeSecurityGroupIngress"]
      resources = local.security_group_arns

      condition {
        test     = "StringEquals"
        variable = "aws:ResourceTag/${local.managed_tag_key}"
        values   = [var.name]
      }
    }
  }

  dynamic "statement" {
    # Termination protection, shutdown behaviour and DeleteOnTermination: read (recorded before the
    # change, compared at release), then set. Unlike the other reads, ec2:DescribeInstanceAttribute
    # acts on the instance resource type (Service Authorization Reference): scoped like the change.
    for_each = var.steps.protect_from_termination ? [1] : []
    content {
      sid       = "ProtectInstance"
      effect    = "Allow"
      actions   = ["ec2:DescribeInstanceAttribute", "ec2:ModifyInstanceAttribute"]
      resources = local.instance_arns
    }
  }

  dynamic "statement" {
    for_each = var.steps.snapshot_volumes ? [1] : []
    content {
      sid       = "SnapshotVolumes"
      effect    = "Allow"
      actions   = ["ec2:CreateSnapshots"]
      resources = concat(flatten([for prefix in local.ec2_prefixes : ["${prefix}:instance/*", "${prefix}:volume/*"]]), local.snapshot_arns)
    }
  }

  dynamic "statement" {
    # Tags may only be written on snapshots as part of creating them.
    for_each = var.steps.snapshot_volumes ? [1] : []
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
    for_each = var.steps.revoke_credentials ? [1] : []
    content {
      sid       = "FindInstanceRole"
      effect    = "Allow"
      actions   = ["iam:GetInstanceProfile"]
      resources = ["arn:${var.partition}:iam::${var.account_id}:instance-profile/*"]
    }
  }

  dynamic "statement" {
    # The most powerful grant of the module: limit it with credential_revocation_role_path.
    for_each = var.steps.revoke_credentials ? [1] : []
    content {
      sid       = "RevokeInstanceCredentials"
      effect    = "Allow"
      actions   = ["iam:GetRolePolicy", "iam:PutRolePolicy"]
      resources = ["arn:${var.partition}:iam::${var.account_id}:role${var.steps.credential_revocation_role_path}*"]
    }
  }

  dynamic "statement" {
    # ...and never on the deployment's own roles: the function must not widen its own permissions.
    for_each = var.steps.revoke_credentials ? [1] : []
    content {
      sid       = "NeverOnOwnRoles"
      effect    = "Deny"
      actions   = ["iam:PutRolePolicy"]
      resources = concat(var.own_role_arns, [local.isolation_role_arn])
    }
  }

  dynamic "statement" {
    for_each = var.steps.auto_scaling_action == "none" ? [] : [1]
    content {
      # Out of the group at isolation, back in at release.
      sid       = "LeaveAutoScalingGroup"
      effect    = "Allow"
      actions   = var.steps.auto_scaling_action == "detach" ? ["autoscaling:AttachInstances", "autoscaling:DetachInstances"] : ["autoscaling:EnterStandby", "autoscaling:ExitStandby"]
      resources = [for region in var.regions : "arn:${var.partition}:autoscaling:${region}:${var.account_id}:autoScalingGroup:*:autoScalingGroupName/*"]
    }
  }

  dynamic "statement" {
    for_each = var.steps.deregister_from_target_groups ? [1] : []
    content {
      sid       = "LeaveTargetGroups"
      effect    = "Allow"
      actions   = ["elasticloadbalancing:DeregisterTargets", "elasticloadbalancing:RegisterTargets"]
      resources = [for region in var.regions : "arn:${var.partition}:elasticloadbalancing:${region}:${var.account_id}:targetgroup/*/*"]
    }
  }

  dynamic "statement" {
    for_each = var.steps.disassociate_elastic_ips ? [1] : []
    content {
      # DisassociateAddress acts on the address and the interface only (Service Authorization Reference);
      # the release's AssociateAddress also names the instance.
      sid       = "DisassociateElasticIps"
      effect    = "Allow"
      actions   = ["ec2:DisassociateAddress"]
      resources = flatten([for prefix in local.ec2_prefixes : ["${prefix}:elastic-ip/*", "${prefix}:network-interface/*"]])
    }
  }

  dynamic "statement" {
    for_each = var.steps.disassociate_elastic_ips ? [1] : []
    content {
      sid       = "ReassociateElasticIps"
      effect    = "Allow"
      actions   = ["ec2:AssociateAddress"]
      resources = flatten([for prefix in local.ec2_prefixes : ["${prefix}:elastic-ip/*", "${prefix}:network-interface/*", "${prefix}:instance/*"]])
    }
  }

  statement {
    # A release re-associates the instance's original profile: its role is passed to EC2. Limit the
    # roles with release_role_path.
    sid       = "PassOriginalRoles"
    effect    = "Allow"
    actions   = ["iam:PassRole"]
    resources = ["arn:${var.partition}:iam::${var.account_id}:role${var.steps.release_role_path}*"]

    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ec2.amazonaws.com"]
    }
  }

  statement {
    # ...never the deployment's own roles: no instance may run with the isolation automation's
    # permissions.
    sid       = "NeverPassOwnRole"
    effect    = "Deny"
    actions   = ["iam:PassRole"]
    resources = var.own_role_arns
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
