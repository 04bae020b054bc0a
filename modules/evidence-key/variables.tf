# Internal module: the root module and modules/member set these and validate what comes from their
# users on their own variables (where the user's error should point); here only the types.

variable "description" {
  description = "Description of the key: what it encrypts, for whom."
  type        = string
}

variable "alias" {
  description = "Alias of the key (\"alias/<name>-evidence\": modules/isolation-target's evidence_key_alias, which the function's grants find the key by)."
  type        = string
}

variable "partition" {
  description = "Partition of the key's account (aws, aws-cn, aws-us-gov, ...)."
  type        = string
}

variable "account_id" {
  description = "ID of the key's account: its root administers the key (KMS's default key policy statement), and its IAM policies decide who else may use it."
  type        = string
}

variable "users" {
  description = "The roles that may have EC2 use the key for EBS copies, and nothing else, by a name that begins their statements' Sids (\"<name>CopiesViaEc2\", \"<name>GrantsKeyToEc2\"): account_id, the role's account (the key policy names its root, with the role by aws:PrincipalArn, so that the key can be created before the role); role_arn; via_service_test and via_service, the kms:ViaService condition (\"StringEquals\" and \"ec2.<region>.amazonaws.com\" for the key's region, \"StringLike\" and \"ec2.*.amazonaws.com\" for a copy made from another region)."
  type = map(object({
    account_id       = string
    role_arn         = string
    via_service_test = string
    via_service      = string
  }))
}

variable "tags" {
  description = "Tags of the key."
  type        = map(string)
}
