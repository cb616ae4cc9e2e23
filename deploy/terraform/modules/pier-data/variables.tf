variable "bucket_name" {
  description = "Name of the images bucket (globally unique)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be 3-63 lowercase letters, digits, dots or hyphens."
  }
}

variable "table_name" {
  description = "Name of the DynamoDB table of image metadata."
  type        = string
}

variable "create_table" {
  description = "Create the DynamoDB table (false when image metadata lives in PostgreSQL)."
  type        = bool
  default     = true
}

variable "kms_key_arn" {
  description = "A customer-managed KMS key for the bucket and table; null uses AWS-managed encryption (no key cost)."
  type        = string
  default     = null
}

variable "noncurrent_version_days" {
  description = "Days a deleted or overwritten image stays recoverable as a noncurrent version."
  type        = number
  default     = 30

  validation {
    condition     = var.noncurrent_version_days >= 1
    error_message = "noncurrent_version_days must be at least 1."
  }
}

variable "force_destroy" {
  description = "Let `terraform destroy` delete a bucket that still holds images (tests, throwaway stacks)."
  type        = bool
  default     = false
}

variable "deletion_protection" {
  description = "Refuse to delete the DynamoDB table until this is turned off."
  type        = bool
  default     = true
}
