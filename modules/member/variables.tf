variable "name" {
  description = "Name of the deployment: the same as the central module's name. Prefixes the member resources' names (\"<name>-executor\", \"<name>-isolation\", ...), so the central function finds them by convention."
  type        = string
  default     = "ec2-isolation"
  nullable    = false

  validation {
    condition     = length(var.name) >= 1 && length(var.name) <= 40 && can(regex("^[a-zA-Z0-9_-]+$", var.name))
    error_message = "The name must be 1 to 40 characters of letters, digits, '_' and '-' (it prefixes IAM role names)."
  }
}

variable "central_account_id" {
  description = "ID of the security account that runs the central module (its function, bus and record table)."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[0-9]{12}$", var.central_account_id))
    error_message = "The central account ID must be 12 digits."
  }
}

variable "central_region" {
  description = "Region of the central deployment, to build central_event_bus_arn when it is null. Null: this module's region."
  type        = string
  default     = null

  validation {
    condition     = var.central_region == null || can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]+$", var.central_region))
    error_message = "The central region must be a region name such as eu-west-1."
  }
}

variable "central_event_bus_arn" {
  description = "ARN of the central account's event bus the forwarding rule sends to (the central module's event_bus_arn output). Null: the default bus of central_account_id in central_region."
  type        = string
  default     = null

  validation {
    condition     = var.central_event_bus_arn == null || can(regex("^arn:aws[a-z-]*:events:[a-z0-9-]+:[0-9]{12}:event-bus/[A-Za-z0-9._-]+$", var.central_event_bus_arn))
    error_message = "The central event bus must be an event bus ARN (arn:<partition>:events:<region>:<account>:event-bus/<name>)."
  }
}

variable "central_lambda_role_arn" {
  description = "ARN of the central function's execution role (the central module's lambda_role_arn output): the only principal the executor role trusts."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$", var.central_lambda_role_arn))
    error_message = "The central Lambda role must be an IAM role ARN (arn:<partition>:iam::<account>:role/<path><name>)."
  }
}

variable "isolation_tag_key" {
  description = "Key of the isolation tag: the same as the central module's."
  type        = string
  default     = "SecurityIsolation"
  nullable    = false

  validation {
    condition     = length(var.isolation_tag_key) >= 1 && length(var.isolation_tag_key) <= 96 && !startswith(lower(var.isolation_tag_key), "aws:") && can(regex("^[\\p{L}\\p{N}\\p{Zs}+=._:/@-]+$", var.isolation_tag_key))
    error_message = "The isolation tag key must be 1 to 96 characters of letters, digits, spaces and + - = . _ : / @, and must not start with \"aws:\"."
  }
}

variable "isolation_tag_value" {
  description = "Value of the isolation tag that triggers isolation: the same as the central module's."
  type        = string
  default     = "Isolate"
  nullable    = false

  validation {
    condition     = length(var.isolation_tag_value) >= 1 && length(var.isolation_tag_value) <= 256 && can(regex("^[\\p{L}\\p{N}\\p{Zs}+=._:/@-]+$", var.isolation_tag_value))
    error_message = "The isolation tag value must be 1 to 256 characters of letters, digits, spaces and + - = . _ : / @."
  }
}

variable "release_tag_value" {
  description = "Value of the isolation tag that releases an instance: the same as the central module's (must differ from isolation_tag_value)."
  type        = string
  default     = "Release"
  nullable    = false

  validation {
    condition     = length(var.release_tag_value) >= 1 && length(var.release_tag_value) <= 256 && can(regex("^[\\p{L}\\p{N}\\p{Zs}+=._:/@-]+$", var.release_tag_value))
    error_message = "The release tag value must be 1 to 256 characters of letters, digits, spaces and + - = . _ : / @."
  }
}

variable "external_id" {
  description = "External ID the central function must pass to assume the executor role (sts:ExternalId; the central module's executor_external_id). Null: none required."
  type        = string
  default     = null
  sensitive   = true

  validation {
    condition     = var.external_id == null || (length(coalesce(var.external_id, "-")) <= 1224 && can(regex("^[\\w+=,.@:/-]{2,}$", var.external_id)))
    error_message = "The external ID must be 2 to 1224 characters of letters, digits and + = , . @ : / _ -."
  }
}

variable "organization_id" {
  description = "ID of the AWS Organization (o-...) the central function's role must belong to (aws:PrincipalOrgID in the executor role's trust policy). Null: no such condition."
  type        = string
  default     = null

  validation {
    condition     = var.organization_id == null || can(regex("^o-[a-z0-9]{10,32}$", var.organization_id))
    error_message = "The organization ID must look like o-abcd123456 (\"o-\" and 10 to 32 lowercase letters or digits)."
  }
}

variable "create_iam" {
  description = "Create the account's IAM resources (executor role, isolation role and instance profile, forwarding role). IAM is global: set it true in exactly one region's instance of this module per account, false in the others (they refer to the roles by name)."
  type        = bool
  default     = true
  nullable    = false
}

