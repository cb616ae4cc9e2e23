# Alarms on the load balancer in front of the workers, to an SNS topic: the same set
# as aws-ecs (modules/alb-alarms), including a total outage (no healthy node).
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

module "alarms" {
  source                   = "../modules/alb-alarms"
  name                     = var.name
  load_balancer_arn_suffix = aws_lb.swarm.arn_suffix
  target_group_arn_suffix  = aws_lb_target_group.nodes.arn_suffix
  alarm_topic_arn          = aws_sns_topic.alarms.arn
  targets                  = "nodes"
}
