variable "region" {
  description = "Region of the state bucket (the stacks may live elsewhere)."
  type        = string
  default     = "us-east-1"
}

variable "state_bucket" {
  description = "Name of the S3 bucket for Terraform state (globally unique, e.g. pier-tfstate-ACCOUNT)."
  type        = string
}

variable "github_repository" {
  description = "OWNER/NAME of the GitHub repository whose workflows release and deploy; null: no GitHub roles."
  type        = string
  default     = null
}

variable "create_github_provider" {
  description = "Create the account's GitHub OIDC provider (false if the account has one already)."
  type        = bool
  default     = true
}

variable "existing_github_provider_arn" {
  description = "The account's GitHub OIDC provider, when create_github_provider is false."
  type        = string
  default     = null
}

variable "ecr_repository_arns" {
  description = "ECR repositories CI may push to (a stack's is arn:aws:ecr:REGION:ACCOUNT:repository/NAME). Empty: the stacks' default names, pier*."
  type        = list(string)
  default     = []
}

variable "force_destroy" {
  description = "Let destroy delete a state bucket that still holds state (throwaway accounts and tests only)."
  type        = bool
  default     = false
}
