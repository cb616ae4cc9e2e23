# The alarms every stack behind an ALB needs, to the stack's SNS topic (made here). Two of them
# catch a total outage that the others miss: tasks that never become healthy are never
# registered, so UnHealthyHostCount stays 0 and pier answers no 5xx — but the target
# group has no healthy host, and the load balancer answers 503 itself.
locals {
  alb     = { LoadBalancer = var.load_balancer_arn_suffix }
  targets = { LoadBalancer = var.load_balancer_arn_suffix, TargetGroup = var.target_group_arn_suffix }
  actions = [aws_sns_topic.alarms.arn]
  # The services that publish alarms to the topic: both its key and its policy admit them.
  alarm_publishers = ["cloudwatch.amazonaws.com", "aps.amazonaws.com"]
}

# The stack's alarm topic, which the stack's other alarms use too, and an optional e-mail
# subscription (confirmed from the mail AWS sends). Encrypted with a key of its own: the
# AWS-managed SNS key's policy cannot be changed, and neither CloudWatch alarms nor the
# managed Prometheus alert manager can publish to a topic encrypted with it (their
# notifications would be dropped without an error anywhere).
data "aws_caller_identity" "current" {}

data "aws_iam_policy_document" "alarm_key" {
  #checkov:skip=CKV_AWS_111:a key policy: its "*" resource is this key alone, and the account statement is the one AWS requires so the key stays manageable
  #checkov:skip=CKV_AWS_356:a key policy: its "*" resource is this key alone
  #checkov:skip=CKV_AWS_109:a key policy: the account (root) administers its own key, as AWS's default key policy does
  statement {
    sid       = "AccountAdministersTheKey"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:aws:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }

  statement {
    sid       = "AlarmServicesPublish"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = local.alarm_publishers
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_kms_key" "alarms" {
  description             = "${var.name}: the alarm topic's messages"
  enable_key_rotation     = true
  deletion_window_in_days = 7
  policy                  = data.aws_iam_policy_document.alarm_key.json
}

resource "aws_kms_alias" "alarms" {
  name          = "alias/${var.name}-alarms"
  target_key_id = aws_kms_key.alarms.key_id
}

resource "aws_sns_topic" "alarms" {
  name              = "${var.name}-alarms"
  kms_master_key_id = aws_kms_key.alarms.arn
}

# Who may publish: this account's principals (the default) and the two alarm services,
# for this account's alarms and workspaces only.
data "aws_iam_policy_document" "alarm_topic" {
  statement {
    sid       = "AccountOwns"
    actions   = ["sns:Publish", "sns:GetTopicAttributes", "sns:Subscribe", "sns:ListSubscriptionsByTopic"]
    resources = [aws_sns_topic.alarms.arn]
    principals {
      type        = "AWS"
      identifiers = ["arn:aws:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }

  statement {
    sid       = "AlarmServicesPublish"
    actions   = ["sns:Publish", "sns:GetTopicAttributes"]
    resources = [aws_sns_topic.alarms.arn]
    principals {
      type        = "Service"
      identifiers = local.alarm_publishers
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_sns_topic_policy" "alarms" {
  arn    = aws_sns_topic.alarms.arn
  policy = data.aws_iam_policy_document.alarm_topic.json
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
