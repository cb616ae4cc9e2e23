variable "name" {
  description = "Name of the stack: prefix of every resource (lowercase, digits, hyphens)."
  type        = string
  default     = "pier"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}$", var.name))
    error_message = "name must be 2-21 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "region" {
  description = "AWS region to deploy to."
  type        = string
  default     = "us-east-1"
}

variable "tags" {
  description = "Extra tags on every resource."
  type        = map(string)
  default     = {}
}

variable "instance_type" {
  description = "EC2 instance type; t3.micro (2 vCPU burst, 1 GiB) is about $7.60/month and plenty for pier."
  type        = string
  default     = "t3.micro"
}

variable "data_volume_gb" {
  description = "The data volume (gp3, encrypted, its own EBS volume that outlives the instance) in GiB; holds the SQLite items database and the upload spool."
  type        = number
  default     = 20

  validation {
    condition     = var.data_volume_gb >= 8
    error_message = "data_volume_gb must be at least 8."
  }
}

variable "image_tag" {
  description = "Tag of the ECR image to release (CI pushes the full commit SHA). Kept in SSM Parameter Store; changing it replaces nothing: deploy/scripts/deploy restarts the unit."
  type        = string
  default     = "latest"
}

variable "database_url" {
  description = "An external PostgreSQL for the items (postgres://USER@HOST:5432/DB?sslmode=require, without the password); empty: SQLite on the data volume."
  type        = string
  default     = ""

  validation {
    condition     = var.database_url == "" || (startswith(var.database_url, "postgres://") && !can(regex("^postgres://[^/@]*:[^/@]*@", var.database_url)))
    error_message = "database_url must be postgres://USER@HOST:PORT/DB without a password (put the password in Secrets Manager: database_password_secret_arn)."
  }
}

variable "database_password_secret_arn" {
  description = "Secrets Manager secret with database_url's password (a plain string, or JSON with a `password` key as RDS writes it)."
  type        = string
  default     = ""
}

variable "allowed_cidrs" {
  description = "Who may reach port 80 (0.0.0.0/0 for a public service)."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "vpc_cidr" {
  description = "Address range of the VPC."
  type        = string
  default     = "10.41.0.0/16"
}

variable "api_tokens" {
  description = "API tokens for writes, stored in Secrets Manager (and in Terraform state). Empty (the default): one is generated as a write-only value, never in state; read it with `aws secretsmanager get-secret-value` (deploy/README.md)."
  type        = list(string)
  default     = []
  sensitive   = true

  validation {
    condition     = alltrue([for t in var.api_tokens : length(t) >= 32 && !strcontains(t, ",")])
    error_message = "each API token must be at least 32 characters and contain no comma."
  }
}

variable "log_retention_days" {
  description = "Days CloudWatch keeps the VPC flow logs."
  type        = number
  default     = 14
}

variable "force_destroy" {
  description = "Let destroy delete a bucket and repository that still hold images (throwaway stacks only)."
  type        = bool
  default     = false
}

variable "deletion_protection" {
  description = "Protect the DynamoDB table from deletion."
  type        = bool
  default     = true
}
