# Items are SQL (SPEC §2), so a fleet needs one PostgreSQL that every task shares.
module "postgres" {
  count                    = var.create_database ? 1 : 0
  source                   = "../modules/postgres"
  name                     = var.name
  vpc_id                   = module.network.vpc_id
  subnet_ids               = module.network.private_subnet_ids
  client_security_group_id = aws_security_group.service.id
  instance_class           = var.db_instance_class
  multi_az                 = var.db_multi_az
  deletion_protection      = var.deletion_protection
}

locals {
  database_url             = var.create_database ? module.postgres[0].database_url : var.database_url
  database_password_secret = var.create_database ? module.postgres[0].password_secret_arn : var.database_password_secret_arn
}
