module "network" {
  source             = "../modules/network"
  name               = var.name
  region             = var.region
  cidr_block         = var.vpc_cidr
  enable_nat_gateway = var.enable_nat_gateway
}

# pier's tasks: HTTP from the load balancer only; out to AWS APIs (HTTPS) and the
# database inside the VPC.
resource "aws_security_group" "service" {
  name        = "${var.name}-service"
  description = "pier tasks: port 8000 from the ALB only"
  vpc_id      = module.network.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "service_from_alb" {
  security_group_id            = aws_security_group.service.id
  description                  = "HTTP from the load balancer"
  referenced_security_group_id = aws_security_group.alb.id
  from_port                    = 8000
  to_port                      = 8000
  ip_protocol                  = "tcp"
}

resource "aws_vpc_security_group_egress_rule" "service_https" {
  security_group_id = aws_security_group.service.id
  description       = "HTTPS to AWS APIs (ECR, S3, DynamoDB, Secrets Manager, CloudWatch Logs)"
  cidr_ipv4         = "0.0.0.0/0"
  from_port         = 443
  to_port           = 443
  ip_protocol       = "tcp"
}

resource "aws_vpc_security_group_egress_rule" "service_postgres" {
  security_group_id = aws_security_group.service.id
  description       = "PostgreSQL inside the VPC"
  cidr_ipv4         = module.network.vpc_cidr_block
  from_port         = 5432
  to_port           = 5432
  ip_protocol       = "tcp"
}
