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

module "api_tokens" {
  source                  = "../modules/api-tokens"
  name                    = var.name
  tokens                  = var.api_tokens
  recovery_window_in_days = var.deletion_protection ? 7 : 0
}
