# ---------------------------------------------------------------------------------------------------
# Permission model of the people who trigger the automation (docs/permissions.md, "Permission model"): an analyst
# may set the isolation tag key to the isolation value (or, with the separate release policy, to the
# release value) and nothing else, and an SCP stops everyone but the tag administrators and the Lambda
# from setting or removing the key. The module attaches none of these documents: it outputs them.
# ---------------------------------------------------------------------------------------------------

locals {
  # The isolation tag key and the Lambda's status tags ("<key>:<suffix>", which include the managed-by
  # tag of its security groups): what nobody but the Lambda and the tag administrators may write.
  isolation_tag_key_patterns = [var.isolation_tag_key, "${local.status_tag_prefix}*"]

  # What the responder CLI reads (lambda/ec2_isolation/cli.py): `isolate` and `release` read the
  # instance (and the record, before a release); `status` reads the instance's live state with the
  # readers the Lambda records the prior state with. Tags come from DescribeInstances: no DescribeTags.
  # These read actions do not support resource-level permissions.
  analyst_read_actions = sort([
    "autoscaling:DescribeAutoScalingInstances",
    "ec2:DescribeAddresses",
    "ec2:DescribeIamInstanceProfileAssociations",
    "ec2:DescribeInstances",
    "ec2:DescribeNetworkInterfaces",
    "elasticloadbalancing:DescribeTargetGroups",
    "elasticloadbalancing:DescribeTargetHealth",
  ])

  analyst_tag_values = {
    isolate = var.isolation_tag_value
    release = var.release_tag_value
  }

  # Every principal the SCP lets write the isolation key: the given ones and the Lambda's role (its
  # status tags, and the managed-by tag of the security groups it creates).
  tag_administrator_arns = distinct(concat(var.tag_administrator_arns, [local.lambda_role_arn]))

  # Minified (no whitespace): AWS Organizations counts every character of an SCP, 5120 at most.
  isolation_tag_protection_scp_json = jsonencode(jsondecode(data.aws_iam_policy_document.isolation_tag_protection_scp.json))
  scp_max_characters                = 5120
}

data "aws_iam_policy_document" "analyst" {
  for_each = local.analyst_tag_values

  statement {
    # Exactly one tag per request, the isolation key, set to exactly this policy's value. ForAllValues
    # is also true for a request without tag keys: the Null condition requires them.
    sid       = each.key == "isolate" ? "SetIsolationTagToIsolate" : "SetIsolationTagToRelease"
    effect    = "Allow"
    actions   = ["ec2:CreateTags"]
    resources = ["${local.arn_prefix_ec2}:instance/*"]

    condition {
      test     = "ForAllValues:StringEquals"
      variable = "aws:TagKeys"
      values   = [var.isolation_tag_key]
    }

    condition {
      test     = "Null"
      variable = "aws:TagKeys"
      values   = ["false"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/${var.isolation_tag_key}"
      values   = [each.value]
    }
  }

  statement {
    sid       = "ReadInstanceState"
    effect    = "Allow"
    actions   = local.analyst_read_actions
    resources = ["*"]
  }

  statement {
    # Termination protection and shutdown behaviour: DescribeInstanceAttribute acts on instances (the
    # Service Authorization Reference gives it the instance resource type), unlike the reads above.
    sid       = "ReadInstanceAttributes"
    effect    = "Allow"
    actions   = ["ec2:DescribeInstanceAttribute"]
    resources = ["${local.arn_prefix_ec2}:instance/*"]
  }

  statement {
    # GetItem: status, release and --wait; Scan: list.
    sid       = "ReadIsolationRecords"
    effect    = "Allow"
    actions   = ["dynamodb:GetItem", "dynamodb:Scan"]
    resources = [local.record_table_arn]
  }

  statement {
    # Removing the trigger tag is not an analyst's privilege (not even through another policy): the
    # CLI's --retrigger (delete, then set again) is for a tag administrator; see docs/permissions.md.
    sid       = "NeverRemoveIsolationTags"
    effect    = "Deny"
    actions   = ["ec2:DeleteTags"]
    resources = ["${local.arn_prefix_ec2}:instance/*"]

    condition {
      test     = "ForAnyValue:StringLike"
      variable = "aws:TagKeys"
      values   = local.isolation_tag_key_patterns
    }
  }

  statement {
    # A DeleteTags without tags deletes every tag of the instance, the isolation key included.
    sid       = "NeverRemoveAllTagsOfTaggedInstances"
    effect    = "Deny"
    actions   = ["ec2:DeleteTags"]
    resources = ["${local.arn_prefix_ec2}:instance/*"]

    condition {
      test     = "Null"
      variable = "aws:TagKeys"
      values   = ["true"]
    }

    condition {
      test     = "Null"
      variable = "aws:ResourceTag/${var.isolation_tag_key}"
      values   = ["false"]
    }
  }

  statement {
    # The Lambda's status tags are its own: an analyst cannot forge them (not even through another policy).
    sid       = "NeverWriteStatusTags"
    effect    = "Deny"
    actions   = ["ec2:CreateTags"]
    resources = ["${local.arn_prefix_ec2}:instance/*"]

    condition {
      test     = "ForAnyValue:StringLike"
      variable = "aws:TagKeys"
      values   = ["${local.status_tag_prefix}*"]
    }
  }
}

data "aws_iam_policy_document" "isolation_tag_protection_scp" {
  statement {
    # Setting or removing the isolation key or a status tag, on any resource. ec2:CreateTags is also
    # authorised for the tags of a create request (RunInstances, CreateSecurityGroup... with
    # TagSpecifications; ec2:CreateAction names the request): with no ec2:CreateAction condition, the
    # statement denies tagging with the key at launch too.
    sid       = "ProtectIsolationTagKey"
    effect    = "Deny"
    actions   = ["ec2:CreateTags", "ec2:DeleteTags"]
    resources = ["*"]

    condition {
      test     = "ForAnyValue:StringLike"
      variable = "aws:TagKeys"
      values   = local.isolation_tag_key_patterns
    }

    condition {
      test     = "ArnNotLike"
      variable = "aws:PrincipalArn"
      values   = local.tag_administrator_arns
    }
  }

  statement {
    # A DeleteTags without tags deletes every tag, the isolation key included: denied on the resources
    # that carry the key.
    sid       = "ProtectIsolationTagKeyFromDeleteAll"
    effect    = "Deny"
    actions   = ["ec2:DeleteTags"]
    resources = ["*"]

    condition {
      test     = "Null"
      variable = "aws:TagKeys"
      values   = ["true"]
    }

    condition {
      test     = "Null"
      variable = "aws:ResourceTag/${var.isolation_tag_key}"
      values   = ["false"]
    }

    condition {
      test     = "ArnNotLike"
      variable = "aws:PrincipalArn"
      values   = local.tag_administrator_arns
    }
  }
}
