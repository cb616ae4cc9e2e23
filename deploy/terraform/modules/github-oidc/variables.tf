variable "repository" {
  description = "The GitHub repository the workflows run in, OWNER/NAME (the roles trust its tokens only)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.repository))
    error_message = "repository must be OWNER/NAME."
  }
}

variable "name" {
  description = "Prefix of the roles' names."
  type        = string
  default     = "pier-github"
}

variable "create_provider" {
  description = "Create the account's GitHub OIDC provider (false when the account already has one: give existing_provider_arn)."
  type        = bool
  default     = true
}

variable "existing_provider_arn" {
  description = "The account's GitHub OIDC provider, when create_provider is false."
  type        = string
  default     = null
}

variable "ecr_repository_arns" {
  description = "ECR repositories the release role may push to (the stacks' ecr_repository_url outputs, as ARNs)."
  type        = list(string)
}

variable "state_bucket_arn" {
  description = "The Terraform state bucket (the deploy and plan roles read and lock state there)."
  type        = string
}

variable "deploy_policy_json" {
  description = "What the deploy role may do: the checked-in deployer policy (deploy/iam/deployer-policy.json)."
  type        = string
}

variable "production_environment" {
  description = "The GitHub environment whose jobs may deploy (it should require reviewers)."
  type        = string
  default     = "production"
}

variable "stack_name_prefix" {
  description = "What the stacks' names start with (their `name` variable): the plan role may read secrets named so."
  type        = string
  default     = "pier"
}
