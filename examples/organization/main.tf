# Organization layout: the central module in the security account, modules/member in two member
# accounts, each in two regions. IAM is global: each account creates its roles and isolation profile
# in one region only (create_iam).
#
# Terraform runs with credentials of the security account (the default provider) and reaches each
# member account by assuming its deployment role (the aliased providers' assume_role): the role AWS
# Organizations creates in the accounts it creates, by default.

variable "central_region" {
  description = "Region of the central deployment (security account)."
  type        = string
  default     = "us-east-1"
}

variable "member_regions" {
  description = "The two regions of the member accounts; the first one holds each account's IAM resources."
  type        = list(string)
  default     = ["us-east-1", "eu-west-1"]
}

variable "member_account_ids" {
  description = "IDs of the two member accounts."
  type        = map(string)
  default = {
    workloads_a = "111111111111"
    workloads_b = "222222222222"
  }

  validation {
    condition     = toset(keys(var.member_account_ids)) == toset(["workloads_a", "workloads_b"]) && alltrue([for id in values(var.member_account_ids) : can(regex("^[0-9]{12}$", id))])
    error_message = "member_account_ids must map workloads_a and workloads_b to 12-digit account IDs."
  }
}

variable "member_deployment_role_name" {
  description = "Role Terraform assumes in each member account to deploy modules/member there (path included, without the leading \"/\"). AWS Organizations creates OrganizationAccountAccessRole in the accounts it creates."
  type        = string
  default     = "OrganizationAccountAccessRole"

  validation {
    condition     = can(regex("^([\\x21-\\x7E]*/)?[\\w+=,.@-]{1,64}$", var.member_deployment_role_name))
    error_message = "member_deployment_role_name must be an IAM role name, optionally after its path (no leading \"/\")."
  }
}

variable "partition" {
  description = "AWS partition of the accounts (aws, aws-cn, aws-us-gov): the deployment roles' ARNs are built before any provider can tell."
  type        = string
  default     = "aws"

  validation {
    condition     = contains(["aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b", "aws-iso-e", "aws-iso-f", "aws-eusc"], var.partition)
    error_message = "partition must be an AWS partition: aws, aws-cn, aws-us-gov, aws-iso, aws-iso-b, aws-iso-e, aws-iso-f or aws-eusc."
  }
}

variable "organization_id" {
  description = "ID of the AWS Organization of the accounts."
  type        = string
  default     = "o-a1b2c3d4e5"
}

variable "executor_external_id" {
  description = "External ID the central function passes to the executor roles. Choose your own."
  type        = string
  default     = "ec2-isolation-example"
  sensitive   = true
}

locals {
  tags = {
    Project     = "ec2-isolation"
    Environment = "example"
    Owner       = "security-operations"
  }
  # What every member module instance takes from the central deployment.
  central = module.ec2_isolation.member_module_inputs
  # The role each member provider assumes, by account.
  deployment_roles = {
    for account, id in var.member_account_ids :
    account => "arn:${var.partition}:iam::${id}:role/${var.member_deployment_role_name}"
  }
}

# Security account: the function, its bus policy and record table.
provider "aws" {
  region = var.central_region
}

provider "aws" {
  alias  = "workloads_a_primary"
  region = var.member_regions[0]

  assume_role {
    role_arn     = local.deployment_roles.workloads_a
    session_name = "terraform-ec2-isolation"
  }
}

provider "aws" {
  alias  = "workloads_a_secondary"
  region = var.member_regions[1]

  assume_role {
    role_arn     = local.deployment_roles.workloads_a
    session_name = "terraform-ec2-isolation"
  }
}

provider "aws" {
  alias  = "workloads_b_primary"
  region = var.member_regions[0]

  assume_role {
    role_arn     = local.deployment_roles.workloads_b
    session_name = "terraform-ec2-isolation"
  }
}

provider "aws" {
  alias  = "workloads_b_secondary"
  region = var.member_regions[1]

  assume_role {
    role_arn     = local.deployment_roles.workloads_b
    session_name = "terraform-ec2-isolation"
  }
}

