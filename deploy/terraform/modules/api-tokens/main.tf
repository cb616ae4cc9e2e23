# pier's API tokens for writes, in Secrets Manager: comma-separated, several valid at
# once so a token can be rotated without downtime. The value comes from `tokens` or,
# better (it keeps them out of Terraform state), from `aws secretsmanager
# put-secret-value` before the first deploy.
resource "aws_secretsmanager_secret" "api_tokens" {
  #checkov:skip=CKV_AWS_149:the AWS-managed aws/secretsmanager key; a customer key costs $1/month and changes nothing for who can read it (IAM does)
  #checkov:skip=CKV2_AWS_57:tokens are rotated by the operator (add the new one, roll clients, remove the old); there is no Lambda to rotate them
  name                    = "${var.name}/api-tokens"
  description             = "pier API tokens (comma-separated) for POST, PUT and DELETE"
  recovery_window_in_days = var.recovery_window_in_days
}

resource "aws_secretsmanager_secret_version" "api_tokens" {
  count         = length(var.tokens) > 0 ? 1 : 0
  secret_id     = aws_secretsmanager_secret.api_tokens.id
  secret_string = join(",", var.tokens)
}
