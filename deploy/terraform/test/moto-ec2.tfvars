# Layered over aws-ec2/examples/small.tfvars by the deploy drill (scripts/deploy-drill.sh):
# a throwaway stack against moto that destroy removes whole.
name                = "pier-drill-single"
deletion_protection = false
force_destroy       = true
