# API tokens for writes, injected into the tasks as PIER_API_TOKENS.
module "api_tokens" {
  source                  = "../modules/api-tokens"
  name                    = var.name
  tokens                  = var.api_tokens
  recovery_window_in_days = var.deletion_protection ? 7 : 0
}
