output "role_arns" {
  description = "The roles by job (release, deploy, plan): set them as the repository's AWS_RELEASE_ROLE_ARN, AWS_DEPLOY_ROLE_ARN and AWS_PLAN_ROLE_ARN variables."
  value       = { for job, role in aws_iam_role.this : job => role.arn }
}

output "trust_subjects" {
  description = "The `sub` claim each role trusts (what the workflows' jobs present)."
  value       = local.subjects
}
