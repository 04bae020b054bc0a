terraform {
  # Lower bounds only, like the root module: tested with Terraform 1.11 and hashicorp/aws 5.100, and uses
  # nothing that was removed or deprecated in hashicorp/aws 6.x.
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
  }
}
