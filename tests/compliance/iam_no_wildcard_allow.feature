Feature: No IAM policy allows wildcard actions
  In order to keep every role at least privilege
  As a security engineer
  I want no Allow statement of an IAM policy to grant actions by wildcard

  # Only Allow statements are checked: the isolation role's Deny of every action ("*") is the one
  # wildcard the module needs, and a Deny cannot grant anything. Wildcards in resources are not checked
  # here (EC2 Describe* calls support no resource-level permissions, so the module allows them on "*").

  Scenario Outline: No Allow statement of a <policy_type> has a wildcard in its actions
    Given I have <policy_type> defined
    Then it must contain policy
    And it must contain Statement
    When its Effect is Allow
    Then it must contain Action
    And its value must not match the ".*\*" regex

    Examples:
      | policy_type          |
      | aws_iam_role_policy  |
      | aws_iam_policy       |
      | aws_iam_user_policy  |
      | aws_iam_group_policy |

  Scenario Outline: No Allow statement of a <policy_type> uses NotAction
    Given I have <policy_type> defined
    Then it must contain policy
    And it must contain Statement
    When its Effect is Allow
    Then it must not contain NotAction

    Examples:
      | policy_type          |
      | aws_iam_role_policy  |
      | aws_iam_policy       |
      | aws_iam_user_policy  |
      | aws_iam_group_policy |
