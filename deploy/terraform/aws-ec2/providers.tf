provider "aws" {
  region = var.region

  default_tags {
    tags = merge({
      Project   = "pier"
      Stack     = var.name
      ManagedBy = "terraform"
    }, var.tags)
  }
}

data "aws_caller_identity" "current" {}
