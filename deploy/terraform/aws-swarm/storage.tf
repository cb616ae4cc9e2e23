module "data" {
  source              = "../modules/pier-data"
  bucket_name         = "${var.name}-images-${data.aws_caller_identity.current.account_id}-${var.region}"
  table_name          = "${var.name}-images"
  create_table        = var.metadata == "dynamodb"
  force_destroy       = var.force_destroy
  deletion_protection = var.deletion_protection
}

module "registry" {
  source       = "../modules/registry"
  name         = var.name
  force_delete = var.force_destroy
}

# Items are SQL and shared by every replica.
module "postgres" {
  source                   = "../modules/postgres"
  name                     = var.name
  vpc_id                   = module.network.vpc_id
  subnet_ids               = module.network.private_subnet_ids
  client_security_group_id = aws_security_group.nodes.id
  instance_class           = var.db_instance_class
  deletion_protection      = var.deletion_protection
}

module "api_tokens" {
  source                  = "../modules/api-tokens"
  name                    = var.name
  tokens                  = var.api_tokens
  recovery_window_in_days = var.deletion_protection ? 7 : 0
}

# The worker join token and the manager's address: written by the manager at boot,
# read by workers at boot. Never in user data or Terraform state (the value here is a
# placeholder the manager overwrites).
resource "aws_ssm_parameter" "join_token" {
  #checkov:skip=CKV_AWS_337:encrypted with the AWS-managed aws/ssm key; IAM limits reading to the nodes
  name  = "/${var.name}/swarm/worker-join-token"
  type  = "SecureString"
  value = "pending"

  lifecycle {
    ignore_changes = [value]
  }
}

resource "aws_ssm_parameter" "manager_address" {
  #checkov:skip=CKV2_AWS_34:a private IP address and port, not a secret; the join token next to it is a SecureString
  name  = "/${var.name}/swarm/manager-address"
  type  = "String"
  value = "pending"

  lifecycle {
    ignore_changes = [value]
  }
}

# The released image tag. A release updates it in place (terraform apply -var
# image_tag=…) and rolls the service with `docker service update`; a new manager (a new
# swarm) deploys the stack with it. Never in user data, so a release replaces nothing.
resource "aws_ssm_parameter" "image_tag" {
  #checkov:skip=CKV2_AWS_34:an image tag, not a secret
  name  = "/${var.name}/image-tag"
  type  = "String"
  value = var.image_tag
}

# Written by the manager when its first boot is done (its instance id): deploys wait for
# it before sending a command, so the first deploy cannot race the instance's setup.
resource "aws_ssm_parameter" "bootstrap" {
  #checkov:skip=CKV2_AWS_34:an instance id, not a secret
  name  = "/${var.name}/swarm/manager-ready"
  type  = "String"
  value = "pending"

  lifecycle {
    ignore_changes = [value]
  }
}
