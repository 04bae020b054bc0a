# ---------------------------------------------------------------------------------------------------
# Evidence: the snapshots the function takes of an isolated instance's volumes are locked right after
# they are taken (evidence_lock_mode: EBS snapshot lock; nothing grants ec2:UnlockSnapshot), and, in the
# organization layout, those of member accounts are taken into this account's custody
# (evidence_custody):
#
#   member account (executor role), its region              this account (the function's role), its region
#   evidence snapshot ─▶ CopySnapshot, re-encrypted with the
#                        member's alias/<name>-evidence key
#                        (the intermediate copy) ─▶ shared with
#                        this account only ──────────────────▶ CopySnapshot, encrypted with this
#                                                              account's alias/<name>-evidence key
#                                                              (the copy in custody) ─▶ LockSnapshot
#   intermediate copy deleted, share removed ◀────────────────┘
#
# The grants are modules/isolation-target's step statements (in the member through its executor role,
# here through the function's role) and, for the copy into custody, iam.tf. Each key, this account's and
# each member account's (modules/member, evidence_custody), is modules/evidence-key's.
# ---------------------------------------------------------------------------------------------------

locals {
  evidence_key_alias = module.isolation_target.evidence_key_alias
  # The custody of member accounts' evidence needs their snapshots (the function's preconditions,
  # main.tf).
  evidence_custody_enabled = var.evidence_custody && var.snapshot_volumes

  # The function's view of the evidence settings (main.tf); "" for what is off. With custody, the key's
  # ARN is known after apply only, and the provider then shows the whole environment as known after
  # apply in the plan that creates the key.
  evidence_environment = {
    EVIDENCE_LOCK_MODE           = var.evidence_lock_mode == null ? "" : var.evidence_lock_mode
    EVIDENCE_LOCK_DURATION_DAYS  = tostring(var.evidence_lock_duration_days)
    EVIDENCE_LOCK_COOL_OFF_HOURS = var.evidence_lock_cool_off_hours == null ? "" : tostring(var.evidence_lock_cool_off_hours)
    EVIDENCE_CUSTODY             = tostring(var.evidence_custody)
    EVIDENCE_CUSTODY_KEY_ARN     = var.evidence_custody ? one(module.evidence_key[*].arn) : ""
    # The member accounts' keys, which the function finds by alias in each account and region.
    EVIDENCE_KEY_ALIAS = local.evidence_key_alias
  }
}

# ---- The key of the copies in custody ---------------------------------------------------------------

module "evidence_key" {
  # The one definition of an evidence key (modules/evidence-key): each member account's keys are the same
  # module's (modules/member). What custody needs is checked by the function's preconditions (main.tf).
  source = "./modules/evidence-key"
  count  = var.evidence_custody ? 1 : 0

  description = "Encrypts the ${var.name} isolation function's copies of member accounts' evidence snapshots, in custody."
  # The same alias as the member accounts' keys (modules/isolation-target): the function's grants find
  # each key by it.
  alias      = local.evidence_key_alias
  partition  = local.partition
  account_id = local.account_id
  users = {
    # The function's role encrypts the copies in custody through EC2, in this region, and uses the key
    # for nothing else.
    Function = {
      account_id       = local.account_id
      role_arn         = local.lambda_role_arn
      via_service_test = "StringEquals"
      via_service      = "ec2.${local.region}.amazonaws.com"
    }
  }
  tags = var.tags
}
