output "service_url" {
  description = "Where pier answers (the ALB, plain HTTP)."
  value       = "http://${aws_lb.swarm.dns_name}"
}

output "ecr_repository_url" {
  description = "Push images here (deploy/scripts/build-and-push does)."
  value       = module.registry.repository_url
}

output "bucket_name" {
  description = "The S3 bucket of image bytes."
  value       = module.data.bucket_name
}

output "manager_instance_id" {
  description = "For `aws ssm start-session --target` (docker commands run on the manager)."
  value       = aws_instance.manager.id
}

output "workers_group" {
  description = "The workers' Auto Scaling group."
  value       = aws_autoscaling_group.workers.name
}
