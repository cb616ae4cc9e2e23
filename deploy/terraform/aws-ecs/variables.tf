# ---- identity and place -------------------------------------------------------------

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
  description = "Extra tags on every resource (cost allocation, owner)."
  type        = map(string)
  default     = {}
}

# ---- network ------------------------------------------------------------------------

variable "vpc_cidr" {
  description = "Address range of the VPC."
  type        = string
  default     = "10.40.0.0/16"
}

variable "enable_nat_gateway" {
  description = "Run tasks in private subnets behind one NAT gateway (+ about $33/month + $0.045/GB). Off: tasks run in public subnets with a public IP, reachable only from the ALB."
  type        = bool
  default     = false
}

# ---- HTTPS and DNS ------------------------------------------------------------------

variable "domain_name" {
  description = "Serve HTTPS on this name (ACM certificate, DNS-validated, Route 53 alias, HTTP redirected to HTTPS). null: plain HTTP on the ALB's own name."
  type        = string
  default     = null

  validation {
    condition     = var.domain_name == null || can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,}$", var.domain_name))
    error_message = "domain_name must be a lowercase DNS name such as api.example.com."
  }
}

variable "route53_zone_id" {
  description = "The public Route 53 hosted zone that holds domain_name (required with domain_name)."
  type        = string
  default     = null
}

# ---- the service --------------------------------------------------------------------

variable "image" {
  description = "Container image to run; null runs this stack's ECR repository at image_tag."
  type        = string
  default     = null
}

variable "image_tag" {
  description = "Tag of the ECR image to run (deploy/scripts/build-and-push pushes the git SHA and latest)."
  type        = string
  default     = "latest"
}

variable "task_cpu" {
  description = "Fargate task CPU units (256 = 0.25 vCPU)."
  type        = number
  default     = 256

  validation {
    condition     = contains([256, 512, 1024, 2048, 4096, 8192, 16384], var.task_cpu)
    error_message = "task_cpu must be one of 256, 512, 1024, 2048, 4096, 8192, 16384."
  }
}

variable "task_memory" {
  description = "Fargate task memory in MiB (must be a valid pairing with task_cpu)."
  type        = number
  default     = 512

  validation {
    condition     = var.task_memory >= 512 && var.task_memory <= 122880
    error_message = "task_memory must be between 512 and 122880 MiB."
  }
}

variable "desired_tasks" {
  description = "Tasks at creation; autoscaling moves it between min_tasks and max_tasks afterwards."
  type        = number
  default     = 2
}

variable "min_tasks" {
  description = "Fewest tasks autoscaling keeps (2 = one per AZ)."
  type        = number
  default     = 2

  validation {
    condition     = var.min_tasks >= 1
    error_message = "min_tasks must be at least 1."
  }
}

variable "max_tasks" {
  description = "Most tasks autoscaling may run."
  type        = number
  default     = 6

  validation {
    condition     = var.max_tasks >= 1 && var.max_tasks <= 100
    error_message = "max_tasks must be between 1 and 100."
  }
}

variable "enable_autoscaling" {
  description = "Target-tracking autoscaling between min_tasks and max_tasks. Only the emulator test turns it off (moto lacks Application Auto Scaling's ListTagsForResource)."
  type        = bool
  default     = true
}

variable "cpu_target_percent" {
  description = "Target average CPU utilisation of the service for target tracking."
  type        = number
  default     = 70

  validation {
    condition     = var.cpu_target_percent >= 10 && var.cpu_target_percent <= 95
    error_message = "cpu_target_percent must be between 10 and 95."
  }
}

variable "requests_per_target" {
  description = "Target ALB requests per task per minute for the second scaling policy."
  type        = number
  default     = 6000

  validation {
    condition     = var.requests_per_target >= 1
    error_message = "requests_per_target must be positive."
  }
}

variable "shutdown_timeout_seconds" {
  description = "pier's PIER_SHUTDOWN_TIMEOUT, the ALB deregistration delay and (plus 5 s) the container stop timeout."
  type        = number
  default     = 30

  validation {
    condition     = var.shutdown_timeout_seconds >= 1 && var.shutdown_timeout_seconds <= 110
    error_message = "shutdown_timeout_seconds must be 1-110 (the ECS stop timeout is at most 120 s)."
  }
}

variable "health_check_path" {
  description = "Path the ALB checks on each task."
  type        = string
  default     = "/health"
}

variable "rate_limit_reads" {
  description = "Reads one client address may make, as pier's PIER_RATE_LIMIT_READS: RATE/s,burst=N or RATE/m,burst=N (429 beyond), or off."
  type        = string
  default     = "100/s,burst=600"

  validation {
    condition     = can(regex("^(off|[1-9][0-9]{0,6}/[sm](,burst=[1-9][0-9]{0,6})?)$", var.rate_limit_reads))
    error_message = "rate_limit_reads is RATE/s,burst=N or RATE/m,burst=N (e.g. 100/s,burst=600), or off."
  }
}

