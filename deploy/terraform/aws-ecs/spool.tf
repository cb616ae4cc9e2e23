# The upload spool on EFS, shared by every task (README: "One spool for the whole
# fleet"): a task replaced during an S3 or DynamoDB outage (a deploy, a scale-in, a
# failed health check, a host retirement) leaves what it spooled to the others, which
# adopt it once its lease expires. Mounted with TLS and IAM through the access point.
module "spool" {
  source                    = "../modules/spool-efs"
  name                      = var.name
  vpc_id                    = module.network.vpc_id
  subnet_ids                = module.network.workload_subnet_ids
  client_security_group_ids = [aws_security_group.service.id]
  policies                  = var.spool_policies
}

resource "aws_vpc_security_group_egress_rule" "service_nfs" {
  security_group_id            = aws_security_group.service.id
  description                  = "NFS to the spool's mount targets"
  referenced_security_group_id = module.spool.security_group_id
  from_port                    = 2049
  to_port                      = 2049
  ip_protocol                  = "tcp"
}

resource "aws_iam_role_policy" "task_spool" {
  name   = "pier-spool"
  role   = aws_iam_role.task.id
  policy = module.spool.client_policy_json
}
