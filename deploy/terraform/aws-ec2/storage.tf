# The same bucket, table and least-privilege policy as the ECS variant.
module "data" {
  source              = "../modules/pier-data"
  bucket_name         = "${var.name}-images-${data.aws_caller_identity.current.account_id}-${var.region}"
  table_name          = "${var.name}-images"
  force_destroy       = var.force_destroy
  deletion_protection = var.deletion_protection
}

module "registry" {
  source       = "../modules/registry"
  name         = var.name
  force_delete = var.force_destroy
}

resource "aws_secretsmanager_secret" "api_tokens" {
  #checkov:skip=CKV_AWS_149:the AWS-managed aws/secretsmanager key; who reads it is decided by IAM
  #checkov:skip=CKV2_AWS_57:tokens are rotated by the operator (several are valid at once); there is no rotation Lambda
  name                    = "${var.name}/api-tokens"
  description             = "pier API tokens (comma-separated) for POST, PUT and DELETE"
  recovery_window_in_days = var.deletion_protection ? 7 : 0
}

resource "aws_secretsmanager_secret_version" "api_tokens" {
  count         = length(var.api_tokens) > 0 ? 1 : 0
  secret_id     = aws_secretsmanager_secret.api_tokens.id
  secret_string = join(",", var.api_tokens)
}
