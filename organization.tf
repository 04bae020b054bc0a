# ---------------------------------------------------------------------------------------------------
# Organization layout: this (security) account runs the function; member accounts (modules/member)
# forward their isolation tag events (and the API calls the reconciler acts on) to this account's
# default bus, and the function assumes their executor role to isolate there. Nothing here exists
# while neither member_account_ids nor organization_id is set.
#
#   member account, each region                     security account (this module)
#   tag change ─▶ forwarding rule ─▶ PutEvents ──▶ default bus (policy below) ─▶ rule ─▶ Lambda
#                                                                                          │
#   executor role <─────────────── sts:AssumeRole (grant below, scoped) ──────────────────┘
# ---------------------------------------------------------------------------------------------------

locals {
  organization_enabled = length(var.member_account_ids) > 0 || var.organization_id != null
  executor_role_name   = coalesce(var.executor_role_name, "${var.name}-executor")
  # In every member account (the function assumes the role of the event's account), by name: the
  # conditions below limit the accounts.
  executor_role_arns = "arn:${local.partition}:iam::*:role${var.iam_role_path}${local.executor_role_name}"

  # Who may put events on the default bus, and which roles the function may assume: the listed
  # accounts, the organization's accounts, or (both set) the listed accounts that are in it.
  member_conditions = concat(
    length(var.member_account_ids) > 0 ? [{ test = "StringEquals", variable = "aws:ResourceAccount", values = var.member_account_ids }] : [],
    var.organization_id != null ? [{ test = "StringEquals", variable = "aws:ResourceOrgID", values = [var.organization_id] }] : [],
  )
}

data "aws_iam_policy_document" "event_bus" {
  count = local.organization_enabled ? 1 : 0

  statement {
    # Only the isolation tag events (what modules/member's forwarding rule sends), only onto this bus.
    sid       = "MemberAccountsForwardIsolationTagEvents"
    effect    = "Allow"
    actions   = ["events:PutEvents"]
    resources = [local.default_event_bus_arn]

    principals {
      type        = "AWS"
      identifiers = length(var.member_account_ids) > 0 ? [for id in var.member_account_ids : "arn:${local.partition}:iam::${id}:root"] : ["*"]
    }

    dynamic "condition" {
      for_each = var.organization_id == null ? [] : [1]
      content {
        test     = "StringEquals"
        variable = "aws:PrincipalOrgID"
        values   = [var.organization_id]
      }
    }

    condition {
      test     = "StringEquals"
      variable = "events:source"
      values   = [module.isolation_target.event_pattern.source[0]]
    }

    condition {
      test     = "StringEquals"
      variable = "events:detail-type"
      values   = module.isolation_target.event_pattern.detail-type
    }
  }

  dynamic "statement" {
    # The API calls that can undo an isolation (modules/member forward_api_calls), while the reconciler
    # acts on them: the same principals, only those sources and that detail-type.
    for_each = var.reconcile_on_api_calls ? [1] : []
    content {
      sid       = "MemberAccountsForwardApiCallEvents"
      effect    = "Allow"
      actions   = ["events:PutEvents"]
      resources = [local.default_event_bus_arn]

      principals {
        type        = "AWS"
        identifiers = length(var.member_account_ids) > 0 ? [for id in var.member_account_ids : "arn:${local.partition}:iam::${id}:root"] : ["*"]
      }

      dynamic "condition" {
        for_each = var.organization_id == null ? [] : [1]
        content {
          test     = "StringEquals"
          variable = "aws:PrincipalOrgID"
          values   = [var.organization_id]
        }
      }

      condition {
        test     = "StringEquals"
        variable = "events:source"
        values   = module.isolation_target.api_call_event_pattern.source
      }

      condition {
        test     = "StringEquals"
        variable = "events:detail-type"
        values   = module.isolation_target.api_call_event_pattern.detail-type
      }
    }
  }
}

# The default bus has a single resource policy: this one replaces any other on it.
resource "aws_cloudwatch_event_bus_policy" "organization" {
  count = local.organization_enabled ? 1 : 0

  event_bus_name = "default"
  policy         = one(data.aws_iam_policy_document.event_bus[*].json)
}

data "aws_iam_policy_document" "assume_executor" {
  count = local.organization_enabled ? 1 : 0

  statement {
    # The executor role of the event's account, in the member accounts only. The session the handler
    # opens is further scoped by a session policy to the isolation steps.
    sid       = "AssumeMemberExecutorRoles"
    effect    = "Allow"
    actions   = ["sts:AssumeRole"]
    resources = [local.executor_role_arns]

    dynamic "condition" {
      for_each = local.member_conditions
      content {
        test     = condition.value.test
        variable = condition.value.variable
        values   = condition.value.values
      }
    }
  }
}

resource "aws_iam_role_policy" "assume_executor" {
  count = local.organization_enabled ? 1 : 0

  name   = "assume-member-executor-roles"
  role   = aws_iam_role.lambda.id
  policy = one(data.aws_iam_policy_document.assume_executor[*].json)
}
