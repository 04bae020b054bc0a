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

  tags = {
    Project     = "ec2-isolation"
    Environment = "example"
    Owner       = "security-operations"
  }
}
