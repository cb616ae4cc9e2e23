output "state_bucket" {
  description = "Put this in each stack's backend.tf (backend.tf.example shows how)."
  value       = aws_s3_bucket.state.id
}

output "github_role_arns" {
  description = "The roles the workflows assume, by job: set them as repository variables (deploy/README.md, step 6)."
  value       = length(module.github) > 0 ? module.github[0].role_arns : {}
}

output "github_trust_subjects" {
  description = "The `sub` claim each role trusts."
  value       = length(module.github) > 0 ? module.github[0].trust_subjects : {}
}