module "ec2_isolation" {
  source = "../../"

  name                 = "ec2-isolation"
  member_account_ids   = values(var.member_account_ids)
  organization_id      = var.organization_id
  executor_external_id = var.executor_external_id
  # The reconciler sweeps the member accounts in both of their regions.
  reconcile_regions = var.member_regions
  # The member accounts' evidence snapshots are copied into the security account's custody (its key,
  # alias/ec2-isolation-evidence), locked there like the evidence (governance mode, 90 days: the
  # defaults). Each member module creates its region's evidence key (evidence_custody below).
  evidence_custody = true

  # Applied and destroyed by tests: keep the default (true) for a real deployment.
  record_deletion_protection = false

  tags = local.tags
}

module "workloads_a_primary" {
  source    = "../../modules/member"
  providers = { aws = aws.workloads_a_primary }

  name                    = local.central.name
  iam_role_path           = local.central.iam_role_path
  central_account_id      = local.central.central_account_id
  central_event_bus_arn   = local.central.central_event_bus_arn
  central_lambda_role_arn = local.central.central_lambda_role_arn
  isolation_tag_key       = local.central.isolation_tag_key
  isolation_tag_value     = local.central.isolation_tag_value
  release_tag_value       = local.central.release_tag_value
  forward_api_calls       = local.central.forward_api_calls
  evidence_custody        = local.central.evidence_custody
  organization_id         = local.central.organization_id
  external_id             = var.executor_external_id
  regions                 = var.member_regions
  create_iam              = true
  tags                    = local.tags
}

module "workloads_a_secondary" {
  source    = "../../modules/member"
  providers = { aws = aws.workloads_a_secondary }

  name                    = local.central.name
  iam_role_path           = local.central.iam_role_path
  central_account_id      = local.central.central_account_id
  central_event_bus_arn   = local.central.central_event_bus_arn
  central_lambda_role_arn = local.central.central_lambda_role_arn
  isolation_tag_key       = local.central.isolation_tag_key
  isolation_tag_value     = local.central.isolation_tag_value
  release_tag_value       = local.central.release_tag_value
  forward_api_calls       = local.central.forward_api_calls
  evidence_custody        = local.central.evidence_custody
  organization_id         = local.central.organization_id
  external_id             = var.executor_external_id
  regions                 = var.member_regions
  # IAM is global: created by workloads_a_primary.
  create_iam = false
  tags       = local.tags
}

module "workloads_b_primary" {
  source    = "../../modules/member"
  providers = { aws = aws.workloads_b_primary }

  name                    = local.central.name
  iam_role_path           = local.central.iam_role_path
  central_account_id      = local.central.central_account_id
  central_event_bus_arn   = local.central.central_event_bus_arn
  central_lambda_role_arn = local.central.central_lambda_role_arn
  isolation_tag_key       = local.central.isolation_tag_key
  isolation_tag_value     = local.central.isolation_tag_value
  release_tag_value       = local.central.release_tag_value
  forward_api_calls       = local.central.forward_api_calls
  evidence_custody        = local.central.evidence_custody
  organization_id         = local.central.organization_id
  external_id             = var.executor_external_id
  regions                 = var.member_regions
  create_iam              = true
  tags                    = local.tags
}

module "workloads_b_secondary" {
  source    = "../../modules/member"
  providers = { aws = aws.workloads_b_secondary }

  name                    = local.central.name
  iam_role_path           = local.central.iam_role_path
  central_account_id      = local.central.central_account_id
  central_event_bus_arn   = local.central.central_event_bus_arn
  central_lambda_role_arn = local.central.central_lambda_role_arn
  isolation_tag_key       = local.central.isolation_tag_key
  isolation_tag_value     = local.central.isolation_tag_value
  release_tag_value       = local.central.release_tag_value
  forward_api_calls       = local.central.forward_api_calls
  evidence_custody        = local.central.evidence_custody
  organization_id         = local.central.organization_id
  external_id             = var.executor_external_id
  regions                 = var.member_regions
  create_iam              = false
  tags                    = local.tags
}
