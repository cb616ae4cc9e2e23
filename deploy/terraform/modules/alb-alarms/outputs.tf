output "alarm_names" {
  description = "Every alarm this module made."
  value = [
    aws_cloudwatch_metric_alarm.no_healthy_target.alarm_name,
    aws_cloudwatch_metric_alarm.load_balancer_5xx.alarm_name,
    aws_cloudwatch_metric_alarm.error_rate.alarm_name,
    aws_cloudwatch_metric_alarm.latency_p95.alarm_name,
    aws_cloudwatch_metric_alarm.unhealthy_hosts.alarm_name,
  ]
}

output "topic_arn" {
  description = "The SNS topic every alarm (and its recovery) notifies: for the stack's own alarms and subscriptions."
  value       = aws_sns_topic.alarms.arn
}
