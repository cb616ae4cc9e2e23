variable "name" {
  description = "Name prefix of the file system and its security group."
  type        = string
}

variable "vpc_id" {
  description = "The VPC of the replicas."
  type        = string
}

variable "subnet_ids" {
  description = "One subnet per availability zone the replicas run in: a mount target in each."
  type        = list(string)
}

variable "client_security_group_ids" {
  description = "Security groups of the replicas (ECS tasks or Swarm nodes): the only sources allowed to reach NFS."
  type        = list(string)
}

variable "kms_key_arn" {
  description = "A customer-managed KMS key for the file system; null uses the AWS-managed key."
  type        = string
  default     = null
}

variable "uid" {
  description = "The user (and group) pier runs as in its image; the access point maps every client to it."
  type        = number
  default     = 10001
}

variable "transition_to_ia" {
  description = "When files not read move to Infrequent Access (spooled uploads normally live seconds to hours)."
  type        = string
  default     = "AFTER_7_DAYS"
}

variable "policies" {
  description = "Attach the file system policy (TLS only, through the access point only) and the backup policy. Only the emulator in the test command turns this off: moto answers neither PutFileSystemPolicy nor PutBackupPolicy."
  type        = bool
  default     = true
}
