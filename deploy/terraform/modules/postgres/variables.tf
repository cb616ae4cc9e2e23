variable "name" {
  description = "Identifier of the instance and prefix of its parts."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the database."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets (two AZs) for the instance."
  type        = list(string)
}

variable "client_security_group_id" {
  description = "The security group of pier; the only one allowed to connect."
  type        = string
}

variable "engine_version" {
  description = "PostgreSQL major(.minor) version."
  type        = string
  default     = "16"
}

variable "instance_class" {
  description = "Instance class; db.t4g.micro is about $12/month."
  type        = string
  default     = "db.t4g.micro"
}

variable "allocated_storage_gb" {
  description = "Initial gp3 storage in GiB (grows automatically up to 5x)."
  type        = number
  default     = 20

  validation {
    condition     = var.allocated_storage_gb >= 20
    error_message = "RDS gp3 storage starts at 20 GiB."
  }
}

variable "multi_az" {
  description = "A standby in the second AZ (automatic failover; doubles the instance cost)."
  type        = bool
  default     = false
}

variable "backup_retention_days" {
  description = "Days of automated backups (point-in-time recovery window)."
  type        = number
  default     = 7
}

variable "deletion_protection" {
  description = "Refuse deletion and take a final snapshot on destroy."
  type        = bool
  default     = true
}
