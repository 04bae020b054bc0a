# ---------------------------------------------------------------------------------------------------
# The isolation role and instance profile of one account: what an isolated instance gets instead of
# its own profile. The role grants nothing, so credentials taken from the instance metadata service are
# useless. A module of its own so that the parent creates all of it, or none of it (create_iam), with
# one count on the call; the parent computes the names and ARNs.
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
  name                 = var.name
  path                 = var.path
  description          = "Deny-all role of EC2 instances isolated by ${var.deployment_name}."
  assume_role_policy   = data.aws_iam_policy_document.isolation_assume_role.json
  permissions_boundary = var.permissions_boundary_arn
  tags                 = var.tags

  lifecycle {
    postcondition {
      condition     = self.arn == var.role_arn
      error_message = "The isolation role ARN ${self.arn} differs from the one the function (or the executor role) may pass (${var.role_arn})."
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
  name = var.name
  path = var.path
  role = aws_iam_role.isolation.name
  tags = var.tags

  lifecycle {
    postcondition {
      condition     = self.arn == var.instance_profile_arn
      error_message = "The isolation instance profile ARN ${self.arn} differs from the one the function gives isolated instances (${var.instance_profile_arn})."
    }
  }
}
