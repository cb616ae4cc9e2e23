# The alarms every stack behind an ALB needs, to the stack's SNS topic (made here). Two of them
# catch a total outage that the others miss: tasks that never become healthy are never
# registered, so UnHealthyHostCount stays 0 and pier answers no 5xx — but the target
# group has no healthy host, and the load balancer answers 503 itself.
locals {
  alb     = { LoadBalancer = var.load_balancer_arn_suffix }
  targets = { LoadBalancer = var.load_balancer_arn_suffix, TargetGroup = var.target_group_arn_suffix }
  actions = [aws_sns_topic.alarms.arn]
}

# The stack's alarm topic (encrypted), which the stack's other alarms use too, and an
# optional e-mail subscription (confirmed from the mail AWS sends).
resource "aws_sns_topic" "alarms" {
  name              = "${var.name}-alarms"
  kms_master_key_id = "alias/aws/sns"
}

resource "aws_sns_topic_subscription" "email" {
  count     = var.alarm_email == null ? 0 : 1
  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

resource "aws_cloudwatch_metric_alarm" "no_healthy_target" {
  alarm_name          = "${var.name}-no-healthy-target"
  alarm_description   = "No healthy ${var.targets} behind the load balancer for 2 minutes: pier is down for everyone. Runbook: deploy/terraform/README.md#alarms"
  namespace           = "AWS/ApplicationELB"
  metric_name         = "HealthyHostCount"
  dimensions          = local.targets
  statistic           = "Minimum"
  period              = 60
  evaluation_periods  = 2
  comparison_operator = "LessThanThreshold"
  threshold           = 1
  # No data point is no healthy host reporting: an outage, not silence.
  treat_missing_data = "breaching"
  alarm_actions      = local.actions
  ok_actions         = local.actions
}

resource "aws_cloudwatch_metric_alarm" "load_balancer_5xx" {
  alarm_name          = "${var.name}-alb-5xx"
  alarm_description   = "The load balancer itself answered more than ${var.elb_5xx_per_minute} 5xx a minute for 3 minutes (no healthy target, timeouts, refused connections). Runbook: deploy/terraform/README.md#alarms"
  namespace           = "AWS/ApplicationELB"
  metric_name         = "HTTPCode_ELB_5XX_Count"
  dimensions          = local.alb
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.elb_5xx_per_minute
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
}

# 5xx answered by pier as a share of all requests, per minute, for 5 minutes.
resource "aws_cloudwatch_metric_alarm" "error_rate" {
  alarm_name          = "${var.name}-5xx-rate"
  alarm_description   = "More than ${var.error_percent}% of requests got a 5xx from pier for 5 minutes. Runbook: deploy/terraform/README.md#alarms"
  comparison_operator = "GreaterThanThreshold"
  evaluation_periods  = 5
  threshold           = var.error_percent
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions

  metric_query {
    id          = "rate"
    expression  = "100 * errors / MAX([requests, 1])"
    label       = "5xx percent"
    return_data = true
  }

  metric_query {
    id = "errors"
    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "HTTPCode_Target_5XX_Count"
      dimensions  = local.alb
      period      = 60
      stat        = "Sum"
    }
  }

  metric_query {
    id = "requests"
    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "RequestCount"
      dimensions  = local.alb
      period      = 60
      stat        = "Sum"
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "latency_p95" {
  alarm_name          = "${var.name}-p95-latency"
  alarm_description   = "p95 response time above ${var.p95_seconds}s for 10 minutes. Runbook: deploy/terraform/README.md#alarms"
  namespace           = "AWS/ApplicationELB"
  metric_name         = "TargetResponseTime"
  dimensions          = local.alb
  extended_statistic  = "p95"
  period              = 60
  evaluation_periods  = 10
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.p95_seconds
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
}

resource "aws_cloudwatch_metric_alarm" "unhealthy_hosts" {
  alarm_name          = "${var.name}-unhealthy-hosts"
  alarm_description   = "One of the ${var.targets} failed the ALB health check for 3 minutes. Runbook: deploy/terraform/README.md#alarms"
  namespace           = "AWS/ApplicationELB"
  metric_name         = "UnHealthyHostCount"
  dimensions          = local.targets
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
}
