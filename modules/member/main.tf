# ---------------------------------------------------------------------------------------------------
# Member account, one region: forwards the isolation tag events (and, forward_api_calls, the API calls
# that can undo an isolation, for the central reconciler) to the central (security) account's bus, and
# (create_iam, once per account) lets the central function act here through the executor role.
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
  forwarder_role_name = "${var.name}-forwarder"
  rule_name           = "${var.name}-forward-isolation-tag"
  api_call_rule_name  = "${var.name}-forward-api-calls"
  dead_letter_name    = "${var.name}-forward-dead-letters"

  executor_role_arn  = "arn:${local.partition}:iam::${local.account_id}:role${var.iam_role_path}${local.executor_role_name}"
  forwarder_role_arn = "arn:${local.partition}:iam::${local.account_id}:role${var.iam_role_path}${local.forwarder_role_name}"
  rule_arn           = "arn:${local.partition}:events:${local.region}:${local.account_id}:rule/${local.rule_name}"
  api_call_rule_arn  = "arn:${local.partition}:events:${local.region}:${local.account_id}:rule/${local.api_call_rule_name}"
  dead_letter_arn    = "arn:${local.partition}:sqs:${local.region}:${local.account_id}:${local.dead_letter_name}"
}

# ---------------------------------------------------------------------------------------------------
# The isolation target: the central module's own definition (modules/isolation-target), for this
# account: the event pattern the forwarding rule matches (the central rule's), the statements of the
# executor role (executor.tf) in this account and the regions given, and (create_iam) the deny-all
# isolation role and instance profile, named as the central function expects
# (arn:<partition>:iam::<account>:instance-profile<path><name>-isolation).
# ---------------------------------------------------------------------------------------------------

module "isolation_target" {
  source = "../isolation-target"

  name                = var.name
  isolation_tag_key   = var.isolation_tag_key
  isolation_tag_value = var.isolation_tag_value
  release_tag_value   = var.release_tag_value

  partition  = local.partition
  account_id = local.account_id
  regions    = var.regions == null ? ["*"] : var.regions
  steps      = merge(var.isolation_steps, { evidence_custody = var.evidence_custody })
  # The evidence snapshots' intermediate copies (evidence.tf) are shared with the central account only.
  evidence_custody_account_id = var.central_account_id
  evidence_source_key_arns    = var.evidence_source_key_arns
  # The copy into custody is the central account's (the central module's iam.tf).
  evidence_custody_account_statements = {}
  # Never passed to an instance, never given a revocation policy.
  own_role_arns = [local.executor_role_arn, local.forwarder_role_arn]
  # The API calls the central function makes here (through the executor role) are not forwarded.
  api_call_excluded_role_arns = [local.executor_role_arn, var.central_lambda_role_arn]

  create_iam               = var.create_iam
  iam_role_path            = var.iam_role_path
  permissions_boundary_arn = var.permissions_boundary_arn
  tags                     = var.tags
}

# The isolation role, its policy and its instance profile were this module's own resources before
# modules/isolation-target: moved, not replaced (an isolated instance keeps its profile).
moved {
  from = aws_iam_role.isolation[0]
  to   = module.isolation_target.module.iam[0].aws_iam_role.isolation
}

moved {
  from = aws_iam_role_policy.isolation[0]
  to   = module.isolation_target.module.iam[0].aws_iam_role_policy.isolation
}

moved {
  from = aws_iam_instance_profile.isolation[0]
  to   = module.isolation_target.module.iam[0].aws_iam_instance_profile.isolation
}

# ---------------------------------------------------------------------------------------------------
# Forwarding (every region)
# ---------------------------------------------------------------------------------------------------

resource "aws_cloudwatch_event_rule" "forward" {
  name          = local.rule_name
  description   = "Forwards ${var.isolation_tag_key} tag changes (${var.isolation_tag_value}, ${var.release_tag_value}) on EC2 instances to the central isolation bus."
  event_pattern = jsonencode(module.isolation_target.event_pattern)
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

# The API calls that can undo an isolation (the central reconciler's pattern, modules/isolation-target),
# by anyone but the central function: to the same bus, with the same role and dead-letter queue.
resource "aws_cloudwatch_event_rule" "forward_api_calls" {
  count = var.forward_api_calls ? 1 : 0

  name          = local.api_call_rule_name
  description   = "Forwards the API calls that can undo an EC2 isolation (CloudTrail) to the central isolation bus, for its reconciler."
  event_pattern = jsonencode(module.isolation_target.api_call_event_pattern)
  tags          = var.tags

  lifecycle {
    postcondition {
      condition     = self.arn == local.api_call_rule_arn
      error_message = "The rule ARN ${self.arn} differs from the one the forwarding role and queue trust (${local.api_call_rule_arn})."
    }
  }
}

resource "aws_cloudwatch_event_target" "forward_api_calls" {
  count = var.forward_api_calls ? 1 : 0

  rule      = aws_cloudwatch_event_rule.forward_api_calls[0].name
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
    # The events EventBridge could not forward to the central bus, from this module's rules only.
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
      values   = concat([local.rule_arn], var.forward_api_calls ? [local.api_call_rule_arn] : [])
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

    # The forwarding rules of any region of this account. Both, whether this region forwards API calls
    # or not: the role is created in one region and serves the others, which may.
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = [for name in [local.rule_name, local.api_call_rule_name] : "arn:${local.partition}:events:*:${local.account_id}:rule/${name}"]
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
