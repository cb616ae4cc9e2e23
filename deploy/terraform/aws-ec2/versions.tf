terraform {
  required_version = ">= 1.11.0" # write-only attributes (the generated API token)

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }

  # State is local by default; for a team, copy backend.tf.example to backend.tf
  # (an S3 bucket with locking) before the first `terraform init`.
}
