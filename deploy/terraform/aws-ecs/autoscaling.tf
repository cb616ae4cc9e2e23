resource "aws_appautoscaling_target" "pier" {
  count              = var.enable_autoscaling ? 1 : 0
  service_namespace  = "ecs"
  resource_id        = "service/${aws_ecs_cluster.pier.name}/${aws_ecs_service.pier.name}"
  scalable_dimension = "ecs:service:DesiredCount"
  min_capacity       = var.min_tasks
  max_capacity       = var.max_tasks

  lifecycle {
    precondition {
      condition     = var.min_tasks <= var.desired_tasks && var.desired_tasks <= var.max_tasks
      error_message = "min_tasks <= desired_tasks <= max_tasks must hold."
    }
  }
}

# Scale on CPU ...
resource "aws_appautoscaling_policy" "cpu" {
  count              = var.enable_autoscaling ? 1 : 0
  name               = "${var.name}-cpu-${var.cpu_target_percent}"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.pier[0].service_namespace
  resource_id        = aws_appautoscaling_target.pier[0].resource_id
  scalable_dimension = aws_appautoscaling_target.pier[0].scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value       = var.cpu_target_percent
    scale_out_cooldown = 60
    scale_in_cooldown  = 300
    predefined_metric_specification {
      predefined_metric_type = "ECSServiceAverageCPUUtilization"
    }
  }
}

# ... and on requests per task (uploads are I/O-bound and may not show on CPU).
resource "aws_appautoscaling_policy" "requests" {
  count              = var.enable_autoscaling ? 1 : 0
  name               = "${var.name}-requests-per-target"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.pier[0].service_namespace
  resource_id        = aws_appautoscaling_target.pier[0].resource_id
  scalable_dimension = aws_appautoscaling_target.pier[0].scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value       = var.requests_per_target
    scale_out_cooldown = 60
    scale_in_cooldown  = 300
    predefined_metric_specification {
      predefined_metric_type = "ALBRequestCountPerTarget"
      resource_label         = "${aws_lb.pier.arn_suffix}/${aws_lb_target_group.pier.arn_suffix}"
    }
  }
}
