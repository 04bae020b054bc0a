# The application team's stack: what a routine pipeline re-applies to an instance the team runs. It
# manages the application's security group and its attachment to the instance's primary network
# interface, and nothing else of the instance. Re-applied after an isolation, it puts the interface back
# on the application's group: drift the isolation's reconciler must repair. The end-to-end reconcile
# test applies it to the emulator (tests/e2e/test_reconcile.py); it is not an example to deploy.
#
# It does not manage the instance profile. hashicorp/aws associates a profile with an instance only
# through aws_instance (iam_instance_profile), which would have to import the instance and, on the
# emulator, cannot work: the provider reads the profile back from DescribeInstances and waits there
# for the new one after ReplaceIamInstanceProfileAssociation, and moto keeps reporting the profile the
# instance had before a replace (so the provider neither sees an isolation's swap nor finishes its
# own). The test makes the profile drift by hand instead, as an operator would.

variable "region" {
  description = "AWS region of the instance."
  type        = string
  default     = "us-east-1"
}

variable "name" {
  description = "Name of the stack's security group."
  type        = string
  default     = "web-app-stack"
}

variable "instance_id" {
  description = "The running instance whose primary network interface gets the application's group."
  type        = string
}

provider "aws" {
  region = var.region
}

data "aws_instance" "web" {
  instance_id = var.instance_id
}

data "aws_network_interface" "primary" {
  id = data.aws_instance.web.network_interface_id
}

# The application's own group, attached to the instance's primary interface beside whatever groups the
# interface has (aws_network_interface_sg_attachment adds this one group and leaves the others).
resource "aws_security_group" "app" {
  name        = var.name
  description = "web tier of ${var.name}"
  vpc_id      = data.aws_network_interface.primary.vpc_id

  ingress {
    description = "HTTPS from anywhere"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }
}

resource "aws_network_interface_sg_attachment" "web" {
  security_group_id    = aws_security_group.app.id
  network_interface_id = data.aws_instance.web.network_interface_id
}

output "security_group_id" {
  description = "The stack's application security group."
  value       = aws_security_group.app.id
}

output "network_interface_id" {
  description = "The instance's primary network interface, where the stack's group is attached."
  value       = data.aws_instance.web.network_interface_id
}
