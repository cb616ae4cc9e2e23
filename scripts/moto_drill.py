"""moto's server for the deploy drill (scripts/deploy-drill.sh), with a few additions.

    python moto_drill.py -H 127.0.0.1 -p PORT

1. moto answers every SSM Run Command as succeeded: it runs nothing, since it has no
   agents. To show that deploy/scripts/deploy reads a command's result and fails on a
   failure, a command whose comment contains `simulate-failure` is reported as failed,
   with an error output, as an instance would report a failing script.
2. moto 5.2.5 does not implement EC2 MonitorInstances (the provider calls it for
   `monitoring = true`, detailed monitoring): here it records the state and answers as
   EC2 does.
3. moto 5.2.5 fails (HTTP 500) on a security group rule for a protocol without ports
   (ESP, protocol 50, which the swarm's encrypted overlay needs), and refuses to modify
   one (HTTP 400): here such a rule gets the port range AWS reports for it, -1 to -1.
4. Three places where moto 5.2.5 answers differently from EC2 and so makes every plan
   want to change a resource again — which, for the launch template, would start an
   instance refresh of the workers on every apply, hiding the very thing the drill
   checks (that a release replaces nothing): moto copies a launch template's own tags
   into its launch data as a `launch-template` tag specification (EC2 does not), and it
   drops the description of a rule that references a security group.
5. moto 5.2.5 gives every RDS instance the same DbiResourceId; the provider reads an
   instance back by that id, so with two stacks' databases in one moto (the drills run
   side by side) both applies fail with "couldn't find resource". Here each instance
   gets an id of its own, as in RDS.
6. moto 5.2.5 adds to every Run Command sent to named instances all the instances its
   (empty) target filter matches, that is every instance in the region: a command the
   ec2 drill sends then shows up as the swarm drill's manager's last command. Here a
   command without targets goes to the instances it names, as in SSM.

Everything else is moto as it is. Used only by the test command.
"""

import os
import random
import string
import sys

os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")

from moto.ssm import models  # noqa: E402

_invocation = models.Command.invocation_response


def invocation_response(self, instance_id, plugin_name):
    response = _invocation(self, instance_id, plugin_name)
    if "simulate-failure" in (self.comment or ""):
        response.update(
            Status="Failed",
            StatusDetails="Failed",
            ResponseCode=1,
            StandardErrorContent="simulated failure: the image could not be pulled",
        )
    return response


models.Command.invocation_response = invocation_response

_targets = models.Command._get_instance_ids_from_targets


def instance_ids_from_targets(self):
    return _targets(self) if self.targets else []


models.Command._get_instance_ids_from_targets = instance_ids_from_targets

from moto.ec2.models import security_groups  # noqa: E402
from moto.ec2.responses import monitoring  # noqa: E402

_rule_init = security_groups.SecurityGroupRule.__init__


def portless(protocol):
    """A protocol whose rules have no port range (ESP, GRE…): not TCP, UDP, ICMP or all."""
    return str(protocol) not in ("tcp", "udp", "icmp", "6", "17", "1", "-1")


def rule_init(self, ec2_backend, ip_protocol, group_id, from_port, to_port, *args, **kwargs):
    if from_port is None and to_port is None and portless(ip_protocol):
        from_port = to_port = "-1"
    _rule_init(self, ec2_backend, ip_protocol, group_id, from_port, to_port, *args, **kwargs)


security_groups.SecurityGroupRule.__init__ = rule_init
security_groups.SecurityGroupRule.description = property(
    lambda self: self.ip_range.get("Description") or self.source_group.get("Description")
)

_modify_rules = security_groups.SecurityGroupBackend.modify_security_group_rules


def modify_security_group_rules(self, group_id, rules):
    for rule in rules.values():
        if portless(rule.get("IpProtocol")):
            rule.setdefault("FromPort", -1)
            rule.setdefault("ToPort", -1)
    return _modify_rules(self, group_id, rules)


security_groups.SecurityGroupBackend.modify_security_group_rules = modify_security_group_rules

from moto.rds import models as rds_models  # noqa: E402

_db_init = rds_models.DBInstance.__init__


def db_init(self, *args, **kwargs):
    _db_init(self, *args, **kwargs)
    # The same alphabet and length as RDS's (db- and 26 upper-case letters and digits).
    self.dbi_resource_id = "db-" + "".join(random.choices(string.ascii_uppercase + string.digits, k=26))


rds_models.DBInstance.__init__ = db_init

from moto.ec2.models import launch_templates  # noqa: E402

_create_template = launch_templates.LaunchTemplateBackend.create_launch_template


def create_launch_template(self, name, description, template_data, tag_spec):
    specs = template_data.get("TagSpecifications")
    if specs:
        template_data["TagSpecifications"] = [s for s in specs if s.get("ResourceType") != "launch-template"]
    return _create_template(self, name, description, template_data, tag_spec)


launch_templates.LaunchTemplateBackend.create_launch_template = create_launch_template


def set_monitoring(state):
    def respond(self):
        self.error_on_dryrun()
        ids = self._get_param("InstanceIds", [])
        items = []
        for instance in self.ec2_backend.get_multi_instances_by_id(ids):
            instance.monitoring_state = state
            items.append(
                f"<item><instanceId>{instance.id}</instanceId><monitoring><state>{state}</state></monitoring></item>"
            )
        tag = "MonitorInstancesResponse" if state == "enabled" else "UnmonitorInstancesResponse"
        return (
            f'<{tag} xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">'
            f"<requestId>drill</requestId><instancesSet>{''.join(items)}</instancesSet></{tag}>"
        )

    return respond


monitoring.Monitoring.monitor_instances = set_monitoring("enabled")
monitoring.Monitoring.unmonitor_instances = set_monitoring("disabled")

from moto.server import main  # noqa: E402

sys.exit(main(sys.argv[1:]))
