# Alarms on the load balancer in front of the workers, to the stack's SNS topic (made by
# the module): the same set as aws-ecs, including a total outage (no healthy node).
module "alarms" {
  source                   = "../modules/alb-alarms"
  name                     = var.name
  load_balancer_arn_suffix = aws_lb.swarm.arn_suffix
  target_group_arn_suffix  = aws_lb_target_group.nodes.arn_suffix
  alarm_email              = var.alarm_email
  targets                  = "nodes"
}
