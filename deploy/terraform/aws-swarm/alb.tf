resource "aws_security_group" "alb" {
  name        = "${var.name}-alb"
  description = "swarm load balancer: HTTP from anywhere, to the nodes only"
  vpc_id      = module.network.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "alb_http" {
  #checkov:skip=CKV_AWS_260:a public web service; add an HTTPS listener as in aws-ecs/alb.tf for a domain
  security_group_id = aws_security_group.alb.id
  description       = "HTTP from the internet"
  cidr_ipv4         = "0.0.0.0/0"
  from_port         = 80
  to_port           = 80
  ip_protocol       = "tcp"
}

resource "aws_vpc_security_group_egress_rule" "alb_to_nodes" {
  security_group_id            = aws_security_group.alb.id
  description                  = "to the routing mesh on the nodes"
  referenced_security_group_id = aws_security_group.nodes.id
  from_port                    = 8000
  to_port                      = 8000
  ip_protocol                  = "tcp"
}

resource "aws_lb" "swarm" {
  #checkov:skip=CKV2_AWS_20:HTTP only in this variant; aws-ecs shows the ACM certificate and redirect
  #checkov:skip=CKV_AWS_91:access logs need a log bucket with the regional ELB account's policy; pier logs every request itself
  #checkov:skip=CKV2_AWS_28:a WAF web ACL costs $5/month + $1/rule; pier enforces its own limits
  name                       = var.name
  load_balancer_type         = "application"
  security_groups            = [aws_security_group.alb.id]
  subnets                    = module.network.public_subnet_ids
  drop_invalid_header_fields = true
  enable_deletion_protection = var.deletion_protection
}

resource "aws_lb_target_group" "nodes" {
  #checkov:skip=CKV_AWS_378:ALB-to-node traffic stays inside the VPC, limited by security groups
  name                 = var.name
  port                 = 8000
  protocol             = "HTTP"
  target_type          = "instance"
  vpc_id               = module.network.vpc_id
  deregistration_delay = 30

  health_check {
    path                = "/health"
    matcher             = "200"
    interval            = 10
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }
}

resource "aws_lb_listener" "http" {
  #checkov:skip=CKV_AWS_2:HTTP only in this variant; see aws-ecs for the ACM + redirect listeners
  #checkov:skip=CKV_AWS_103:HTTP listener, no TLS to configure
  #checkov:skip=CKV2_AWS_20:no certificate in this variant, so nothing to redirect to
  load_balancer_arn = aws_lb.swarm.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.nodes.arn
  }
}