variable "regions" {
  description = "Regions the executor role may act in (the regions this module is deployed to in the account). Null: any region."
  type        = list(string)
  default     = null

  validation {
    condition     = var.regions == null || (length(coalesce(var.regions, ["x"])) > 0 && alltrue([for region in coalesce(var.regions, []) : can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]+$", region))]))
    error_message = "regions must be a non-empty list of region names such as eu-west-1 (or null for any region)."
  }
}

variable "isolation_steps" {
  description = "The central module's containment-depth settings (same names and defaults): the executor role is granted a step's actions only when the step is on. Keep them equal to the central module's. lock_evidence: whether the central module locks the evidence snapshots (false when its evidence_lock_mode is null): the executor may lock this account's snapshots (ec2:LockSnapshot) only then."
  type = object({
    untrack_connections             = optional(bool, true)
    revoke_credentials              = optional(bool, true)
    credential_revocation_role_path = optional(string, "/")
    protect_from_termination        = optional(bool, true)
    snapshot_volumes                = optional(bool, true)
    auto_scaling_action             = optional(string, "detach")
    deregister_from_target_groups   = optional(bool, true)
    disassociate_elastic_ips        = optional(bool, false)
    release_role_path               = optional(string, "/")
    # false when the central module's evidence_lock_mode is null (it locks no snapshot)
    lock_evidence = optional(bool, true)
  })
  default  = {}
  nullable = false

  validation {
    condition     = contains(["detach", "standby", "none"], var.isolation_steps.auto_scaling_action)
    error_message = "isolation_steps.auto_scaling_action must be \"detach\", \"standby\" or \"none\"."
  }

  validation {
    condition = alltrue([
      for path in [var.isolation_steps.credential_revocation_role_path, var.isolation_steps.release_role_path] :
      length(path) <= 512 && can(regex("^/([\\x21-\\x7E]*/)?$", path))
    ])
    error_message = "The role paths of isolation_steps must start and end with \"/\" and contain only printable ASCII characters (at most 512)."
  }
}

variable "evidence_custody" {
  description = "The central deployment takes this account's evidence into custody (the central module's evidence_custody, its member_module_inputs.evidence_custody): create this region's evidence KMS key (alias/<name>-evidence), which the executor role re-encrypts the evidence snapshots' intermediate copies with and the central function's role may use for EBS copies only, and grant the executor role the copy, the share with the central account only and the deletion of its own intermediate copies. Set it in every instance of the module in the account (each region has its key; the executor role's grants follow the create_iam instance's)."
  type        = bool
  default     = false
  nullable    = false
}

variable "evidence_source_key_arns" {
  description = "ARNs of the customer managed KMS keys that encrypt this account's EBS volumes (and so their evidence snapshots), in the regions of the module: with evidence_custody, the executor role may have EC2 use them (kms:Decrypt, kms:ReEncryptFrom, kms:DescribeKey, kms:CreateGrant for AWS resources, through EC2 only) to re-encrypt the snapshots' copies with the evidence key; each key's policy must let the account's IAM policies grant that. Volumes encrypted with the AWS managed key (aws/ebs) need none. Set it on the create_iam instance."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for arn in var.evidence_source_key_arns : can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[a-zA-Z0-9-]+$", arn))])
    error_message = "Each evidence source key must be a KMS key ARN (arn:<partition>:kms:<region>:<account>:key/<key id>), not an alias or key id."
  }
}

variable "forward_api_calls" {
  description = "Also forward to the central bus the successful API calls that can undo an isolation (CloudTrail's \"AWS API Call via CloudTrail\" events: an ENI's security groups, an instance profile, a group's rules, an Auto Scaling group or target group taking an instance back), made by anyone but the central function, for its reconciler (the central module's reconcile_on_api_calls, its member_module_inputs.forward_api_calls). Needs a CloudTrail trail with management events in this account and region."
  type        = bool
  default     = true
  nullable    = false
}

variable "event_target_maximum_retry_attempts" {
  description = "How many times EventBridge retries forwarding an event to the central bus before it sends it to the forwarding dead-letter queue."
  type        = number
  default     = 185
  nullable    = false

  validation {
    condition     = var.event_target_maximum_retry_attempts >= 0 && var.event_target_maximum_retry_attempts <= 185 && floor(var.event_target_maximum_retry_attempts) == var.event_target_maximum_retry_attempts
    error_message = "The retry attempts must be a whole number between 0 and 185."
  }
}

variable "iam_role_path" {
  description = "Path of the IAM roles and of the instance profile: the same as the central module's (the function finds the isolation profile and the executor role by path and name)."
  type        = string
  default     = "/"
  nullable    = false

  validation {
    condition     = length(var.iam_role_path) <= 512 && can(regex("^/([\\x21-\\x7E]*/)?$", var.iam_role_path))
    error_message = "The IAM path must start and end with \"/\" and contain only printable ASCII characters (at most 512)."
  }
}

variable "permissions_boundary_arn" {
  description = "ARN of an IAM managed policy to set as the permissions boundary of the module's IAM roles. Null sets none."
  type        = string
  default     = null

  validation {
    condition     = var.permissions_boundary_arn == null || can(regex("^arn:aws[a-z-]*:iam::([0-9]{12}|aws):policy/.+$", var.permissions_boundary_arn))
    error_message = "The permissions boundary must be an IAM policy ARN (arn:<partition>:iam::<account>:policy/<name>)."
  }
}

variable "tags" {
  description = "Tags for every taggable resource of the module."
  type        = map(string)
  default     = {}
  nullable    = false

  validation {
    condition = length(var.tags) <= 50 && alltrue([
      for key, value in var.tags :
      length(key) >= 1 && length(key) <= 128 && length(value) <= 256 && !startswith(lower(key), "aws:")
    ])
    error_message = "At most 50 tags; keys 1 to 128 characters, not starting with \"aws:\"; values at most 256 characters."
  }
}
