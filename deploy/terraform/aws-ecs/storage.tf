# Images in S3 (bytes) and DynamoDB (metadata), shared with the other variants.
module "data" {
  source              = "../modules/pier-data"
  bucket_name         = "${var.name}-images-${data.aws_caller_identity.current.account_id}-${var.region}"
  table_name          = "${var.name}-images"
  create_table        = var.image_metadata == "dynamodb"
  force_destroy       = var.force_destroy
  deletion_protection = var.deletion_protection
}
