# The upload spool on EFS, shared by every pier task on every worker (README: "One spool
# for the whole fleet"): the ASG's scale-in terminates a node, not what it spooled. Each
# worker mounts it at local.spool_dir (templates/worker.sh.tftpl) with TLS and IAM; the
# stack binds that directory into every task at /spool.
module "spool" {
  source                    = "../modules/spool-efs"
  name                      = var.name
  vpc_id                    = module.network.vpc_id
  subnet_ids                = module.network.workload_subnet_ids
  client_security_group_ids = [aws_security_group.nodes.id]
  policies                  = var.spool_policies
}

resource "aws_iam_role_policy" "spool" {
  name   = "pier-spool"
  role   = aws_iam_role.node["worker"].id
  policy = module.spool.client_policy_json
}
