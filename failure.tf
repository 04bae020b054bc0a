# ---------------------------------------------------------------------------------------------------
# Failure path: every tagged instance ends isolated, or in the dead-letter queue with an alarm.
#
#   handler fails ──▶ Lambda retries (lambda_maximum_retry_attempts) ──▶ on-failure destination ─┐
#   EventBridge cannot invoke ──▶ target retries (event_target_*) ──▶ target dead-letter queue ──┤
#                                                                                                ▼
#                                           SQS dead-letter queue ──▶ alarm ──▶ SNS topic (if any)
#
# Errors, throttles and failed deliveries to the queue have alarms of their own.
# ---------------------------------------------------------------------------------------------------

locals {
  dead_letter_queue_name = "${var.name}-dead-letters"
  # Built from names, like every ARN of the policies, so that both are known at plan time; the queue's
  # and the rule's postconditions check them against the real ARNs.
  dead_letter_queue_arn = "arn:${local.partition}:sqs:${local.region}:${local.account_id}:${local.dead_letter_queue_name}"
  event_rule_arn        = "arn:${local.partition}:events:${local.region}:${local.account_id}:rule/${local.event_rule_name}"
  # The key to grant the Lambda (it sends the failed invocations): only a customer managed key.
  dead_letter_queue_kms_key_arn = var.dead_letter_queue_kms_key_arn

  alarm_actions = concat(local.sns_topic_arn == null ? [] : [local.sns_topic_arn], var.alarm_actions)
  lambda_alarm_dimensions = {
    FunctionName = var.name
  }
  alarms = {
    # A failed invocation: a step failed, a summary could not be sent, the event was malformed, or the
    # function timed out. Each retry that fails counts again.
    errors = {
      description = "The ${var.name} EC2 isolation function failed an invocation: an instance may not be (fully) isolated. Lambda retries it; what still fails goes to the dead-letter queue ${local.dead_letter_queue_name}."
      namespace   = "AWS/Lambda"
      metric_name = "Errors"
      statistic   = "Sum"
      dimensions  = local.lambda_alarm_dimensions
      # Lambda publishes its metrics only when the function runs: no data is no error.
      treat_missing_data = "notBreaching"
    }
    # An invocation refused for lack of concurrency (reserved_concurrent_executions): Lambda keeps the
    # event and retries it until lambda_maximum_event_age_in_seconds, then sends it to the queue.
    throttles = {
      description        = "The ${var.name} EC2 isolation function was throttled: isolations are delayed. Raise reserved_concurrent_executions if it persists."
      namespace          = "AWS/Lambda"
      metric_name        = "Throttles"
      statistic          = "Sum"
      dimensions         = local.lambda_alarm_dimensions
      treat_missing_data = "notBreaching"
    }
    # A failed invocation could not be sent to the queue (queue deleted, KMS key not usable): the
    # record of the failure is lost, so this one must never be missed.
    destination_delivery_failures = {
      description        = "The ${var.name} EC2 isolation function could not send a failed invocation to its dead-letter queue ${local.dead_letter_queue_name}: the failure is only in the function's logs."
      namespace          = "AWS/Lambda"
      metric_name        = "DestinationDeliveryFailures"
      statistic          = "Sum"
      dimensions         = local.lambda_alarm_dimensions
      treat_missing_data = "notBreaching"
    }
    # An isolation that gave up: it waits in the queue for a person to redrive it (docs/failure-handling.md,
    # "Redriving the dead-letter queue"). SQS stops publishing the metrics of a queue nobody has accessed
    # for six hours even when it holds messages, so missing data keeps the alarm's state ("ignore"): an
    # unread dead letter keeps the alarm in ALARM instead of turning it OK after six hours.
    dead_letters = {
      description = "An EC2 isolation of ${var.name} gave up and is in the dead-letter queue ${local.dead_letter_queue_name}: the instance is probably NOT isolated. Redrive it (docs/failure-handling.md of the module: Redriving the dead-letter queue)."
      namespace   = "AWS/SQS"
      metric_name = "ApproximateNumberOfMessagesVisible"
      statistic   = "Maximum"
      dimensions = {
        QueueName = local.dead_letter_queue_name
      }
      treat_missing_data = "ignore"
    }
  }
}

