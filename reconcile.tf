# ---------------------------------------------------------------------------------------------------
# Reconciler: every tagged instance is kept in the state its tag asks for (level-triggered), whatever
# happened since its isolation or release. The same function, three more kinds of invocation:
#
#   schedule rules (<name>-reconcile, <name>-reconcile-full) ─▶ function: one message per swept account
#                                                                and region ─▶ reconcile queue
#   reconcile queue ─▶ event source mapping (bounded concurrency) ─▶ function: sweeps one account and
#                      region, converges one instance          what fails 3 times ─▶ dead-letter queue
#   CloudTrail API call that can undo an isolation ─▶ <name>-on-api-call ─▶ function: that instance
#
# Each rule targets the function like the tag rule (retries, then the dead-letter queue). The queue
# exists while a schedule is on. Repairs are counted in the function's metrics (Embedded Metric Format
# log lines, namespace metrics_namespace) and a repair raises the drift alarm.
# ---------------------------------------------------------------------------------------------------

locals {
  # The two schedules, only those that are on; "sweep" and "full" are the handler's modes.
  reconcile_schedules = {
    for mode, rule in {
      sweep = {
        name        = "${var.name}-reconcile"
        schedule    = var.reconcile_schedule
        description = "Reconciles the instances tagged ${var.isolation_tag_key} with the state their tag asks for."
        statement   = "AllowInvokeFromReconcileRule"
      }
      full = {
        name        = "${var.name}-reconcile-full"
        schedule    = var.reconcile_full_schedule
        description = "Reconciles the instances tagged ${var.isolation_tag_key} in full: every isolated instance re-checked, the records of terminated ones closed."
        statement   = "AllowInvokeFromReconcileFullRule"
      }
    } :
    mode => merge(rule, { arn = "arn:${local.partition}:events:${local.region}:${local.account_id}:rule/${rule.name}" })
    if rule.schedule != null
  }
  reconcile_rule_arn      = try(local.reconcile_schedules.sweep.arn, null)
  reconcile_full_rule_arn = try(local.reconcile_schedules.full.arn, null)

  # The queue of the sweeps' work, while a schedule is on. Its URL and ARN are built from its name, like
  # the dead-letter queue's, so that the function's environment and policy are known at plan time (the
  # queue's postcondition checks them).
  reconcile_queue_enabled = length(local.reconcile_schedules) > 0
  reconcile_queue_name    = "${var.name}-reconcile"
  reconcile_queue_arn     = local.reconcile_queue_enabled ? "arn:${local.partition}:sqs:${local.region}:${local.account_id}:${local.reconcile_queue_name}" : null
  reconcile_queue_url     = "https://sqs.${local.region}.${data.aws_partition.current.dns_suffix}/${local.account_id}/${local.reconcile_queue_name}"

  api_call_rule_name = "${var.name}-on-api-call"
  api_call_rule_arn  = var.reconcile_on_api_calls ? "arn:${local.partition}:events:${local.region}:${local.account_id}:rule/${local.api_call_rule_name}" : null
  # The roles whose calls are the deployment's own: the function's, and the executor roles it acts
  # through in the listed member accounts (with only organization_id, the handler leaves them out).
  api_call_excluded_role_arns = concat(
    [local.lambda_role_arn],
    [for id in var.member_account_ids : "arn:${local.partition}:iam::${id}:role${var.iam_role_path}${local.executor_role_name}"],
  )

  # The rules that may send undelivered events to the dead-letter queue (failure.tf).
  reconcile_rule_arns = concat(
    [for mode, rule in local.reconcile_schedules : rule.arn],
    var.reconcile_on_api_calls ? [local.api_call_rule_arn] : [],
  )

  # The accounts the sweeps cover besides this one: those the function may assume an executor role in.
  reconcile_account_ids = var.reconcile_account_ids == null ? var.member_account_ids : var.reconcile_account_ids

  # The function's view of the reconciler (main.tf); "" for what is off.
  reconcile_environment = {
    RECONCILE_QUEUE_URL     = local.reconcile_queue_enabled ? local.reconcile_queue_url : ""
    RECONCILE_RULE_ARN      = local.reconcile_rule_arn == null ? "" : local.reconcile_rule_arn
    RECONCILE_FULL_RULE_ARN = local.reconcile_full_rule_arn == null ? "" : local.reconcile_full_rule_arn
    RECONCILE_ON_API_CALLS  = tostring(var.reconcile_on_api_calls)
    RECONCILE_REGIONS       = join(",", var.reconcile_regions == null ? [local.region] : var.reconcile_regions)
    RECONCILE_ACCOUNT_IDS   = join(",", local.reconcile_account_ids)
    FUNCTION_ROLE_ARN       = local.lambda_role_arn
    METRICS_NAMESPACE       = var.metrics_namespace
  }
}

