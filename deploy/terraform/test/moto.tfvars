# Settings for `terraform apply` against moto in the test command: a throwaway stack
# that destroy can remove whole.
name                = "pier-test"
deletion_protection = false
force_destroy       = true
alarm_email         = "oncall@example.com"
# moto 5.2.5 does not implement Application Auto Scaling's ListTagsForResource, which the
# provider calls after creating a scalable target: the only resource left out here.
enable_autoscaling = false
# moto answers neither PutFileSystemPolicy nor PutBackupPolicy for EFS: the spool's
# policies are checked as rendered instead (scripts/infra_check.py, spool_* outputs).
spool_policies = false
