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
}

data "aws_iam_policy_document" "lambda" {
  statement {
    sid       = "Logs"
    effect    = "Allow"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${local.log_group_arn}:*"]
  }

  statement {
    # These EC2 read actions do not support resource-level permissions.
    sid    = "Describe"
    effect = "Allow"
    actions = [
      "ec2:DescribeIamInstanceProfileAssociations",
      "ec2:DescribeInstances",
      "ec2:DescribeNetworkInterfaces",
      "ec2:DescribeSecurityGroupRules",
      "ec2:DescribeSecurityGroups",
    ]
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
    sid       = "SwapInstanceProfile"
    effect    = "Allow"
    actions   = ["ec2:AssociateIamInstanceProfile", "ec2:ReplaceIamInstanceProfileAssociation"]
    resources = ["${local.arn_prefix_ec2}:instance/*"]
  }

  statement {
    # The Lambda may only write its own status tags, never the trigger tag or any other tag.
    sid       = "TagInstanceStatus"
    effect    = "Allow"
    actions   = ["ec2:CreateTags"]
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
