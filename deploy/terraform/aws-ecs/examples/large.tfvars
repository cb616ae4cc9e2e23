# The seed-sized deployment: 10 tasks of 4 vCPU / 8 GiB at the start, 2-15 under
# autoscaling at 70 % CPU, private tasks behind a NAT gateway, a Multi-AZ database.
# Needs 60 vCPU of Fargate On-Demand quota at the maximum (15 × 4; the default is 6:
# ask for more in Service Quotas first).
#   deploy/scripts/deploy aws-ecs --var-file deploy/terraform/aws-ecs/examples/large.tfvars --tag SHA
# Every deploy reads this same file, so a deploy never resizes the stack by omission.
name                = "pier"
region              = "us-east-1"
task_cpu            = 4096
task_memory         = 8192
desired_tasks       = 10
min_tasks           = 2
max_tasks           = 15
cpu_target_percent  = 70
requests_per_target = 20000
enable_nat_gateway  = true
db_instance_class   = "db.m7g.large"
db_multi_az         = true
log_retention_days  = 90
# domain_name       = "images.example.com"
# route53_zone_id   = "Z0123456789ABCDEFGHIJ"
# alarm_email       = "oncall@example.com"
