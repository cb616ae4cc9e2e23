# What pier may do, and on what: objects of this bucket, items of this table and its
# index. No wildcards on resources, no bucket or table administration.
data "aws_iam_policy_document" "pier" {
  statement {
    sid       = "ListImages"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.images.arn]
  }

  statement {
    sid = "ReadWriteImageObjects"
    actions = [
      "s3:GetObject",
      "s3:PutObject",
      "s3:DeleteObject",
      "s3:AbortMultipartUpload",
      "s3:ListMultipartUploadParts",
    ]
    resources = ["${aws_s3_bucket.images.arn}/*"]
  }

  dynamic "statement" {
    for_each = var.create_table ? [1] : []
    content {
      sid = "ReadWriteImageMetadata"
      actions = [
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:Query",
        "dynamodb:Scan",
        "dynamodb:DescribeTable",
        "dynamodb:ConditionCheckItem",
      ]
      resources = [
        aws_dynamodb_table.images[0].arn,
        "${aws_dynamodb_table.images[0].arn}/index/by_time",
      ]
    }
  }

  dynamic "statement" {
    for_each = var.kms_key_arn == null ? [] : [1]
    content {
      sid       = "UseTheDataKey"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = [var.kms_key_arn]
    }
  }
}
