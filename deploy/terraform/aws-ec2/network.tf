# The shared VPC module without a NAT gateway: the instance lives in a public subnet
# with an Elastic IP, reachable on port 80 only; administration is through SSM
# Session Manager, so no SSH port is open and no key pair exists.
module "network" {
  source                  = "../modules/network"
  name                    = var.name
  region                  = var.region
  cidr_block              = var.vpc_cidr
  enable_nat_gateway      = false
  flow_log_retention_days = var.log_retention_days
}

resource "aws_security_group" "instance" {
  name        = "${var.name}-instance"
  description = "pier on one instance: HTTP in from allowed_cidrs, HTTPS out to AWS"
  vpc_id      = module.network.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "http" {
  #checkov:skip=CKV_AWS_260:a public web service on port 80; put it behind CloudFront or an ALB for HTTPS (see README)
  for_each          = toset(var.allowed_cidrs)
  security_group_id = aws_security_group.instance.id
  description       = "HTTP to pier"
  cidr_ipv4         = each.key
  from_port         = 80
  to_port           = 80
  ip_protocol       = "tcp"
}

resource "aws_vpc_security_group_egress_rule" "https" {
  security_group_id = aws_security_group.instance.id
  description       = "HTTPS to AWS APIs, ECR and package mirrors"
  cidr_ipv4         = "0.0.0.0/0"
  from_port         = 443
  to_port           = 443
  ip_protocol       = "tcp"
}

resource "aws_vpc_security_group_egress_rule" "http_packages" {
  security_group_id = aws_security_group.instance.id
  description       = "HTTP to the distribution's package mirrors (docker install at boot)"
  cidr_ipv4         = "0.0.0.0/0"
  from_port         = 80
  to_port           = 80
  ip_protocol       = "tcp"
}
