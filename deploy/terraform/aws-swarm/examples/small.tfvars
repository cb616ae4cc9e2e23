# Docker Swarm on EC2: one t3.small manager, 2-6 t3.small workers (2 pier replicas per
# worker), a single-AZ db.t4g.micro holding items and image metadata. About $110/month
# (deploy/terraform/README.md#cost). Needs 14 vCPU of standard On-Demand instance quota
# at the maximum (7 instances of 2 vCPU; the default quota is 32 or less on new accounts).
#   deploy/scripts/deploy aws-swarm --var-file deploy/terraform/aws-swarm/examples/small.tfvars --tag SHA
name                  = "pier-swarm"
region                = "us-east-1"
manager_instance_type = "t3.small"
worker_instance_type  = "t3.small"
min_workers           = 2
max_workers           = 6
replicas_per_worker   = 2
metadata              = "postgres"
db_instance_class     = "db.t4g.micro"
# alarm_email         = "oncall@example.com"
