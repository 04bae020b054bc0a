Feature: Every Lambda permission is scoped to the resource that may invoke the function
  In order that no other EventBridge rule, in this account or another one, can invoke the isolation Lambda
  As a security engineer
  I want every Lambda permission to name the ARN of the one source allowed to invoke the function

  # The module's permission names the isolation tag rule's ARN. It is only known after apply, so the plan
  # shows it as a reference to the rule, which counts as set here.

  Scenario: Every Lambda permission has a source ARN
    Given I have aws_lambda_permission defined
    Then it must contain source_arn
    And its value must not be null
