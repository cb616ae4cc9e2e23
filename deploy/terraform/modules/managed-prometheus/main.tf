# Amazon Managed Service for Prometheus for one stack: the workspace the collectors
# remote-write to, the kit's own recording and alert rules (the same files the Compose
# and Swarm Prometheus load and promtool tests), and an alert manager that sends what
# fires to the stack's SNS topic.
locals {
  rule_files = fileset(var.rules_dir, "*.yml")
  alert_manager_definition = templatefile("${path.module}/../../../observability/amp/alertmanager.yml.tftpl", {
    topic_arn = var.alert_topic_arn
    region    = var.region
  })
}

# The workspace's own log: a rule that fails to evaluate or a notification the alert
# manager could not deliver shows up here (and nowhere else).
resource "aws_cloudwatch_log_group" "workspace" {
  #checkov:skip=CKV_AWS_158:AWS-managed encryption; the log holds rule and delivery errors, no data
  #checkov:skip=CKV_AWS_338:retention is the log_retention_days variable (30 days by default)
  name              = "/aws/prometheus/${var.name}"
  retention_in_days = var.log_retention_days
}

resource "aws_prometheus_workspace" "pier" {
  alias = var.name

  logging_configuration {
    log_group_arn = "${aws_cloudwatch_log_group.workspace.arn}:*"
  }
}

# One namespace per rule file, its data the file itself: nothing is copied or rewritten,
# so what promtool tested is what the workspace evaluates.
resource "aws_prometheus_rule_group_namespace" "pier" {
  for_each     = local.rule_files
  name         = "${var.name}-${trimsuffix(each.value, ".yml")}"
  workspace_id = aws_prometheus_workspace.pier.id
  data         = file("${var.rules_dir}/${each.value}")
}

resource "aws_prometheus_alert_manager_definition" "pier" {
  count        = var.alert_manager ? 1 : 0
  workspace_id = aws_prometheus_workspace.pier.id
  definition   = local.alert_manager_definition
}
