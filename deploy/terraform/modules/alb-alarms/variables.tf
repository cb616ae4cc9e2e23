variable "name" {
  description = "Stack name: prefix of the alarm names."
  type        = string
}

variable "load_balancer_arn_suffix" {
  description = "The ALB's ARN suffix (its CloudWatch dimension)."
  type        = string
}

variable "target_group_arn_suffix" {
  description = "The target group's ARN suffix (its CloudWatch dimension)."
  type        = string
}

variable "alarm_email" {
  description = "E-mail address subscribed to the alarm topic (null: none; subscribe anything to the topic_arn output)."
  type        = string
  default     = null
}

variable "targets" {
  description = "What the target group holds, for the alarm texts (\"tasks\", \"nodes\")."
  type        = string
  default     = "tasks"
}

variable "error_percent" {
  description = "Share of requests answered 5xx by pier that raises the alarm (per minute, 5 minutes running)."
  type        = number
  default     = 5
}

variable "elb_5xx_per_minute" {
  description = "5xx the load balancer itself answers (no healthy target, target timeouts, refused connections) per minute, 3 minutes running, that raise the alarm."
  type        = number
  default     = 10
}

variable "p95_seconds" {
  description = "p95 response time that raises the alarm (10 minutes running)."
  type        = number
  default     = 0.5
}
