variable "name" {
  description = "Name of the stack: prefix of every resource (lowercase, digits, hyphens)."
  type        = string
  default     = "pier-swarm"

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

variable "vpc_cidr" {
  description = "Address range of the VPC."
  type        = string
  default     = "10.42.0.0/16"
}

variable "enable_nat_gateway" {
  description = "Nodes in private subnets behind one NAT gateway (+ about $33/month). Off: nodes in public subnets with public IPs, reachable only from the ALB."
  type        = bool
  default     = false
}

variable "manager_instance_type" {
  description = "Instance type of the swarm manager (runs no pier tasks)."
  type        = string
  default     = "t3.small"
}

variable "worker_instance_type" {
  description = "Instance type of the workers."
  type        = string
  default     = "t3.small"
}

variable "min_workers" {
  description = "Fewest workers the Auto Scaling group keeps."
  type        = number
  default     = 2

  validation {
    condition     = var.min_workers >= 1
    error_message = "min_workers must be at least 1."
  }
}

variable "max_workers" {
  description = "Most workers the Auto Scaling group may run."
  type        = number
  default     = 6
}

variable "replicas_per_worker" {
  description = "pier replicas per worker; the manager rescales the service as workers join and leave."
  type        = number
  default     = 2
}

variable "scale_out_cpu_percent" {
  description = "Add a worker when the workers' average CPU stays above this for 5 minutes."
  type        = number
  default     = 70
}

variable "scale_in_cpu_percent" {
  description = "Remove a worker when the workers' average CPU stays below this for 15 minutes."
  type        = number
  default     = 25
}

variable "image_tag" {
  description = "Tag of the ECR image to release (CI pushes the full commit SHA). Changing it replaces nothing: deploy/scripts/deploy rolls the service with `docker service update`."
  type        = string
  default     = "latest"
}

variable "metadata" {
  description = "Where image metadata lives: \"postgres\" (the RDS database that holds the items) or \"dynamodb\" (a table this stack creates)."
  type        = string
  default     = "postgres"

  validation {
    condition     = contains(["postgres", "dynamodb"], var.metadata)
    error_message = "metadata must be \"postgres\" or \"dynamodb\"."
  }
}

variable "alarm_email" {
  description = "An address the alarms' SNS topic mails (it must confirm the subscription); null: subscribe something yourself."
  type        = string
  default     = null
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

variable "db_instance_class" {
  description = "RDS instance class of the items database."
  type        = string
  default     = "db.t4g.micro"
}

variable "deletion_protection" {
  description = "Protect the ALB, database and table from deletion."
  type        = bool
  default     = true
}

variable "force_destroy" {
  description = "Let destroy delete a bucket and repository that still hold images (throwaway stacks only)."
  type        = bool
  default     = false
}

variable "spool_policies" {
  description = "Attach the spool file system's policy (TLS only, through the access point only) and its backup policy. Only the emulator in the test command turns this off: moto answers neither."
  type        = bool
  default     = true
}

variable "monitoring_allowed_cidrs" {
  description = "Networks that may reach the stack's Grafana through the load balancer (on monitoring_port). Empty: Grafana is not exposed (reach it with an SSM port forward to the manager)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for cidr in var.monitoring_allowed_cidrs : can(cidrhost(cidr, 0)) && cidr != "0.0.0.0/0"])
    error_message = "monitoring_allowed_cidrs must be IPv4 CIDR blocks, and not 0.0.0.0/0."
  }
}

variable "monitoring_port" {
  description = "The load balancer's port for Grafana (with monitoring_allowed_cidrs)."
  type        = number
  default     = 3000
}
