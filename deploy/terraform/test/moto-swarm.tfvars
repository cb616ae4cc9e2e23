# Layered over aws-swarm/examples/small.tfvars by the deploy drill (scripts/deploy-drill.sh):
# a throwaway stack against moto that destroy removes whole.
name                = "pier-drill-swarm"
deletion_protection = false
force_destroy       = true
metadata            = "dynamodb"
alarm_email         = "oncall@example.com"
# moto answers neither PutFileSystemPolicy nor PutBackupPolicy for EFS: the spool's
# policies are checked as rendered instead (scripts/infra_check.py, spool_* outputs).
spool_policies = false
# Grafana through the load balancer, from one documentation network (the drill checks the
# listener, its security group rule and the target).
monitoring_allowed_cidrs = ["203.0.113.0/24"]
