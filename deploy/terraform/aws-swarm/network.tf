module "network" {
  source             = "../modules/network"
  name               = var.name
  region             = var.region
  cidr_block         = var.vpc_cidr
  enable_nat_gateway = var.enable_nat_gateway
}

# Every node: port 8000 (the stack's published port, routing mesh) from the ALB; the
# swarm's own ports between nodes; HTTPS and PostgreSQL out.
resource "aws_security_group" "nodes" {
  name        = "${var.name}-nodes"
  description = "swarm nodes: 8000 from the ALB, swarm ports between nodes"
  vpc_id      = module.network.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "nodes_from_alb" {
  security_group_id            = aws_security_group.nodes.id
  description                  = "pier through the routing mesh, from the ALB"
  referenced_security_group_id = aws_security_group.alb.id
  from_port                    = 8000
  to_port                      = 8000
  ip_protocol                  = "tcp"
}

resource "aws_vpc_security_group_ingress_rule" "swarm" {
  for_each = {
    "manager-2377-tcp" = { port = 2377, protocol = "tcp" }
    "gossip-7946-tcp"  = { port = 7946, protocol = "tcp" }
    "gossip-7946-udp"  = { port = 7946, protocol = "udp" }
    "overlay-4789-udp" = { port = 4789, protocol = "udp" }
  }
  security_group_id            = aws_security_group.nodes.id
  description                  = "swarm ${each.key} between nodes"
  referenced_security_group_id = aws_security_group.nodes.id
  from_port                    = each.value.port
  to_port                      = each.value.port
  ip_protocol                  = each.value.protocol
}

resource "aws_vpc_security_group_ingress_rule" "esp" {
  security_group_id            = aws_security_group.nodes.id
  description                  = "encrypted overlay traffic (IPsec ESP) between nodes"
  referenced_security_group_id = aws_security_group.nodes.id
  ip_protocol                  = "50"
}

resource "aws_vpc_security_group_egress_rule" "nodes_internal" {
  security_group_id = aws_security_group.nodes.id
  description       = "swarm, overlay and PostgreSQL inside the VPC"
  cidr_ipv4         = module.network.vpc_cidr_block
  ip_protocol       = "-1"
}

resource "aws_vpc_security_group_egress_rule" "nodes_https" {
  security_group_id = aws_security_group.nodes.id
  description       = "HTTPS to AWS APIs and ECR"
  cidr_ipv4         = "0.0.0.0/0"
  from_port         = 443
  to_port           = 443
  ip_protocol       = "tcp"
}

resource "aws_vpc_security_group_egress_rule" "nodes_http_packages" {
  security_group_id = aws_security_group.nodes.id
  description       = "HTTP to the distribution's package mirrors (docker install at boot)"
  cidr_ipv4         = "0.0.0.0/0"
  from_port         = 80
  to_port           = 80
  ip_protocol       = "tcp"
}
