Feature: The Lambda's CloudWatch Logs log group keeps its logs for a set time
  In order to have the isolation Lambda's logs as evidence after an incident, and not pay for them forever
  As a security engineer
  I want every CloudWatch Logs log group of the plan to expire its logs after at least a year

  # retention_in_days = 0 means "never expire" to CloudWatch Logs, and it is also what Terraform plans
  # when the argument is left out: a plan cannot tell the two apart, so 0 fails here on purpose.
  # 365 days is the module's default and checkov's CKV_AWS_338 minimum; change the number to your policy.

  Scenario: Every log group has a retention period
    Given I have aws_cloudwatch_log_group defined
    Then it must contain retention_in_days
    And its value must be greater than 0

  Scenario: Every log group keeps its logs for at least a year
    Given I have aws_cloudwatch_log_group defined
    Then it must contain retention_in_days
    And its value must be greater and equal to 365
