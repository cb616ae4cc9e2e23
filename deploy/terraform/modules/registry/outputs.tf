output "repository_url" {
  description = "Where `deploy/scripts/build-and-push` pushes: ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME."
  value       = aws_ecr_repository.pier.repository_url
}

output "repository_arn" {
  description = "ARN of the repository, for pull permissions."
  value       = aws_ecr_repository.pier.arn
}

output "pull_policy_json" {
  description = "IAM policy to log in to ECR and pull this repository (merge it into the role that runs pier)."
  value       = data.aws_iam_policy_document.pull.json
}
