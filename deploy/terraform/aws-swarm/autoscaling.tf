# Workers scale on CloudWatch CPU alarms: one more worker after 5 minutes above
# scale_out_cpu_percent, one fewer after 15 minutes below scale_in_cpu_percent. The
# manager's reconcile timer then sets the pier replicas to replicas_per_worker x workers.

resource "aws_autoscaling_policy" "scale_out" {
  name                   = "${var.name}-scale-out"
  autoscaling_group_name = aws_autoscaling_group.workers.name
  adjustment_type        = "ChangeInCapacity"
  scaling_adjustment     = 1
  cooldown               = 300
}

resource "aws_autoscaling_policy" "scale_in" {
  name                   = "${var.name}-scale-in"
  autoscaling_group_name = aws_autoscaling_group.workers.name
  adjustment_type        = "ChangeInCapacity"
  scaling_adjustment     = -1
  cooldown               = 600
}

resource "aws_cloudwatch_metric_alarm" "cpu_high" {
  alarm_name          = "${var.name}-workers-cpu-high"
  alarm_description   = "Workers above ${var.scale_out_cpu_percent}% CPU for 5 minutes: add a worker."
  namespace           = "AWS/EC2"
  metric_name         = "CPUUtilization"
  dimensions          = { AutoScalingGroupName = aws_autoscaling_group.workers.name }
  statistic           = "Average"
  period              = 60
  evaluation_periods  = 5
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.scale_out_cpu_percent
  alarm_actions       = [aws_autoscaling_policy.scale_out.arn]
}

resource "aws_cloudwatch_metric_alarm" "cpu_low" {
  alarm_name          = "${var.name}-workers-cpu-low"
  alarm_description   = "Workers below ${var.scale_in_cpu_percent}% CPU for 15 minutes: remove a worker."
  namespace           = "AWS/EC2"
  metric_name         = "CPUUtilization"
  dimensions          = { AutoScalingGroupName = aws_autoscaling_group.workers.name }
  statistic           = "Average"
  period              = 60
  evaluation_periods  = 15
  comparison_operator = "LessThanThreshold"
  threshold           = var.scale_in_cpu_percent
  alarm_actions       = [aws_autoscaling_policy.scale_in.arn]
}
