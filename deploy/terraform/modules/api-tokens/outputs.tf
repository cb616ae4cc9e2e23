output "secret_arn" {
  description = "ARN of the secret, for ECS `secrets`, IAM policies and the instances' start scripts."
  value       = aws_secretsmanager_secret.api_tokens.arn
}
