# ---------------------------------------------------------------------------------------------------
# What makes an account an isolation target, defined once for the central module (the root module: its
# own account) and for modules/member (each member account):
#   - the names and ARNs the function relies on: the isolation role and instance profile
#     (<path><name>-isolation), the status-tag prefix and the managed-by tag key;
#   - the event pattern of an analyst's tag change (the central rule's, and each forwarding rule's), and
#     that of an API call that can undo an isolation (the reconciler's rule, and its forwarding rules);
#   - the statements each containment step needs (statements.tf), in the account and the regions given:
#     the central function's role gets them, and so does each member account's executor role;
#   - the deny-all isolation role and instance profile themselves (./iam), where create_iam is true.
# Internal: called by the root module and modules/member, which validate every input.
# ---------------------------------------------------------------------------------------------------

locals {
  # Tags written by the function: its status tags on the instance ("<key>:<suffix>"), and the managed-by
  # tag on the isolation security groups it creates (the only groups it may revoke rules from).
  status_tag_prefix = "${var.isolation_tag_key}:"
  managed_tag_key   = "${var.isolation_tag_key}:ManagedBy"
  # The tag the function writes on each copy of an evidence snapshot: "intermediate" (the re-encrypted
  # copy in the instance's account, shared with the custody account, then deleted) or "custody" (the copy
  # in the custody account). Only intermediate copies of this deployment may be deleted (statements.tf).
  custody_copy_tag_key = "${local.status_tag_prefix}CustodyCopy"
  # The alias of the evidence keys: the custody key in the central account, and the key of each member
  # account and region (modules/member), which the function finds by this alias.
  evidence_key_alias = "alias/${var.name}-evidence"

  isolation_role_name = "${var.name}-isolation"
  # Built from names rather than taken from the resources so that the policies and the function's
  # environment are known at plan time (reviewable in the plan); postconditions check them (./iam).
  isolation_role_arn             = "arn:${var.partition}:iam::${var.account_id}:role${var.iam_role_path}${local.isolation_role_name}"
  isolation_instance_profile_arn = "arn:${var.partition}:iam::${var.account_id}:instance-profile${var.iam_role_path}${local.isolation_role_name}"

  # An analyst setting (or changing) the isolation tag to the isolation or the release value on an EC2
  # instance.
  event_pattern = {
    source      = ["aws.tag"]
    detail-type = ["Tag Change on Resource"]
    detail = {
      service          = ["ec2"]
      resource-type    = ["instance"]
      changed-tag-keys = [var.isolation_tag_key]
      tags = {
        (var.isolation_tag_key) = [var.isolation_tag_value, var.release_tag_value]
      }
    }
  }

  # A successful API call that can undo part of an isolation (an ENI's security groups, the instance
  # profile, a group's rules, an Auto Scaling group or a target group taking the instance back), as
  # CloudTrail records it ("AWS API Call via CloudTrail": a trail with management events must be on),
  # made by anyone but the deployment's own roles (excluded_role_arns): an assumed role's session
  # names its role in sessionIssuer.arn; IAM users and the root user have no sessionIssuer. The
  # function re-reads the instance and decides; this only keeps its own calls and failed calls out.
  api_call_event_pattern = {
    source      = ["aws.ec2", "aws.autoscaling", "aws.elasticloadbalancing"]
    detail-type = ["AWS API Call via CloudTrail"]
    detail = {
      eventSource = ["ec2.amazonaws.com", "autoscaling.amazonaws.com", "elasticloadbalancing.amazonaws.com"]
      eventName = [
        "ModifyNetworkInterfaceAttribute",
        "ModifyInstanceAttribute",
        "AttachNetworkInterface",
        "AssociateIamInstanceProfile",
        "ReplaceIamInstanceProfileAssociation",
        "DisassociateIamInstanceProfile",
        "AuthorizeSecurityGroupIngress",
        "AuthorizeSecurityGroupEgress",
        "AttachInstances",
        "ExitStandby",
        "RegisterTargets",
      ]
      # Only the calls that succeeded.
      errorCode = [{ exists = false }]
      userIdentity = {
        "$or" = [
          { sessionContext = { sessionIssuer = { arn = [{ anything-but = var.api_call_excluded_role_arns }] } } },
          { sessionContext = { sessionIssuer = { arn = [{ exists = false }] } } },
        ]
      }
    }
  }
}

module "iam" {
  source = "./iam"
  count  = var.create_iam ? 1 : 0

  name                     = local.isolation_role_name
  path                     = var.iam_role_path
  deployment_name          = var.name
  permissions_boundary_arn = var.permissions_boundary_arn
  tags                     = var.tags
  role_arn                 = local.isolation_role_arn
  instance_profile_arn     = local.isolation_instance_profile_arn
}
