# PostgreSQL for pier's items (and, by choice, image metadata): private, encrypted,
# TLS enforced, its master password generated and kept by RDS in Secrets Manager
# (never in Terraform state). pier reads it as PGPASSWORD.

resource "aws_db_subnet_group" "this" {
  name       = var.name
  subnet_ids = var.subnet_ids
}

resource "aws_security_group" "db" {
  name        = "${var.name}-db"
  description = "PostgreSQL for pier: reachable only from pier's own security group"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "from_pier" {
  security_group_id            = aws_security_group.db.id
  description                  = "PostgreSQL from pier"
  referenced_security_group_id = var.client_security_group_id
  from_port                    = 5432
  to_port                      = 5432
  ip_protocol                  = "tcp"
}

# Only encrypted connections are accepted.
resource "aws_db_parameter_group" "this" {
  name   = var.name
  family = "postgres${split(".", var.engine_version)[0]}"

  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }

  parameter {
    name  = "log_min_duration_statement"
    value = "500"
  }
}

resource "aws_db_instance" "this" {
  #checkov:skip=CKV_AWS_118:enhanced monitoring costs extra per instance; CloudWatch's standard RDS metrics and the alarms cover the defaults
  #checkov:skip=CKV_AWS_157:Multi-AZ is the multi_az variable (doubles the instance cost); off by default for the seed-sized deployment
  #checkov:skip=CKV_AWS_353:Performance Insights is a paid option on these instance classes; turn it on in the console when tuning
  #checkov:skip=CKV_AWS_354:no Performance Insights, so no key for it
  #checkov:skip=CKV2_AWS_30:statement logging is set by log_min_duration_statement (slow queries), not every query
  identifier                          = var.name
  engine                              = "postgres"
  engine_version                      = var.engine_version
  instance_class                      = var.instance_class
  allocated_storage                   = var.allocated_storage_gb
  max_allocated_storage               = var.allocated_storage_gb * 5
  storage_type                        = "gp3"
  storage_encrypted                   = true
  db_name                             = "pier"
  username                            = "pier"
  manage_master_user_password         = true
  iam_database_authentication_enabled = true
  db_subnet_group_name                = aws_db_subnet_group.this.name
  vpc_security_group_ids              = [aws_security_group.db.id]
  parameter_group_name                = aws_db_parameter_group.this.name
  publicly_accessible                 = false
  multi_az                            = var.multi_az
  backup_retention_period             = var.backup_retention_days
  copy_tags_to_snapshot               = true
  auto_minor_version_upgrade          = true
  enabled_cloudwatch_logs_exports     = ["postgresql"]
  deletion_protection                 = var.deletion_protection
  skip_final_snapshot                 = !var.deletion_protection
  final_snapshot_identifier           = var.deletion_protection ? "${var.name}-final" : null
}