variable "rate_limit_writes" {
  description = "Writes (uploads, items, predictions) one client address may make, as PIER_RATE_LIMIT_WRITES: RATE/s,burst=N or RATE/m,burst=N, or off."
  type        = string
  default     = "10/s,burst=60"

  validation {
    condition     = can(regex("^(off|[1-9][0-9]{0,6}/[sm](,burst=[1-9][0-9]{0,6})?)$", var.rate_limit_writes))
    error_message = "rate_limit_writes is RATE/s,burst=N or RATE/m,burst=N (e.g. 10/s,burst=60), or off."
  }
}

variable "environment" {
  description = "Extra pier settings for the container (limits such as PIER_MAX_UPLOAD_BYTES, RUST_LOG)."
  type        = map(string)
  default     = {}
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

# ---- data ---------------------------------------------------------------------------

variable "image_metadata" {
  description = "Where image metadata lives: \"dynamodb\" (a table) or \"postgres\" (the RDS database that also holds items)."
  type        = string
  default     = "dynamodb"

  validation {
    condition     = contains(["dynamodb", "postgres"], var.image_metadata)
    error_message = "image_metadata must be \"dynamodb\" or \"postgres\"."
  }
}

variable "create_database" {
  description = "Create the RDS PostgreSQL instance for items. false: give database_url (your own PostgreSQL)."
  type        = bool
  default     = true
}

variable "database_url" {
  description = "DATABASE_URL of an existing PostgreSQL when create_database is false (no password in it: pass it via database_password_secret_arn)."
  type        = string
  default     = null
}

variable "database_password_secret_arn" {
  description = "Secrets Manager secret (JSON key `password`) for an existing PostgreSQL when create_database is false."
  type        = string
  default     = null
}

variable "db_instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.t4g.micro"
}

variable "db_multi_az" {
  description = "RDS standby in the second AZ (doubles its cost)."
  type        = bool
  default     = false
}

variable "deletion_protection" {
  description = "Protect the ALB, database and table from deletion; turn off (and apply) before `terraform destroy`."
  type        = bool
  default     = true
}

variable "force_destroy" {
  description = "Let destroy delete a bucket and ECR repository that still hold images (throwaway stacks only)."
  type        = bool
  default     = false
}

# ---- observability ------------------------------------------------------------------

variable "log_retention_days" {
  description = "Days CloudWatch keeps pier's logs."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ...)."
  }
}

variable "alarm_email" {
  description = "Address the alarms are sent to (confirm the SNS subscription mail); null: alarms only in the console."
  type        = string
  default     = null
}

variable "alarm_5xx_percent" {
  description = "Alarm when more than this share of requests get a 5xx for 5 minutes."
  type        = number
  default     = 5
}

variable "alarm_p95_seconds" {
  description = "Alarm when the p95 target response time exceeds this for 10 minutes."
  type        = number
  default     = 0.5
}

variable "spool_policies" {
  description = "Attach the spool file system's policy (TLS only, through the access point only) and its backup policy. Only the emulator in the test command turns this off: moto answers neither."
  type        = bool
  default     = true
}

# ---- metrics, traces and saved log queries (metrics.tf) --------------------------------

variable "metrics" {
  description = "\"amp\": an Amazon Managed Service for Prometheus workspace with the kit's rules and alert manager, and a collector sidecar in every task that scrapes pier into it. \"none\": no workspace, no sidecar."
  type        = string
  default     = "amp"

  validation {
    condition     = contains(["amp", "none"], var.metrics)
    error_message = "metrics must be \"amp\" or \"none\"."
  }
}

variable "tracing" {
  description = "Send one span per request to AWS X-Ray through the collector sidecar (needs metrics = \"amp\")."
  type        = bool
  default     = false
}

variable "collector_image" {
  description = "The AWS Distro for OpenTelemetry collector image of the sidecar (pin a version; Docker Hub amazon/aws-otel-collector is the same image)."
  type        = string
  default     = "public.ecr.aws/aws-observability/aws-otel-collector:v0.43.3"
}

variable "collector_cpu" {
  description = "CPU units reserved for the collector sidecar, taken from task_cpu (pier gets the rest)."
  type        = number
  default     = 64
}

variable "collector_memory" {
  description = "Memory (MiB) the collector sidecar may use, taken from task_memory (pier gets the rest)."
  type        = number
  default     = 192
}

variable "managed_grafana" {
  description = "Create an Amazon Managed Grafana workspace that reads the Prometheus workspace (needs IAM Identity Center in the account; about $9 per active editor per month). Off: import the dashboard into any Grafana (deploy/observability/README.md)."
  type        = bool
  default     = false
}

variable "alert_manager" {
  description = "Create the Prometheus workspace's alert manager definition. Only for an emulator that lacks the API (moto): false leaves that one resource out, and the test checks the rendered definition (output alert_manager_definition)."
  type        = bool
  default     = true
}

variable "saved_queries" {
  description = "Create the CloudWatch Logs Insights saved queries. Only for an emulator that lacks the API (moto): false leaves them out, and the test checks the rendered queries (output log_queries)."
  type        = bool
  default     = true
}
