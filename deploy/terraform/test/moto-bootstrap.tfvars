# The bootstrap step of the deploy guide, against moto in the deploy drill.
state_bucket      = "pier-drill-tfstate"
github_repository = "example-org/pier"
force_destroy     = true
