# Set by the parent module (modules/isolation-target) only: the public modules validate the values.

variable "name" {
  description = "Name of the isolation role and of its instance profile (\"<deployment name>-isolation\")."
  type        = string
}

variable "path" {
  description = "IAM path of the role and of the instance profile."
  type        = string
}

variable "deployment_name" {
  description = "Name of the deployment, for the role's description."
  type        = string
}

variable "permissions_boundary_arn" {
  description = "Permissions boundary of the role; null for none."
  type        = string
}

variable "tags" {
  description = "Tags of the role and of the instance profile."
  type        = map(string)
}

variable "role_arn" {
  description = "The ARN the role must get (built from the naming convention, known at plan time)."
  type        = string
}

variable "instance_profile_arn" {
  description = "The ARN the instance profile must get (built from the naming convention, known at plan time)."
  type        = string
}
