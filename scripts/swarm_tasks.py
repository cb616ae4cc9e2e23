"""Prints the docker_gwbridge address of every running task of a Swarm service.

    swarm_tasks.py SERVICE

A task on an overlay network also has an endpoint on docker_gwbridge, named
`gateway_` + the first 12 characters of its sandbox id; the host reaches it there.
"""

import json
import subprocess
import sys


def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True).stdout


def main() -> None:
    service = sys.argv[1]
    ids = docker("ps", "-q", "--filter", f"label=com.docker.swarm.service.name={service}").split()
    if not ids:
        return
    sandboxes = {
        entry["NetworkSettings"]["SandboxID"][:12] for entry in json.loads(docker("inspect", *ids))
    }
    bridge = json.loads(docker("network", "inspect", "docker_gwbridge"))[0]
    for endpoint in bridge.get("Containers", {}).values():
        if endpoint["Name"].removeprefix("gateway_") in sandboxes:
            print(endpoint["IPv4Address"].split("/")[0])


if __name__ == "__main__":
    main()
