# ---------------------------------------------------------------------------------------------------
# Member account, one region: forwards the isolation tag events to the central (security) account's
# bus, and (create_iam, once per account) lets the central function act here through the executor role.
#
# Naming convention the central function relies on (same name and iam_role_path as the central module):
#   executor role     arn:<partition>:iam::<member account>:role<path><name>-executor
#   isolation profile arn:<partition>:iam::<member account>:instance-profile<path><name>-isolation
#   isolation role    arn:<partition>:iam::<member account>:role<path><name>-isolation
# ---------------------------------------------------------------------------------------------------

data "aws_partition" "current" {}

data "aws_caller_identity" "current" {}

# The provider's region, without a deprecated attribute on hashicorp/aws 5.x or 6.x (see the root main.tf).
data "aws_service" "events" {
  service_id = "events"
}

locals {
  partition  = data.aws_partition.current.partition
  region     = data.aws_service.events.region
  account_id = data.aws_caller_identity.current.account_id

  central_event_bus_arn = coalesce(
    var.central_event_bus_arn,
    "arn:${local.partition}:events:${coalesce(var.central_region, local.region)}:${var.central_account_id}:event-bus/default",
  )

  executor_role_name  = "${var.name}-executor"
  isolation_role_name = "${var.name}-isolation"
  forwarder_role_name = "${var.name}-forwarder"
  rule_name           = "${var.name}-forward-isolation-tag"
  dead_letter_name    = "${var.name}-forward-dead-letters"

  executor_role_arn              = "arn:${local.partition}:iam::${local.account_id}:role${var.iam_role_path}${local.executor_role_name}"
  isolation_role_arn             = "arn:${local.partition}:iam::${local.account_id}:role${var.iam_role_path}${local.isolation_role_name}"
  isolation_instance_profile_arn = "arn:${local.partition}:iam::${local.account_id}:instance-profile${var.iam_role_path}${local.isolation_role_name}"
  forwarder_role_arn             = "arn:${local.partition}:iam::${local.account_id}:role${var.iam_role_path}${local.forwarder_role_name}"
  rule_arn                       = "arn:${local.partition}:events:${local.region}:${local.account_id}:rule/${local.rule_name}"
  dead_letter_arn                = "arn:${local.partition}:sqs:${local.region}:${local.account_id}:${local.dead_letter_name}"

  # The same pattern as the central module's rule (main.tf there; a plan test holds them equal).
  event_pattern = {
    source      = ["aws.tag"]
    detail-type = ["Tag Change on Resource"]
    detail = {
      service          = ["ec2"]
      resource-type    = ["instance"]
      changed-tag-keys = [var.isolation_tag_key]
      tags = {
        (var.isolation_tag_key) = [var.isolation_tag_value, var.release_tag_value]
      }
    }
  }
}

# ---------------------------------------------------------------------------------------------------
# Forwarding (every region)
# ---------------------------------------------------------------------------------------------------

resource "aws_cloudwatch_event_rule" "forward" {
  name          = local.rule_name
  description   = "Forwards ${var.isolation_tag_key} tag changes (${var.isolation_tag_value}, ${var.release_tag_value}) on EC2 instances to the central isolation bus."
  event_pattern = jsonencode(local.event_pattern)
  tags          = var.tags

  lifecycle {
    precondition {
      condition     = var.release_tag_value != var.isolation_tag_value
      error_message = "release_tag_value must differ from isolation_tag_value: one value cannot both isolate and release."
    }

    precondition {
      condition     = split(":", local.central_event_bus_arn)[4] == var.central_account_id
      error_message = "central_event_bus_arn must be a bus of central_account_id."
    }

    postcondition {
      condition     = self.arn == local.rule_arn
      error_message = "The rule ARN ${self.arn} differs from the one the forwarding role and queue trust (${local.rule_arn})."
    }
  }
}

