output "bucket_name" {
  description = "The images bucket."
  value       = aws_s3_bucket.images.id
}

output "bucket_arn" {
  description = "ARN of the images bucket."
  value       = aws_s3_bucket.images.arn
}

output "table_name" {
  description = "The DynamoDB table of image metadata (null when not created)."
  value       = var.create_table ? aws_dynamodb_table.images[0].name : null
}

output "table_arn" {
  description = "ARN of the DynamoDB table (null when not created)."
  value       = var.create_table ? aws_dynamodb_table.images[0].arn : null
}

output "pier_policy_json" {
  description = "The least-privilege policy pier's role needs for these resources."
  value       = data.aws_iam_policy_document.pier.json
}

output "environment" {
  description = "pier's settings for these resources (PIER_STORAGE and, with a table, PIER_METADATA)."
  value = merge(
    { PIER_STORAGE = "s3://${aws_s3_bucket.images.id}" },
    var.create_table ? { PIER_METADATA = "dynamodb://${aws_dynamodb_table.images[0].name}" } : {},
  )
}
