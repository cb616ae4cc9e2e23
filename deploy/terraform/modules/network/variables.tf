variable "name" {
  description = "Prefix of every resource name and Name tag."
  type        = string
}

variable "region" {
  description = "Region, for the names of the S3 and DynamoDB gateway endpoints."
  type        = string
}

variable "cidr_block" {
  description = "Address range of the VPC; split into 16 subnets, of which 2 public and 2 private are used."
  type        = string
  default     = "10.40.0.0/16"

  validation {
    condition     = can(cidrnetmask(var.cidr_block)) && tonumber(split("/", var.cidr_block)[1]) <= 24
    error_message = "cidr_block must be an IPv4 CIDR of /24 or larger."
  }
}

variable "enable_nat_gateway" {
  description = "One NAT gateway for the private subnets (about $33/month + $0.045/GB). Off: workloads run in public subnets."
  type        = bool
  default     = false
}

variable "flow_log_retention_days" {
  description = "Days of VPC flow logs to keep in CloudWatch; 0 turns flow logs off."
  type        = number
  default     = 14
}
