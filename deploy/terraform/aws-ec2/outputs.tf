output "service_url" {
  description = "Where pier answers (plain HTTP on the Elastic IP)."
  value       = "http://${aws_eip.pier.public_ip}"
}

output "ecr_repository_url" {
  description = "Push images here (deploy/scripts/build-and-push does)."
  value       = module.registry.repository_url
}

output "bucket_name" {
  description = "The S3 bucket of image bytes."
  value       = module.data.bucket_name
}

output "table_name" {
  description = "The DynamoDB table of image metadata."
  value       = module.data.table_name
}

output "instance_id" {
  description = "For `aws ssm start-session --target` and for restarting pier with SSM Run Command."
  value       = aws_instance.pier.id
}
