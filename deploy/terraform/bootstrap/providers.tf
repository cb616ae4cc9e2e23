provider "aws" {
  region = var.region
  default_tags {
    tags = { Project = "pier", Stack = "bootstrap", ManagedBy = "terraform" }
  }
}
