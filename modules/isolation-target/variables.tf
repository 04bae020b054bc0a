# Internal module: the root module and modules/member set these and validate them on their own
# variables (where the user's error should point); here only the types.

variable "name" {
  description = "Name of the deployment (the central module's name): prefixes the isolation role and instance profile (\"<name>-isolation\") and is the value of the managed-by tag of the isolation security groups."
  type        = string
}

variable "isolation_tag_key" {
  description = "Key of the isolation tag."
  type        = string
}

variable "isolation_tag_value" {
  description = "Value of the isolation tag that triggers isolation."
  type        = string
}

variable "release_tag_value" {
  description = "Value of the isolation tag that releases an instance."
  type        = string
}

variable "partition" {
  description = "Partition of the target account (aws, aws-cn, aws-us-gov, ...)."
  type        = string
}

variable "account_id" {
  description = "ID of the target account: the one whose instances the statements cover and where the isolation role and instance profile are."
  type        = string
}

variable "regions" {
  description = "Regions the statements cover (\"*\" for any)."
  type        = list(string)
}

variable "steps" {
  description = "The containment-depth switches (the central module's variables of the same names): a step's statements are there only while the step is on."
  type = object({
    untrack_connections             = bool
    revoke_credentials              = bool
    credential_revocation_role_path = string
    protect_from_termination        = bool
    snapshot_volumes                = bool
    auto_scaling_action             = string
    deregister_from_target_groups   = bool
    disassociate_elastic_ips        = bool
    release_role_path               = string
    # The evidence snapshots: locked right after they are taken (the central module's evidence_lock_mode
    # is not null), and, for a member account, copied into the central account's custody
    # (evidence_custody). Both only while snapshot_volumes is on.
    lock_evidence    = bool
    evidence_custody = bool
  })
}

variable "evidence_custody_account_id" {
  description = "ID of the account that takes the evidence into custody (the central account): the only account an evidence snapshot of account_id may be shared with (steps.evidence_custody)."
  type        = string
}

variable "evidence_source_key_arns" {
  description = "ARNs of customer managed KMS keys of account_id that encrypt its volumes: EC2 may use them on the function's behalf to re-encrypt their snapshots' copies with the evidence key (steps.evidence_custody)."
  type        = list(string)
}

variable "evidence_custody_account_statements" {
  description = "The custody account's own evidence statements, by Sid (the central module's copy into custody of the member accounts' shared snapshots: its iam.tf; {} in a member account): actions, resources and conditions, added to evidence_policy_json and rendered by the same block as the statements of evidence.tf (Sids of their own)."
  type = map(object({
    actions   = list(string)
    resources = list(string)
    conditions = list(object({
      test     = string
      variable = string
      values   = list(string)
    }))
  }))
}

variable "own_role_arns" {
  description = "ARNs of the roles of the deployment itself in the target account (the central function's role; in a member account, the executor and forwarding roles): never passed to an instance, and never given a revocation policy (nor is the isolation role)."
  type        = list(string)
}

variable "api_call_excluded_role_arns" {
  description = "ARNs of the roles whose API calls api_call_event_pattern leaves out (sessionIssuer.arn, path included): the central function's role and the executor roles it acts through. At least one."
  type        = list(string)
}

variable "create_iam" {
  description = "Create the isolation role and instance profile (IAM is global: once per account)."
  type        = bool
}

variable "iam_role_path" {
  description = "Path of the isolation role and instance profile."
  type        = string
}

variable "permissions_boundary_arn" {
  description = "Permissions boundary of the isolation role; null for none."
  type        = string
}

variable "tags" {
  description = "Tags of the isolation role and instance profile."
  type        = map(string)
}
