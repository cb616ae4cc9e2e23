variable "name" {
  description = "Repository name."
  type        = string
}

variable "keep_images" {
  description = "How many images the lifecycle policy keeps (older ones expire)."
  type        = number
  default     = 10

  validation {
    condition     = var.keep_images >= 1
    error_message = "keep_images must be at least 1."
  }
}

variable "kms_key_arn" {
  description = "Customer-managed KMS key; null uses the AWS-managed aws/ecr key (no key cost)."
  type        = string
  default     = null
}

variable "force_delete" {
  description = "Let `terraform destroy` delete the repository while it still holds images."
  type        = bool
  default     = false
}
