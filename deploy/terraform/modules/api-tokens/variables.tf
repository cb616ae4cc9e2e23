variable "name" {
  description = "Stack name; the secret is NAME/api-tokens."
  type        = string
}

variable "tokens" {
  description = "Tokens to store (each >= 32 characters, no comma; they end up in Terraform state). Empty: one is generated, as a write-only value that never reaches the state."
  type        = list(string)
  default     = []
  sensitive   = true

  validation {
    condition     = alltrue([for t in var.tokens : length(t) >= 32 && !strcontains(t, ",")])
    error_message = "each API token must be at least 32 characters and contain no comma."
  }
}

variable "recovery_window_in_days" {
  description = "Days a deleted secret can be restored (0 deletes at once: throwaway stacks)."
  type        = number
  default     = 7
}