# ---- Schedules ------------------------------------------------------------------------------------

resource "aws_cloudwatch_event_rule" "reconcile" {
  for_each = local.reconcile_schedules

  name                = each.value.name
  description         = each.value.description
  schedule_expression = each.value.schedule
  tags                = var.tags

  lifecycle {
    postcondition {
      condition     = self.arn == each.value.arn
      error_message = "The rule ARN ${self.arn} differs from the one the dead-letter queue accepts events from and the function tells the sweeps apart by (${each.value.arn})."
    }
  }
}

# The real "Scheduled Event" is delivered (no input): its resources name the rule, and so the mode.
resource "aws_cloudwatch_event_target" "reconcile" {
  for_each = local.reconcile_schedules

  rule      = aws_cloudwatch_event_rule.reconcile[each.key].name
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

resource "aws_lambda_permission" "reconcile" {
  for_each = local.reconcile_schedules

  statement_id  = each.value.statement
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.this.function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.reconcile[each.key].arn
}

# ---- The reconcile queue and its event source mapping ---------------------------------------------

resource "aws_sqs_queue" "reconcile" {
  count = local.reconcile_queue_enabled ? 1 : 0

  name = local.reconcile_queue_name
  # Six times the function's timeout, as Lambda advises for an SQS event source: room for retries of a
  # throttled batch before a message is received again.
  visibility_timeout_seconds = 6 * var.lambda_timeout
  # A sweep's work is stale after a day: the next sweep finds what is still to do.
  message_retention_seconds = 86400
  # Encrypted like the dead-letter queue (failure.tf): its customer managed key, else SSE-SQS.
  sqs_managed_sse_enabled           = local.dead_letter_queue_kms_key_arn == null ? true : null
  kms_master_key_id                 = local.dead_letter_queue_kms_key_arn
  kms_data_key_reuse_period_seconds = local.dead_letter_queue_kms_key_arn == null ? null : 300
  # What still fails after three receives ends in the dead-letter queue, and raises its alarm.
  redrive_policy = jsonencode({
    deadLetterTargetArn = local.dead_letter_queue_arn
    maxReceiveCount     = 3
  })
  # Inline (the queue's ARN is built from its name): created and deleted with the queue.
  policy = one(data.aws_iam_policy_document.reconcile_queue[*].json)
  tags   = var.tags

  lifecycle {
    postcondition {
      condition     = self.arn == local.reconcile_queue_arn
      error_message = "The reconcile queue ARN ${self.arn} differs from the one the function may use (${local.reconcile_queue_arn})."
    }

    postcondition {
      condition     = endswith(self.url, "/${local.account_id}/${local.reconcile_queue_name}")
      error_message = "The reconcile queue URL ${self.url} differs from the one the function sends to (${local.reconcile_queue_url})."
    }
  }

  # The queue it redrives to.
  depends_on = [aws_sqs_queue.dead_letter]
}

data "aws_iam_policy_document" "reconcile_queue" {
  count = local.reconcile_queue_enabled ? 1 : 0

  statement {
    # The messages are the function's own work (which account and region to sweep, which instance to
    # converge): no other principal, whatever its IAM policy grants, may add to them.
    sid       = "OnlyTheFunctionSends"
    effect    = "Deny"
    actions   = ["sqs:SendMessage"]
    resources = [local.reconcile_queue_arn]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "ArnNotEquals"
      variable = "aws:PrincipalArn"
      values   = [local.lambda_role_arn]
    }
  }
}

