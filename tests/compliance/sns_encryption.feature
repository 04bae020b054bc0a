Feature: Every SNS topic is encrypted with a KMS key
  In order to keep the isolation summaries (instance ids, changes, failures) encrypted at rest
  As a security engineer
  I want every SNS topic of the plan to have a KMS key

  # The module's topic (create_sns_topic) is encrypted with SNS's AWS managed key (alias/aws/sns) unless
  # another key is given (sns_kms_master_key_id). A plan without a topic skips this scenario.

  Scenario: Every SNS topic has a KMS key
    Given I have aws_sns_topic defined
    Then it must contain kms_master_key_id
    And its value must not be null
