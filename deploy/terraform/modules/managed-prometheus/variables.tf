variable "name" {
  description = "Name of the stack: the workspace's alias and the rule namespaces' prefix."
  type        = string
}

variable "region" {
  description = "The workspace's region (the alert manager signs its SNS calls for it)."
  type        = string
}

variable "rules_dir" {
  description = "The kit's rule files (deploy/observability/rules): each *.yml becomes one rule groups namespace, byte for byte."
  type        = string
}

variable "alert_topic_arn" {
  description = "The stack's SNS topic: both severities (page, ticket) are published there."
  type        = string
}

variable "alert_manager" {
  description = "Create the alert manager definition. Only for an emulator without the API (moto): false leaves it out and the rendered definition is checked instead (output alert_manager_definition)."
  type        = bool
  default     = true
}

variable "log_retention_days" {
  description = "How long the workspace's own log (rule evaluation and alert manager errors) is kept."
  type        = number
  default     = 30
}
