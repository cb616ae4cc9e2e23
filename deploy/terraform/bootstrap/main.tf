# Run once per AWS account, before any stack (deploy/README.md, step 2): the S3 bucket
# that holds every stack's Terraform state (versioned, encrypted, private, TLS only;
# locking by lock files in the bucket, no DynamoDB table), and — given a GitHub
# repository — the OIDC roles its workflows assume (modules/github-oidc). Its own state
# stays local: keep terraform.tfstate of this directory somewhere safe, or migrate it
# into the bucket it made (`terraform init -migrate-state` with a backend block).
data "aws_caller_identity" "current" {}

resource "aws_s3_bucket" "state" {
  #checkov:skip=CKV_AWS_144:cross-region replication of state is a disaster-recovery choice, not a default
  #checkov:skip=CKV_AWS_18:access logging needs a second bucket; CloudTrail records who read state
  #checkov:skip=CKV2_AWS_62:no event notifications on state writes
  #checkov:skip=CKV_AWS_145:SSE with the AWS-managed key; a customer key costs $1/month and changes nothing for who can read it (IAM does)
  bucket        = var.state_bucket
  force_destroy = var.force_destroy
}

resource "aws_s3_bucket_versioning" "state" {
  bucket = aws_s3_bucket.state.id
  versioning_configuration {
    status = "Enabled" # every state ever written can be restored
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "state" {
  bucket = aws_s3_bucket.state.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "aws:kms"
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "state" {
  bucket                  = aws_s3_bucket.state.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_lifecycle_configuration" "state" {
  bucket = aws_s3_bucket.state.id
  rule {
    id     = "old-state-versions"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = 90
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

data "aws_iam_policy_document" "tls_only" {
  statement {
    sid     = "DenyPlainHttp"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.state.arn,
      "${aws_s3_bucket.state.arn}/*",
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

resource "aws_s3_bucket_policy" "state" {
  bucket = aws_s3_bucket.state.id
  policy = data.aws_iam_policy_document.tls_only.json
}

module "github" {
  count                 = var.github_repository == null ? 0 : 1
  source                = "../modules/github-oidc"
  repository            = var.github_repository
  create_provider       = var.create_github_provider
  existing_provider_arn = var.existing_github_provider_arn
  ecr_repository_arns = length(var.ecr_repository_arns) > 0 ? var.ecr_repository_arns : [
    "arn:aws:ecr:*:${data.aws_caller_identity.current.account_id}:repository/pier*",
  ]
  state_bucket_arn   = aws_s3_bucket.state.arn
  deploy_policy_json = file("${path.module}/../../iam/deployer-policy.json")
}
