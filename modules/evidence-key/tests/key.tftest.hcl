# `terraform test` suite of modules/evidence-key: the key, its alias and its policy, for two users (as
# modules/member has them) and for none. Planned only, offline: the AWS provider is configured with
# static fake credentials and asked nothing (a policy document is computed locally, a key to be created
# is read from nowhere), so the key policy's JSON can be held here.
#
#   terraform test   (run from modules/evidence-key; tests/terraform/test_evidence_key_tftest.py does it)

provider "aws" {
  region                      = "eu-west-1"
  access_key                  = "AKIAIOSFODNN7EXAMPLE"
  secret_key                  = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
}

variables {
  description = "Re-encrypts this account's evidence snapshots."
  alias       = "alias/ec2-isolation-evidence"
  partition   = "aws"
  account_id  = "111111111111"
  users = {
    Executor = {
      account_id       = "111111111111"
      role_arn         = "arn:aws:iam::111111111111:role/ec2-isolation-executor"
      via_service_test = "StringEquals"
      via_service      = "ec2.eu-west-1.amazonaws.com"
    }
    CentralFunction = {
      account_id       = "999999999999"
      role_arn         = "arn:aws:iam::999999999999:role/ec2-isolation-lambda"
      via_service_test = "StringLike"
      via_service      = "ec2.*.amazonaws.com"
    }
  }
  tags = { Team = "incident-response" }
}

run "the_key_is_rotated_kept_30_days_tagged_and_aliased" {
  command = plan

  assert {
    condition     = aws_kms_key.this.enable_key_rotation && aws_kms_key.this.deletion_window_in_days == 30
    error_message = "The key is rotated, with KMS's longest deletion window."
  }

  assert {
    condition     = aws_kms_key.this.description == var.description && aws_kms_key.this.tags == tomap(var.tags)
    error_message = "The key has the caller's description and tags."
  }

  assert {
    condition     = aws_kms_alias.this.name == "alias/ec2-isolation-evidence" && output.alias == "alias/ec2-isolation-evidence"
    error_message = "The key is aliased as the caller says, and the output names the alias."
  }
}

run "the_account_administers_the_key" {
  command = plan

  assert {
    condition     = jsondecode(data.aws_iam_policy_document.this.json).Statement[0] == { Sid = "AccountAdministersKey", Effect = "Allow", Action = "kms:*", Resource = "*", Principal = { AWS = "arn:aws:iam::111111111111:root" } }
    error_message = "The key's account administers it (KMS's default statement): the key never becomes unmanageable."
  }
}

run "each_user_may_have_ec2_use_the_key_and_nothing_else" {
  command = plan

  assert {
    condition     = [for statement in jsondecode(data.aws_iam_policy_document.this.json).Statement : statement.Sid] == ["AccountAdministersKey", "CentralFunctionCopiesViaEc2", "CentralFunctionGrantsKeyToEc2", "ExecutorCopiesViaEc2", "ExecutorGrantsKeyToEc2"]
    error_message = "Each user has two statements, named after it: the use through EC2 and the grant EC2 keeps; nothing else."
  }

  assert {
    # The statement but its actions (a set: the provider's order is its own)...
    condition = { for key, value in jsondecode(data.aws_iam_policy_document.this.json).Statement[3] : key => value if key != "Action" } == {
      Sid       = "ExecutorCopiesViaEc2"
      Effect    = "Allow"
      Resource  = "*"
      Principal = { AWS = "arn:aws:iam::111111111111:root" }
      Condition = {
        ArnEquals    = { "aws:PrincipalArn" = "arn:aws:iam::111111111111:role/ec2-isolation-executor" }
        StringEquals = { "kms:ViaService" = "ec2.eu-west-1.amazonaws.com" }
      }
    }
    error_message = "A user's role, by its account and aws:PrincipalArn, may have EC2 use the key in the user's region only."
  }

  assert {
    # ...and its actions: those of a copy, encrypted with the key or from it.
    condition     = toset(jsondecode(data.aws_iam_policy_document.this.json).Statement[3].Action) == toset(["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncryptFrom", "kms:ReEncryptTo"])
    error_message = "Through EC2, a user may decrypt, describe, generate data keys without plaintext and re-encrypt with the key: what a copy needs, nothing else."
  }

  assert {
    condition = jsondecode(data.aws_iam_policy_document.this.json).Statement[2] == {
      Sid       = "CentralFunctionGrantsKeyToEc2"
      Effect    = "Allow"
      Action    = "kms:CreateGrant"
      Resource  = "*"
      Principal = { AWS = "arn:aws:iam::999999999999:root" }
      Condition = {
        ArnEquals  = { "aws:PrincipalArn" = "arn:aws:iam::999999999999:role/ec2-isolation-lambda" }
        StringLike = { "kms:ViaService" = "ec2.*.amazonaws.com" }
        Bool       = { "kms:GrantIsForAWSResource" = "true" }
      }
    }
    error_message = "A user of another account may create grants on the key for AWS resources only, through EC2 in the regions its kms:ViaService condition names."
  }
}

run "without_users_only_the_account_may_use_the_key" {
  command = plan
  variables { users = {} }

  assert {
    condition     = [for statement in jsondecode(data.aws_iam_policy_document.this.json).Statement : statement.Sid] == ["AccountAdministersKey"]
    error_message = "Without users, the key policy holds the account's statement only."
  }
}