resource "aws_sqs_queue" "dead_letter" {
  name = local.dead_letter_queue_name
  # The longest SQS allows: a dead letter waits for a person.
  message_retention_seconds = 1209600
  # SSE-SQS unless a customer managed key is given (the two are exclusive).
  sqs_managed_sse_enabled           = local.dead_letter_queue_kms_key_arn == null ? true : null
  kms_master_key_id                 = local.dead_letter_queue_kms_key_arn
  kms_data_key_reuse_period_seconds = local.dead_letter_queue_kms_key_arn == null ? null : 300
  # Inline (the queue's ARN is built from its name): created and deleted with the queue.
  policy = data.aws_iam_policy_document.dead_letter.json
  tags   = var.tags

  lifecycle {
    postcondition {
      condition     = self.arn == local.dead_letter_queue_arn
      error_message = "The dead-letter queue ARN ${self.arn} differs from the one the function may send to (${local.dead_letter_queue_arn})."
    }
  }
}

data "aws_iam_policy_document" "dead_letter" {
  statement {
    # The target dead-letter queue of the module's rules: EventBridge sends the events it could not
    # deliver to the function, for these rules only. The Lambda's on-failure destination and the
    # reconcile queue's redrive need no statement here: the first sends with the function's role
    # (iam.tf), in the same account, and SQS itself moves what the second redrives.
    sid       = "EventBridgeUndeliveredEvents"
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = [local.dead_letter_queue_arn]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      # and the finding triggers' rules, when they are on (triggers.tf), and the reconciler's rules
      # (reconcile.tf)
      values = concat([local.event_rule_arn], local.trigger_rule_arns, local.reconcile_rule_arns)
    }
  }
}

# Asynchronous invocations (EventBridge invokes the function asynchronously): how often Lambda retries a
# failed invocation, how long an event may wait (throttled, or between retries), and where what still
# fails goes. An on-failure destination rather than the function's dead_letter_config: its record holds
# the event (requestPayload), the error (responsePayload) and the retry count, where a DLQ message
# holds the event only.
resource "aws_lambda_function_event_invoke_config" "this" {
  function_name                = aws_lambda_function.this.function_name
  maximum_retry_attempts       = var.lambda_maximum_retry_attempts
  maximum_event_age_in_seconds = var.lambda_maximum_event_age_in_seconds

  destination_config {
    on_failure {
      destination = aws_sqs_queue.dead_letter.arn
    }
  }

  # The role must be able to send to the queue when Lambda checks the destination.
  depends_on = [aws_iam_role_policy.lambda]
}

resource "aws_cloudwatch_metric_alarm" "this" {
  for_each = var.alarms_enabled ? local.alarms : {}

  alarm_name          = "${var.name}-${replace(each.key, "_", "-")}"
  alarm_description   = each.value.description
  namespace           = each.value.namespace
  metric_name         = each.value.metric_name
  dimensions          = each.value.dimensions
  statistic           = each.value.statistic
  period              = 60
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = each.value.treat_missing_data
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags

  # The topic the alarms notify must exist first.
  depends_on = [aws_sns_topic.this]
}

# CloudWatch can notify an encrypted topic only when the topic's key policy lets cloudwatch.amazonaws.com
# use the key, which the AWS managed key of SNS (alias/aws/sns) never does: the alarms would change state
# without notifying anyone. A warning, not an error: the summaries of the function still reach the topic.
check "alarms_can_notify_the_created_topic" {
  assert {
    condition     = !(var.alarms_enabled && var.create_sns_topic && var.sns_kms_master_key_id == "alias/aws/sns")
    error_message = "CloudWatch alarms cannot publish to a topic encrypted with the AWS managed key alias/aws/sns: give the created topic a customer managed key (sns_kms_master_key_id) whose key policy allows cloudwatch.amazonaws.com kms:GenerateDataKey* and kms:Decrypt, or the alarms will not notify."
  }
}
