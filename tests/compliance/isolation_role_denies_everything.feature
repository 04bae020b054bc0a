Feature: The role given to isolated instances denies every action
  In order that credentials taken from an isolated instance's metadata service are useless
  As an incident responder
  I want the isolation role's inline policy to deny every action on every resource, without condition

  # The module names that inline policy "deny-all". @noskip: a plan in which it is missing, or in which
  # it has no unconditional Deny of "*" on "*", fails instead of being skipped.

  @noskip
  Scenario: The deny-all policy denies every action on every resource without condition
    Given I have aws_iam_role_policy defined
    When its name is deny-all
    Then it must contain policy
    And it must contain Statement
    When its Effect is Deny
    And its Action is *
    And its Resource is *
    Then it must not contain Condition
