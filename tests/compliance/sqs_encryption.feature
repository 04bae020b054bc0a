Feature: Every SQS queue is encrypted
  In order to keep the failed isolation events (instance ids, tags, errors) encrypted at rest
  As a security engineer
  I want no SQS queue of the plan to turn SQS managed encryption off without a KMS key

  # The module's dead-letter queue uses SSE-SQS (sqs_managed_sse_enabled = true) unless a KMS key is given
  # (dead_letter_queue_kms_key_arn), so this scenario finds nothing to check on it and is skipped: it
  # fails for a queue whose SSE-SQS is off (or computed) and that has no KMS key. A queue that sets
  # neither is not seen (terraform-compliance filters out an unknown value); SQS encrypts new queues with
  # SSE-SQS by default.

  Scenario: Every SQS queue without SQS managed encryption has a KMS key
    Given I have aws_sqs_queue defined
    When its sqs_managed_sse_enabled is not true
    Then it must contain kms_master_key_id
    And its value must not be null
