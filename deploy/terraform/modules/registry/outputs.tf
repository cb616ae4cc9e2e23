output "repository_url" {
  description = "Where `deploy/scripts/build-and-push` pushes: ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME."
  value       = aws_ecr_repository.pier.repository_url
}

output "repository_arn" {
  description = "ARN of the repository, for pull permissions."
  value       = aws_ecr_repository.pier.arn
}
