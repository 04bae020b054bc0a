variable "region" {
  description = "AWS region to deploy the isolation automation to (it handles the instances of this region)."
  type        = string
  default     = "us-east-1"
}

provider "aws" {
  region = var.region
}

module "ec2_isolation" {
  source = "../../"

  name                = "ec2-isolation"
  isolation_tag_key   = "SecurityIsolation"
  isolation_tag_value = "Isolate"

  # This example is applied and destroyed by the tests and by `make demo`: its record table must be
  # deletable. Keep the default (true) for a real deployment: the records are the audit trail.
  record_deletion_protection = false

  tags = {
    Project     = "ec2-isolation"
    Environment = "example"
    Owner       = "security-operations"
  }
}
