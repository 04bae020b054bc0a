# Organization layout: the central module in the security account, modules/member in two member
# accounts, each in two regions. IAM is global: each account creates its roles and isolation profile
# in one region only (create_iam).
#
# Each member provider below stands for a member account. A real deployment gives each one
#
#   assume_role {
#     role_arn = "arn:aws:iam::<member account>:role/<deployment role>"
#   }
#
# and `allowed_account_ids = [<member account>]`; this example leaves both out so that the tests can
# plan it offline (the offline STS stub answers GetCallerIdentity only).

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
}

# Security account: the function, its bus policy and record table.
provider "aws" {
  region = var.central_region
}

provider "aws" {
  alias  = "workloads_a_primary"
  region = var.member_regions[0]
}

provider "aws" {
  alias  = "workloads_a_secondary"
  region = var.member_regions[1]
}

provider "aws" {
  alias  = "workloads_b_primary"
  region = var.member_regions[0]
}

provider "aws" {
  alias  = "workloads_b_secondary"
  region = var.member_regions[1]
}

module "ec2_isolation" {
  source = "../../"

  name                 = "ec2-isolation"
  member_account_ids   = values(var.member_account_ids)
  organization_id      = var.organization_id
  executor_external_id = var.executor_external_id

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
  organization_id         = local.central.organization_id
  external_id             = var.executor_external_id
  regions                 = var.member_regions
  create_iam              = false
  tags                    = local.tags
}
