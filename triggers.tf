# ---------------------------------------------------------------------------------------------------
# More triggers, same isolation (both off by default): a GuardDuty finding about an instance, and
# Security Hub findings an analyst sends to the module's custom action. Each rule targets the same
# function, with the same retry policy and dead-letter queue as the tag rule; the function re-checks
# what the rule matched (the filter is in its environment) and records which trigger it was.
# ---------------------------------------------------------------------------------------------------

locals {
  guardduty_rule_name    = "${var.name}-on-guardduty-finding"
  guardduty_rule_arn     = "arn:${local.partition}:events:${local.region}:${local.account_id}:rule/${local.guardduty_rule_name}"
  security_hub_rule_name = "${var.name}-on-security-hub-action"
  security_hub_rule_arn  = "arn:${local.partition}:events:${local.region}:${local.account_id}:rule/${local.security_hub_rule_name}"
  # Built from the identifier (known at plan time); the action target's postcondition checks it.
  security_hub_action_arn = "arn:${local.partition}:securityhub:${local.region}:${local.account_id}:action/custom/${var.security_hub_action_identifier}"

  # The rules that may send undelivered events to the dead-letter queue (failure.tf).
  trigger_rule_arns = concat(
    var.guardduty_trigger_enabled ? [local.guardduty_rule_arn] : [],
    var.security_hub_action_enabled ? [local.security_hub_rule_arn] : [],
  )

  # The accounts whose findings the function serves (a GuardDuty administrator's bus carries its
  # members' findings), when known at plan time (organization.tf): this account alone, or this account and
  # the listed members; with only organization_id, any account (empty: no filter).
  guardduty_finding_accounts = (
    !local.organization_enabled ? [local.account_id] :
    length(var.member_account_ids) > 0 ? distinct(concat([local.account_id], var.member_account_ids)) :
    []
  )

  # A GuardDuty finding about an EC2 instance of a served account, at or above the minimum severity, of
  # one of the types (any type when the list is empty).
  guardduty_event_pattern = {
    source      = ["aws.guardduty"]
    detail-type = ["GuardDuty Finding"]
    detail = merge(
      {
        resource = { resourceType = ["Instance"] }
        severity = [{ numeric = [">=", var.guardduty_minimum_severity] }]
      },
      {
        for key, values in { type = var.guardduty_finding_types, accountId = local.guardduty_finding_accounts } :
        key => values if length(values) > 0
      },
    )
  }

  # Findings sent to this module's custom action, and to no other.
  security_hub_event_pattern = {
    source      = ["aws.securityhub"]
    detail-type = ["Security Hub Findings - Custom Action"]
    resources   = [local.security_hub_action_arn]
  }

  # The function's view of the triggers: only set when one is on, so that a deployment without them
  # keeps the environment it had (the handler's defaults: both off).
  trigger_environment = merge(
    var.guardduty_trigger_enabled ? {
      GUARDDUTY_TRIGGER          = "true"
      GUARDDUTY_MINIMUM_SEVERITY = tostring(var.guardduty_minimum_severity)
      GUARDDUTY_FINDING_TYPES    = jsonencode(var.guardduty_finding_types)
    } : {},
    var.security_hub_action_enabled ? { SECURITY_HUB_ACTION_ARN = local.security_hub_action_arn } : {},
  )
}

# ---- GuardDuty ------------------------------------------------------------------------------------

resource "aws_cloudwatch_event_rule" "guardduty" {
  count = var.guardduty_trigger_enabled ? 1 : 0

  name          = local.guardduty_rule_name
  description   = "Isolates the EC2 instance of a GuardDuty finding of severity ${var.guardduty_minimum_severity} or more."
  event_pattern = jsonencode(local.guardduty_event_pattern)
  tags          = var.tags

  lifecycle {
    postcondition {
      condition     = self.arn == local.guardduty_rule_arn
      error_message = "The rule ARN ${self.arn} differs from the one the dead-letter queue accepts events from (${local.guardduty_rule_arn})."
    }
  }
}

resource "aws_cloudwatch_event_target" "guardduty" {
  count = var.guardduty_trigger_enabled ? 1 : 0

  rule      = aws_cloudwatch_event_rule.guardduty[0].name
  target_id = "isolation-lambda"
  arn       = aws_lambda_function.this.arn

  retry_policy {
    maximum_retry_attempts       = var.event_target_maximum_retry_attempts
    maximum_event_age_in_seconds = var.event_target_maximum_event_age_in_seconds
  }

  dead_letter_config {
    arn = aws_sqs_queue.dead_letter.arn
  }
}

resource "aws_lambda_permission" "guardduty" {
  count = var.guardduty_trigger_enabled ? 1 : 0

  statement_id  = "AllowInvokeFromGuardDutyFindingRule"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.this.function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.guardduty[0].arn
}

# ---- Security Hub custom action -------------------------------------------------------------------

# Security Hub must be enabled in the account and region (this module does not enable it).
resource "aws_securityhub_action_target" "this" {
  count = var.security_hub_action_enabled ? 1 : 0

  name        = var.security_hub_action_name
  identifier  = var.security_hub_action_identifier
  description = var.security_hub_action_description

  lifecycle {
    postcondition {
      condition     = self.arn == local.security_hub_action_arn
      error_message = "The custom action ARN ${self.arn} differs from the one the rule and the function expect (${local.security_hub_action_arn})."
    }
  }
}

resource "aws_cloudwatch_event_rule" "security_hub" {
  count = var.security_hub_action_enabled ? 1 : 0

  name          = local.security_hub_rule_name
  description   = "Isolates the EC2 instances of the Security Hub findings sent to the custom action ${var.security_hub_action_name}."
  event_pattern = jsonencode(local.security_hub_event_pattern)
  tags          = var.tags

  lifecycle {
    postcondition {
      condition     = self.arn == local.security_hub_rule_arn
      error_message = "The rule ARN ${self.arn} differs from the one the dead-letter queue accepts events from (${local.security_hub_rule_arn})."
    }
  }

  depends_on = [aws_securityhub_action_target.this]
}

resource "aws_cloudwatch_event_target" "security_hub" {
  count = var.security_hub_action_enabled ? 1 : 0

  rule      = aws_cloudwatch_event_rule.security_hub[0].name
  target_id = "isolation-lambda"
  arn       = aws_lambda_function.this.arn

  retry_policy {
    maximum_retry_attempts       = var.event_target_maximum_retry_attempts
    maximum_event_age_in_seconds = var.event_target_maximum_event_age_in_seconds
  }

  dead_letter_config {
    arn = aws_sqs_queue.dead_letter.arn
  }
}

resource "aws_lambda_permission" "security_hub" {
  count = var.security_hub_action_enabled ? 1 : 0

  statement_id  = "AllowInvokeFromSecurityHubActionRule"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.this.function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.security_hub[0].arn
}
