output "file_system_id" {
  description = "The spool's EFS file system."
  value       = aws_efs_file_system.spool.id
}

output "access_point_id" {
  description = "The access point replicas mount (uid/gid of pier, root /spool)."
  value       = aws_efs_access_point.spool.id
}

output "security_group_id" {
  description = "The mount targets' security group (replicas need egress to it on 2049)."
  value       = aws_security_group.spool.id
}

output "client_policy_json" {
  description = "The policy a replica's role needs to mount and write the spool."
  value       = data.aws_iam_policy_document.client.json
}

output "mount_target_ids" {
  description = "One mount target per subnet; a replica mounts only once its AZ's target exists."
  value       = aws_efs_mount_target.spool[*].id
}

output "file_system_policy_json" {
  description = "The file system policy: TLS only, mounts through the access point only."
  value       = data.aws_iam_policy_document.spool.json
}

output "backup_status" {
  description = "The backup policy's status (ENABLED): AWS Backup's daily plan covers the spool."
  value       = local.backup_status
}
