# ---------------------------------------------------------------------------------------------------
# Notifications and result events: a readable summary of each isolation, release and failure on an SNS
# topic (created here, or an existing one), and a result event on the default EventBridge bus that other
# automation can chain on. The Lambda sends each only when it is configured (its environment).
# ---------------------------------------------------------------------------------------------------

locals {
  sns_topic_name = var.name
  # Built from the name, like every ARN of the policy, so that the grant is known at plan time; a
  # postcondition on the topic checks it against the real ARN.
  created_sns_topic_arn = "arn:${local.partition}:sns:${local.region}:${local.account_id}:${local.sns_topic_name}"
  sns_topic_arn         = var.create_sns_topic ? local.created_sns_topic_arn : var.sns_topic_arn
  # The key to grant the Lambda: only when there is a topic to publish to.
  sns_topic_kms_key_arn = local.sns_topic_arn == null ? null : var.sns_topic_kms_key_arn

  result_event_source   = var.result_events ? var.result_event_source : null
  default_event_bus_arn = "arn:${local.partition}:events:${local.region}:${local.account_id}:event-bus/default"
  # The detail-types the Lambda puts (lambda/ec2_isolation/steps/notify.py), by outcome: an isolation's
  # and a release's, the reconciler's (reconcile.tf), and evidence custody's (evidence.tf).
  result_event_detail_types = {
    completed           = "EC2 Isolation Completed"
    failed              = "EC2 Isolation Failed"
    released            = "EC2 Isolation Released"
    dry_run             = "EC2 Isolation Dry Run"
    caught_up           = "EC2 Isolation Caught Up"
    drift_repaired      = "EC2 Isolation Drift Repaired"
    needs_attention     = "EC2 Isolation Needs Attention"
    group_resealed      = "EC2 Isolation Group Resealed"
    record_closed       = "EC2 Isolation Record Closed"
    evidence_in_custody = "EC2 Isolation Evidence In Custody"
  }
}

resource "aws_sns_topic" "this" {
  count = var.create_sns_topic ? 1 : 0

  name              = local.sns_topic_name
  kms_master_key_id = var.sns_kms_master_key_id
  tags              = var.tags

  lifecycle {
    precondition {
      condition     = var.sns_topic_arn == null
      error_message = "Set create_sns_topic or sns_topic_arn, not both: the summaries go to one topic."
    }

    postcondition {
      condition     = self.arn == local.created_sns_topic_arn
      error_message = "The topic ARN ${self.arn} differs from the one the Lambda may publish to (${local.created_sns_topic_arn})."
    }
  }
}
