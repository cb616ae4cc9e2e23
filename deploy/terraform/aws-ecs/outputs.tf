output "service_url" {
  description = "Where pier answers: https://DOMAIN with a domain, else http://ALB-NAME."
  value       = local.https ? "https://${var.domain_name}" : "http://${aws_lb.pier.dns_name}"
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
  description = "The DynamoDB table of image metadata (null with image_metadata = \"postgres\")."
  value       = module.data.table_name
}

output "cluster_name" {
  description = "ECS cluster, for `aws ecs update-service` (deploy/scripts/deploy uses it)."
  value       = aws_ecs_cluster.pier.name
}

output "service_name" {
  description = "ECS service name."
  value       = aws_ecs_service.pier.name
}

output "api_tokens_secret_arn" {
  description = "Secrets Manager secret holding the API tokens (comma-separated)."
  value       = module.api_tokens.secret_arn
}

output "log_group" {
  description = "CloudWatch log group of pier's JSON logs."
  value       = aws_cloudwatch_log_group.pier.name
}
