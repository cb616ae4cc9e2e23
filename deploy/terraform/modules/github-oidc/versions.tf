terraform {
  required_version = ">= 1.11.0" # write-only attributes (the generated API token)
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }
}
