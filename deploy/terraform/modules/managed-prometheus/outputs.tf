output "workspace_id" {
  description = "The workspace's id."
  value       = aws_prometheus_workspace.pier.id
}

output "workspace_arn" {
  description = "The workspace's ARN: the only resource the collectors may remote-write to."
  value       = aws_prometheus_workspace.pier.arn
}

output "remote_write_url" {
  description = "Where collectors send samples (SigV4, service aps)."
  value       = "${aws_prometheus_workspace.pier.prometheus_endpoint}api/v1/remote_write"
}

output "query_url" {
  description = "The Prometheus-compatible query endpoint: Grafana's SigV4 data source URL."
  value       = aws_prometheus_workspace.pier.prometheus_endpoint
}

output "rule_namespaces" {
  description = "Rule file name -> its rule groups namespace's name."
  value       = { for file, namespace in aws_prometheus_rule_group_namespace.pier : file => namespace.name }
}

output "alert_manager_definition" {
  description = "The alert manager definition as rendered (also when alert_manager = false: the test checks this text)."
  value       = local.alert_manager_definition
}
