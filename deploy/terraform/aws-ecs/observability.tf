resource "aws_cloudwatch_log_group" "pier" {
  #checkov:skip=CKV_AWS_158:AWS-managed encryption; pier never logs secrets or bodies, and a customer key costs $1/month
  #checkov:skip=CKV_AWS_338:retention is the log_retention_days variable (30 days by default; a year is a compliance choice)
  name              = "/ecs/${var.name}"
  retention_in_days = var.log_retention_days
}

moved {
  from = aws_sns_topic.alarms
  to   = module.alarms.aws_sns_topic.alarms
}

moved {
  from = aws_sns_topic_subscription.email
  to   = module.alarms.aws_sns_topic_subscription.email
}

module "alarms" {
  source                   = "../modules/alb-alarms"
  name                     = var.name
  load_balancer_arn_suffix = aws_lb.pier.arn_suffix
  target_group_arn_suffix  = aws_lb_target_group.pier.arn_suffix
  alarm_email              = var.alarm_email
  targets                  = "tasks"
  error_percent            = var.alarm_5xx_percent
  p95_seconds              = var.alarm_p95_seconds
}

# The alarms that moved into the shared module keep their state (and their names).
moved {
  from = aws_cloudwatch_metric_alarm.error_rate
  to   = module.alarms.aws_cloudwatch_metric_alarm.error_rate
}
moved {
  from = aws_cloudwatch_metric_alarm.latency_p95
  to   = module.alarms.aws_cloudwatch_metric_alarm.latency_p95
}
moved {
  from = aws_cloudwatch_metric_alarm.unhealthy_hosts
  to   = module.alarms.aws_cloudwatch_metric_alarm.unhealthy_hosts
}

resource "aws_cloudwatch_metric_alarm" "cpu_high" {
  alarm_name          = "${var.name}-cpu-high"
  alarm_description   = "Service CPU above 85% for 10 minutes although autoscaling targets ${var.cpu_target_percent}%: at max_tasks? Runbook: deploy/terraform/README.md#alarms"
  namespace           = "AWS/ECS"
  metric_name         = "CPUUtilization"
  dimensions          = { ClusterName = aws_ecs_cluster.pier.name, ServiceName = aws_ecs_service.pier.name }
  statistic           = "Average"
  period              = 60
  evaluation_periods  = 10
  comparison_operator = "GreaterThanThreshold"
  threshold           = 85
  treat_missing_data  = "notBreaching"
  alarm_actions       = [module.alarms.topic_arn]
  ok_actions          = [module.alarms.topic_arn]
}
