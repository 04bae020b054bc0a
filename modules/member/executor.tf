# ---------------------------------------------------------------------------------------------------
# The executor role (create_iam: once per account): the central function assumes it to isolate and
# release this account's instances. Its permissions are the containment steps' statements of the central
# function's policy, from the same definition (modules/isolation-target, main.tf) with the same switches
# (isolation_steps), in this account and the given regions, and the evidence snapshots' lock and custody
# statements (below). The central-only statements (logs, dead-letter queue, topic, result events, record
# table, the copy into custody) stay with the function's own role.
# ---------------------------------------------------------------------------------------------------

data "aws_iam_policy_document" "executor_assume_role" {
  statement {
    # Only the central function's execution role.
    sid     = "CentralFunctionAssumesRole"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "AWS"
      identifiers = [var.central_lambda_role_arn]
    }

    dynamic "condition" {
      for_each = var.external_id == null ? [] : [1]
      content {
        test     = "StringEquals"
        variable = "sts:ExternalId"
        values   = [var.external_id]
      }
    }

    dynamic "condition" {
      for_each = var.organization_id == null ? [] : [1]
      content {
        test     = "StringEquals"
        variable = "aws:PrincipalOrgID"
        values   = [var.organization_id]
      }
    }
  }
}

resource "aws_iam_role" "executor" {
  count = var.create_iam ? 1 : 0

  name                 = local.executor_role_name
  path                 = var.iam_role_path
  description          = "Assumed by the central ${var.name} EC2 isolation function to isolate and release instances of this account."
  assume_role_policy   = data.aws_iam_policy_document.executor_assume_role.json
  permissions_boundary = var.permissions_boundary_arn
  # The handler's sessions are short: one isolation.
  max_session_duration = 3600
  tags                 = var.tags

  lifecycle {
    postcondition {
      condition     = self.arn == local.executor_role_arn
      error_message = "The executor role ARN ${self.arn} differs from the convention the central function follows (${local.executor_role_arn})."
    }
  }
}

resource "aws_iam_role_policy" "executor" {
  count = var.create_iam ? 1 : 0

  name   = "isolate-ec2-instances"
  role   = one(aws_iam_role.executor[*].id)
  policy = module.isolation_target.step_policy_json
}

# The evidence snapshots' lock and custody statements (modules/isolation-target's, as the central
# function's role gets them): a managed policy of their own, beside the inline policy (IAM allows 10,240
# characters of inline policy a role).
resource "aws_iam_policy" "executor_evidence" {
  count = var.create_iam && module.isolation_target.evidence_policy ? 1 : 0

  name        = "${local.executor_role_name}-evidence"
  path        = var.iam_role_path
  description = "Lets the central ${var.name} EC2 isolation function lock this account's evidence snapshots and take them into custody, through the executor role."
  policy      = module.isolation_target.evidence_policy_json
  tags        = var.tags
}

resource "aws_iam_role_policy_attachment" "executor_evidence" {
  count = var.create_iam && module.isolation_target.evidence_policy ? 1 : 0

  role       = one(aws_iam_role.executor[*].name)
  policy_arn = aws_iam_policy.executor_evidence[0].arn
}
