# Where pier keeps images: bytes in a private S3 bucket, metadata in DynamoDB (the
# schema of src/store/dynamo.rs, which `pier migrate` would otherwise create), and the
# least-privilege IAM policy that lets pier use exactly these two and nothing else.

resource "aws_s3_bucket" "images" {
  #checkov:skip=CKV_AWS_144:cross-region replication doubles storage cost; a deployment choice, documented in the README
  #checkov:skip=CKV_AWS_18:server access logs need a second bucket per deployment; CloudTrail data events are the audit trail when needed
  #checkov:skip=CKV2_AWS_62:pier itself is the only writer; nothing consumes bucket events
  bucket        = var.bucket_name
  force_destroy = var.force_destroy
}

resource "aws_s3_bucket_public_access_block" "images" {
  bucket                  = aws_s3_bucket.images.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "images" {
  bucket = aws_s3_bucket.images.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_versioning" "images" {
  bucket = aws_s3_bucket.images.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "images" {
  bucket = aws_s3_bucket.images.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = var.kms_key_arn == null ? "AES256" : "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    bucket_key_enabled = var.kms_key_arn != null
  }
}

# Deleted images stay recoverable for a while as noncurrent versions, then go; uploads
# abandoned mid-way (a push that missed its deadline and went to the spool) are cleaned up.
resource "aws_s3_bucket_lifecycle_configuration" "images" {
  bucket = aws_s3_bucket.images.id

  rule {
    id     = "expire-old-versions-and-abandoned-uploads"
    status = "Enabled"
    filter {}

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_days
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  depends_on = [aws_s3_bucket_versioning.images]
}

# TLS only: a request over plain HTTP is refused whatever the caller's permissions.
data "aws_iam_policy_document" "tls_only" {
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.images.arn,
      "${aws_s3_bucket.images.arn}/*",
    ]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "images" {
  bucket     = aws_s3_bucket.images.id
  policy     = data.aws_iam_policy_document.tls_only.json
  depends_on = [aws_s3_bucket_public_access_block.images]
}

# Partition key `id` (UUIDv7 text); global index `by_time` (`feed` = "images", sort key
# `id`) so the newest-first listing is one Query. Must match src/store/dynamo.rs.
resource "aws_dynamodb_table" "images" {
  count        = var.create_table ? 1 : 0
  name         = var.table_name
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "id"

  attribute {
    name = "id"
    type = "S"
  }

  attribute {
    name = "feed"
    type = "S"
  }

  global_secondary_index {
    name            = "by_time"
    hash_key        = "feed"
    range_key       = "id"
    projection_type = "ALL"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms_key_arn
  }

  deletion_protection_enabled = var.deletion_protection
}
