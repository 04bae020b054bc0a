Feature: When there is an SNS topic, every CloudWatch alarm notifies someone
  In order to hear about an isolation that failed, was throttled or is waiting in the dead-letter queue
  As a security engineer
  I want every alarm of the plan to have an alarm action when the plan has an SNS topic

  # The module's alarms notify its summaries' topic when there is one (create_sns_topic or sns_topic_arn),
  # and alarm_actions. A plan without an aws_sns_topic skips this scenario: an existing topic given in
  # sns_topic_arn is not in the plan, and an alarm may rightly have no action without any topic.

  Scenario: Every CloudWatch alarm has an alarm action
    Given I have aws_sns_topic defined
    Given I have aws_cloudwatch_metric_alarm defined
    Then it must contain alarm_actions
    And its value must not be null
