# ---------------------------------------------------------------------------------------------------
# The evidence key of this account and region (evidence_custody): the central function, through the
# executor role, copies each evidence snapshot re-encrypted with it (the intermediate copy), shares the
# copy with the central account only, and the central function's own role copies it into the central
# account's custody (the central module's evidence.tf). KMS keys are regional: every instance of this
# module creates its region's key, under the alias the function finds it by (alias/<name>-evidence).
# The key, its alias and its policy are modules/evidence-key's, the central module's key's definition.
# ---------------------------------------------------------------------------------------------------

module "evidence_key" {
  source = "../evidence-key"
  count  = var.evidence_custody ? 1 : 0

  description = "Re-encrypts this account's evidence snapshots for the ${var.name} isolation function's custody (intermediate copies, deleted once in custody)."
  # The central function finds the key by this alias (kms:DescribeKey; its grants: kms:ResourceAliases).
  alias      = module.isolation_target.evidence_key_alias
  partition  = local.partition
  account_id = local.account_id
  # The two roles, by account and aws:PrincipalArn: the key policy then holds before either role exists
  # (the executor role is created by the account's create_iam instance, the central role by the central
  # deployment). Both use the key for EBS copies only (through EC2).
  users = {
    Executor = {
      account_id = local.account_id
      role_arn   = local.executor_role_arn
      # The intermediate copies are made in this region.
      via_service_test = "StringEquals"
      via_service      = "ec2.${local.region}.amazonaws.com"
    }
    CentralFunction = {
      account_id = var.central_account_id
      role_arn   = var.central_lambda_role_arn
      # The copy into custody is made in the central region, from this one.
      via_service_test = "StringLike"
      via_service      = "ec2.*.amazonaws.com"
    }
  }
  tags = var.tags
}
