output "service_url" {
  description = "Where pier answers: https://DOMAIN with a domain, else http://ALB-NAME."
  value       = local.https ? "https://${var.domain_name}" : "http://${aws_lb.pier.dns_name}"
}

output "alb_dns_name" {
  description = "The load balancer's DNS name (CNAME your own domain to it, or use service_url)."
  value       = aws_lb.pier.dns_name
}

output "region" {
  description = "The region the stack is in (deploy/scripts/deploy reads it from here)."
  value       = var.region
}

output "alarm_names" {
  description = "The CloudWatch alarms that notify the SNS topic."
  value       = concat(module.alarms.alarm_names, [aws_cloudwatch_metric_alarm.cpu_high.alarm_name])
}

output "alarm_topic_arn" {
  description = "The SNS topic alarms notify (subscribe an email or a pager to it)."
  value       = module.alarms.topic_arn
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

output "image_tag_parameter" {
  description = "SSM parameter holding the released image tag; its history is the release history (deploy --rollback reads it)."
  value       = aws_ssm_parameter.image_tag.name
}

output "spool_file_system_id" {
  description = "The EFS file system every task mounts at PIER_SPOOL (/spool)."
  value       = module.spool.file_system_id
}

output "spool_policy" {
  description = "The spool file system's policy (TLS only, mounts through the access point only)."
  value       = module.spool.file_system_policy_json
}

output "spool_backup_status" {
  description = "The spool's backup policy status."
  value       = module.spool.backup_status
}

output "prometheus_workspace_id" {
  description = "The Amazon Managed Service for Prometheus workspace (null with metrics = \"none\")."
  value       = local.metrics_on ? module.prometheus[0].workspace_id : null
}

output "prometheus_query_url" {
  description = "The workspace's query endpoint: the URL of Grafana's Prometheus data source (SigV4 auth, service aps)."
  value       = local.metrics_on ? module.prometheus[0].query_url : null
}

output "prometheus_rule_namespaces" {
  description = "Each rule file of deploy/observability/rules and the rule groups namespace that holds it."
  value       = local.metrics_on ? module.prometheus[0].rule_namespaces : {}
}

output "alert_manager_definition" {
  description = "The workspace's alert manager definition as rendered (both severities to alarm_topic_arn)."
  value       = local.metrics_on ? module.prometheus[0].alert_manager_definition : null
}

output "collector_config" {
  description = "The collector sidecar's configuration as the task receives it (AOT_CONFIG_CONTENT)."
  value       = local.metrics_on ? local.collector_config_yaml : null
}

output "log_queries" {
  description = "The CloudWatch Logs Insights saved queries (name -> query), as rendered."
  value       = local.log_queries
}

output "grafana_workspace_url" {
  description = "The Amazon Managed Grafana workspace (managed_grafana = true), else null."
  value       = length(aws_grafana_workspace.pier) > 0 ? "https://${aws_grafana_workspace.pier[0].endpoint}" : null
}
