output "service_url" {
  description = "Where pier answers (the ALB, plain HTTP)."
  value       = "http://${aws_lb.swarm.dns_name}"
}

output "alb_dns_name" {
  description = "The load balancer's DNS name (CNAME your own domain to it)."
  value       = aws_lb.swarm.dns_name
}

output "region" {
  description = "The region the stack is in (deploy/scripts/deploy reads it from here)."
  value       = var.region
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
  description = "The DynamoDB table of image metadata (null with metadata = \"postgres\")."
  value       = module.data.table_name
}

output "manager_instance_id" {
  description = "For `aws ssm start-session --target` and the deploy's SSM commands (docker commands run on the manager)."
  value       = aws_instance.manager.id
}

output "manager_ready_parameter" {
  description = "SSM parameter the manager sets to its instance id when its first boot is done (the deploy waits for it)."
  value       = aws_ssm_parameter.bootstrap.name
}

output "swarm_up_base64" {
  description = "The manager's swarm step (templates/swarm-up.sh.tftpl, rendered), which every deploy sends before it releases an image."
  value       = base64encode(local.swarm_up)
}

output "workers_group" {
  description = "The workers' Auto Scaling group."
  value       = aws_autoscaling_group.workers.name
}

output "api_tokens_secret_arn" {
  description = "Secrets Manager secret holding the API tokens (comma-separated)."
  value       = module.api_tokens.secret_arn
}

output "alarm_names" {
  description = "The CloudWatch alarms that notify the SNS topic."
  value       = module.alarms.alarm_names
}

output "alarm_topic_arn" {
  description = "The SNS topic alarms notify (subscribe an email or a pager to it)."
  value       = module.alarms.topic_arn
}

output "image_tag_parameter" {
  description = "SSM parameter holding the released image tag; its history is the release history (deploy --rollback reads it)."
  value       = aws_ssm_parameter.image_tag.name
}

output "grafana_url" {
  description = "Grafana through the load balancer (null when monitoring_allowed_cidrs is empty)."
  value       = local.monitoring_exposed ? "http://${aws_lb.swarm.dns_name}:${var.monitoring_port}" : null
}

output "grafana_admin_secret_arn" {
  description = "The secret holding Grafana's admin password (user admin)."
  value       = aws_secretsmanager_secret.grafana_admin.arn
}

output "swarm_kit_path" {
  description = "The SSM path of the stack file and monitoring files the manager deploys."
  value       = local.kit_path
}
