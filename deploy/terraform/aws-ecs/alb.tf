locals {
  https = var.domain_name != null
}

resource "aws_security_group" "alb" {
  name        = "${var.name}-alb"
  description = "pier load balancer: HTTP(S) from anywhere, to the tasks only"
  vpc_id      = module.network.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "alb_http" {
  #checkov:skip=CKV_AWS_260:a public web service; with a domain, port 80 only redirects to HTTPS
  security_group_id = aws_security_group.alb.id
  description       = "HTTP from the internet (redirected to HTTPS when a domain is set)"
  cidr_ipv4         = "0.0.0.0/0"
  from_port         = 80
  to_port           = 80
  ip_protocol       = "tcp"
}

resource "aws_vpc_security_group_ingress_rule" "alb_https" {
  count             = local.https ? 1 : 0
  security_group_id = aws_security_group.alb.id
  description       = "HTTPS from the internet"
  cidr_ipv4         = "0.0.0.0/0"
  from_port         = 443
  to_port           = 443
  ip_protocol       = "tcp"
}

resource "aws_vpc_security_group_egress_rule" "alb_to_tasks" {
  security_group_id            = aws_security_group.alb.id
  description                  = "to pier tasks"
  referenced_security_group_id = aws_security_group.service.id
  from_port                    = 8000
  to_port                      = 8000
  ip_protocol                  = "tcp"
}

resource "aws_lb" "pier" {
  #checkov:skip=CKV2_AWS_20:with domain_name set, port 80 redirects to HTTPS (aws_lb_listener.http_redirect); without it there is no certificate
  #checkov:skip=CKV_AWS_91:access logs need a log bucket with the regional ELB account's policy; pier logs every request itself (CloudWatch)
  #checkov:skip=CKV2_AWS_28:a WAF web ACL costs $5/month + $1/rule; pier enforces its own limits (sizes, tokens); attach one with aws_wafv2_web_acl_association if needed
  name                       = var.name
  load_balancer_type         = "application"
  internal                   = false
  security_groups            = [aws_security_group.alb.id]
  subnets                    = module.network.public_subnet_ids
  drop_invalid_header_fields = true
  enable_deletion_protection = var.deletion_protection
  idle_timeout               = 60
}

resource "aws_lb_target_group" "pier" {
  #checkov:skip=CKV_AWS_378:TLS ends at the ALB; ALB-to-task traffic stays inside the VPC, limited by security groups
  name                 = var.name
  port                 = 8000
  protocol             = "HTTP"
  target_type          = "ip"
  vpc_id               = module.network.vpc_id
  deregistration_delay = var.shutdown_timeout_seconds # in-flight requests get pier's whole shutdown deadline

  health_check {
    path                = var.health_check_path
    matcher             = "200"
    interval            = 10
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }
}

# Without a domain: plain HTTP straight to the tasks.
resource "aws_lb_listener" "http_forward" {
  #checkov:skip=CKV_AWS_2:without domain_name there is no certificate to serve; set domain_name for HTTPS
  #checkov:skip=CKV_AWS_103:HTTP listener, no TLS to configure
  #checkov:skip=CKV2_AWS_20:no certificate without domain_name, so nothing to redirect to
  count             = local.https ? 0 : 1
  load_balancer_arn = aws_lb.pier.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.pier.arn
  }
}

# With a domain: HTTP redirects to HTTPS, which forwards.
resource "aws_lb_listener" "http_redirect" {
  #checkov:skip=CKV_AWS_2:this listener only redirects to HTTPS
  #checkov:skip=CKV_AWS_103:this listener only redirects to HTTPS
  count             = local.https ? 1 : 0
  load_balancer_arn = aws_lb.pier.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type = "redirect"
    redirect {
      protocol    = "HTTPS"
      port        = "443"
      status_code = "HTTP_301"
    }
  }
}

resource "aws_lb_listener" "https" {
  count             = local.https ? 1 : 0
  load_balancer_arn = aws_lb.pier.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = aws_acm_certificate_validation.pier[0].certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.pier.arn
  }
}
