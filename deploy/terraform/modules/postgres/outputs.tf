output "address" {
  description = "Host name of the instance."
  value       = aws_db_instance.this.address
}

output "database_url" {
  description = "DATABASE_URL for pier, without the password (pier takes it from PGPASSWORD)."
  value       = "postgres://pier@${aws_db_instance.this.address}:${aws_db_instance.this.port}/pier?sslmode=require"
}

output "password_secret_arn" {
  description = "The RDS-managed secret holding the password (JSON key `password`)."
  value       = try(aws_db_instance.this.master_user_secret[0].secret_arn, null)
}

output "security_group_id" {
  description = "Security group of the database."
  value       = aws_db_instance.this.vpc_security_group_ids
}