resource "aws_lambda_event_source_mapping" "reconcile" {
  count = local.reconcile_queue_enabled ? 1 : 0

  event_source_arn = aws_sqs_queue.reconcile[0].arn
  function_name    = aws_lambda_function.this.arn
  # One message (one account and region, or one instance) per invocation; the function reports the
  # messages it failed, so only those are received again.
  batch_size              = 1
  function_response_types = ["ReportBatchItemFailures"]

  scaling_config {
    maximum_concurrency = var.reconcile_maximum_concurrency
  }

  tags = var.tags

  lifecycle {
    precondition {
      condition     = var.reserved_concurrent_executions == null || var.reconcile_maximum_concurrency < coalesce(var.reserved_concurrent_executions, 0)
      error_message = "reconcile_maximum_concurrency (${var.reconcile_maximum_concurrency}) must be below reserved_concurrent_executions: sweeps must leave concurrency to isolations, and a throttled sweep message counts as a receive on its way to the dead-letter queue."
    }
  }

  # Lambda checks that the role may read the queue when the mapping is created.
  depends_on = [aws_iam_role_policy.lambda]
}

# ---- API calls that can undo an isolation ---------------------------------------------------------

resource "aws_cloudwatch_event_rule" "api_call" {
  count = var.reconcile_on_api_calls ? 1 : 0

  name        = local.api_call_rule_name
  description = "Reconciles an EC2 instance when CloudTrail records an API call that can undo its isolation, by anyone but the ${var.name} function."
  # The one pattern of modules/isolation-target, which modules/member's forwarding rules match too.
  event_pattern = jsonencode(module.isolation_target.api_call_event_pattern)
  tags          = var.tags

  lifecycle {
    postcondition {
      condition     = self.arn == local.api_call_rule_arn
      error_message = "The rule ARN ${self.arn} differs from the one the dead-letter queue accepts events from (${local.api_call_rule_arn})."
    }
  }
}

resource "aws_cloudwatch_event_target" "api_call" {
  count = var.reconcile_on_api_calls ? 1 : 0

  rule      = aws_cloudwatch_event_rule.api_call[0].name
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

resource "aws_lambda_permission" "api_call" {
  count = var.reconcile_on_api_calls ? 1 : 0

  statement_id  = "AllowInvokeFromApiCallRule"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.this.function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.api_call[0].arn
}

# ---- Drift alarm ----------------------------------------------------------------------------------

# A repair means something (or someone) undid part of an isolation, or an isolation group was opened:
# a person should know. The function writes the counts as Embedded Metric Format log lines.
resource "aws_cloudwatch_metric_alarm" "drift_repaired" {
  count = var.alarms_enabled && (local.reconcile_queue_enabled || var.reconcile_on_api_calls) ? 1 : 0

  alarm_name          = "${var.name}-drift-repaired"
  alarm_description   = "The ${var.name} reconciler found an isolated instance (or an isolation group) no longer isolated and repaired it: something undid part of an isolation. Find who in CloudTrail; the function's logs and its \"EC2 Isolation Drift Repaired\" and \"EC2 Isolation Group Resealed\" events name the instance."
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = 1
  evaluation_periods  = 1
  # The function writes its metrics only when it repairs something: no data is no drift.
  treat_missing_data = "notBreaching"
  alarm_actions      = local.alarm_actions
  ok_actions         = local.alarm_actions
  tags               = var.tags

  metric_query {
    id          = "drift"
    label       = "Repairs (drift repaired + groups resealed)"
    expression  = "FILL(repaired, 0) + FILL(resealed, 0)"
    return_data = true
  }

  dynamic "metric_query" {
    for_each = { repaired = "DriftRepaired", resealed = "GroupsResealed" }
    content {
      id = metric_query.key
      metric {
        namespace   = var.metrics_namespace
        metric_name = metric_query.value
        dimensions  = local.lambda_alarm_dimensions
        period      = 300
        stat        = "Sum"
      }
    }
  }

  # The topic the alarm notifies must exist first.
  depends_on = [aws_sns_topic.this]
}
