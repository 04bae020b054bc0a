Feature: No Lambda function can be invoked by anyone
  In order that only the isolation tag rule can run the isolation Lambda
  As a security engineer
  I want no resource-based permission or function URL that opens a Lambda function to every AWS account

  Scenario: No Lambda permission is granted to every principal
    Given I have aws_lambda_permission defined
    Then it must contain principal
    And its value must not match the ".*\*" regex

  Scenario: Every Lambda function URL requires IAM authentication
    Given I have aws_lambda_function_url defined
    Then it must contain authorization_type
    And its value must be AWS_IAM
