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
  description = "For `aws ssm start-session --target` and for the deploy's SSM commands."
  value       = aws_instance.pier.id
}

output "instance_ready_parameter" {
  description = "SSM parameter the instance sets to its id when its first boot is done (the deploy waits for it)."
  value       = aws_ssm_parameter.bootstrap.name
}

output "data_volume_id" {
  description = "The EBS volume with the SQLite database and the spool (outlives the instance; snapshot it for backups)."
  value       = aws_ebs_volume.data.id
}

output "region" {
  description = "The region the stack is in (deploy/scripts/deploy reads it from here)."
  value       = var.region
}

output "api_tokens_secret_arn" {
  description = "Secrets Manager secret holding the API tokens (comma-separated)."
  value       = module.api_tokens.secret_arn
}

output "image_tag_parameter" {
  description = "SSM parameter holding the released image tag; its history is the release history (deploy --rollback reads it)."
  value       = aws_ssm_parameter.image_tag.name
}