resource "aws_cloudwatch_event_target" "forward" {
  rule      = aws_cloudwatch_event_rule.forward.name
  target_id = "central-isolation-bus"
  arn       = local.central_event_bus_arn
  role_arn  = local.forwarder_role_arn

  retry_policy {
    maximum_retry_attempts       = var.event_target_maximum_retry_attempts
    maximum_event_age_in_seconds = 86400
  }

  dead_letter_config {
    arn = aws_sqs_queue.dead_letter.arn
  }

  depends_on = [aws_iam_role_policy.forwarder]
}

resource "aws_sqs_queue" "dead_letter" {
  name                      = local.dead_letter_name
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = true
  policy                    = data.aws_iam_policy_document.dead_letter.json
  tags                      = var.tags

  lifecycle {
    postcondition {
      condition     = self.arn == local.dead_letter_arn
      error_message = "The dead-letter queue ARN ${self.arn} differs from the one its policy names (${local.dead_letter_arn})."
    }
  }
}

data "aws_iam_policy_document" "dead_letter" {
  statement {
    # The events EventBridge could not forward to the central bus, from this rule only.
    sid       = "EventBridgeUndeliveredEvents"
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = [local.dead_letter_arn]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [local.rule_arn]
    }
  }
}

# ---------------------------------------------------------------------------------------------------
# IAM (global: once per account, create_iam)
# ---------------------------------------------------------------------------------------------------

data "aws_iam_policy_document" "forwarder_assume_role" {
  statement {
    sid     = "EventBridgeAssumesRole"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }

    # The forwarding rule of any region of this account.
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:events:*:${local.account_id}:rule/${local.rule_name}"]
    }
  }
}

resource "aws_iam_role" "forwarder" {
  count = var.create_iam ? 1 : 0

  name                 = local.forwarder_role_name
  path                 = var.iam_role_path
  description          = "EventBridge forwards the ${var.name} isolation tag events to the central bus with this role."
  assume_role_policy   = data.aws_iam_policy_document.forwarder_assume_role.json
  permissions_boundary = var.permissions_boundary_arn
  tags                 = var.tags

  lifecycle {
    postcondition {
      condition     = self.arn == local.forwarder_role_arn
      error_message = "The forwarding role ARN ${self.arn} differs from the one the targets use (${local.forwarder_role_arn})."
    }
  }
}

data "aws_iam_policy_document" "forwarder" {
  statement {
    sid       = "PutOnCentralBus"
    effect    = "Allow"
    actions   = ["events:PutEvents"]
    resources = [local.central_event_bus_arn]
  }
}

resource "aws_iam_role_policy" "forwarder" {
  count = var.create_iam ? 1 : 0

  name   = "put-events-on-central-bus"
  role   = one(aws_iam_role.forwarder[*].id)
  policy = data.aws_iam_policy_document.forwarder.json
}

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
  policy = data.aws_iam_policy_document.executor.json
}

# The isolation role and profile: deny-all, the same as the central module's (iam.tf there).
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
  count = var.create_iam ? 1 : 0

  name                 = local.isolation_role_name
  path                 = var.iam_role_path
  description          = "Deny-all role of EC2 instances isolated by ${var.name}."
  assume_role_policy   = data.aws_iam_policy_document.isolation_assume_role.json
  permissions_boundary = var.permissions_boundary_arn
  tags                 = var.tags

  lifecycle {
    postcondition {
      condition     = self.arn == local.isolation_role_arn
      error_message = "The isolation role ARN ${self.arn} differs from the one the executor may pass (${local.isolation_role_arn})."
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
  count = var.create_iam ? 1 : 0

  name   = "deny-all"
  role   = one(aws_iam_role.isolation[*].id)
  policy = data.aws_iam_policy_document.isolation.json
}

resource "aws_iam_instance_profile" "isolation" {
  count = var.create_iam ? 1 : 0

  name = local.isolation_role_name
  path = var.iam_role_path
  role = one(aws_iam_role.isolation[*].name)
  tags = var.tags

  lifecycle {
    postcondition {
      condition     = self.arn == local.isolation_instance_profile_arn
      error_message = "The isolation instance profile ARN ${self.arn} differs from the convention the central function follows (${local.isolation_instance_profile_arn})."
    }
  }
}
