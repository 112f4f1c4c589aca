#!/usr/bin/env python3
"""iguana-ha peer fence (storage.queueRecovery: shared): stops the previous lease holder's machine.

    peer-fence.py CONFIG stop ID   stop the machine ID (an EC2 instance id, an Azure VM resource id)
                                   at once, without an OS shutdown, and wait until it is stopped

The new lease holder runs it before it starts Iguana on the shared queue: a holder frozen past its
deadline (a paused VM) that thaws must find its machine off, not its Iguana writing the queue.
AWS: EC2 StopInstances (Force, SkipOsShutdown), then DescribeInstances until "stopped". Azure:
virtualMachines powerOff (skipShutdown=true), then instanceView until PowerState/stopped or
deallocated. The machine's own identity signs every call; the worker's role may stop only the
cluster's instances (AWS: a tag condition) or the peer VM (Azure: a role scoped to it).

Python 3 standard library only. Rendered by iguana-ha. Do not edit by hand.
"""
import json
import os
import sys
import time
import urllib.parse
import xml.etree.ElementTree as ElementTree

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from iguana_ha_cloud import ApiError, AwsInstance, AzureIdentity, ec2_call, http, local_name  # noqa: E402


def log(message):
    print(f"iguana-ha fence: {message}", file=sys.stderr, flush=True)


class Ec2:
    def __init__(self, config):
        self.config = config["aws"]
        self.instance = AwsInstance(self.config["imdsUrl"])

    def call(self, action, params):
        return ec2_call(self.instance, self.config, action, params)

    def stop(self, instance_id):
        self.call("StopInstances", {"InstanceId.1": instance_id, "Force": "true", "SkipOsShutdown": "true"})

    def state(self, instance_id):
        root = self.call("DescribeInstances", {"InstanceId.1": instance_id})
        for element in root.iter():
            if local_name(element.tag) == "instanceState":
                for child in element:
                    if local_name(child.tag) == "name":
                        return (child.text or "").strip()
        raise ApiError(f"EC2 DescribeInstances: {instance_id} not found")

    def stopped(self, instance_id):
        return self.state(instance_id) in ("stopped", "terminated")


class AzureVm:
    def __init__(self, config):
        self.config = config["azure"]
        self.arm = self.config["armUrl"].rstrip("/")
        self.identity = AzureIdentity(self.config["imdsUrl"])

    def headers(self):
        return {"Authorization": f"Bearer {self.identity.token(self.config['armResource'])}", "Content-Type": "application/json"}

    def stop(self, vm_id):
        query = urllib.parse.urlencode({"api-version": self.config["apiVersion"], "skipShutdown": "true"})
        status, _, body = http("POST", f"{self.arm}{vm_id}/powerOff?{query}", self.headers(), b"")
        if status not in (200, 202):
            raise ApiError(f"powerOff {vm_id}: HTTP {status}: {body[:300].decode(errors='replace')}")

    def stopped(self, vm_id):
        query = urllib.parse.urlencode({"api-version": self.config["apiVersion"]})
        status, _, body = http("GET", f"{self.arm}{vm_id}/instanceView?{query}", self.headers())
        if status != 200:
            raise ApiError(f"instanceView {vm_id}: HTTP {status}: {body[:300].decode(errors='replace')}")
        codes = [s.get("code", "") for s in json.loads(body).get("statuses", [])]
        return any(code in ("PowerState/stopped", "PowerState/deallocated") for code in codes)


def main(argv):
    if len(argv) != 4 or argv[2] != "stop":
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as handle:
        config = json.load(handle)
    machine = argv[3]
    cloud = Ec2(config) if config["cloud"] == "aws" else AzureVm(config)
    try:
        if not cloud.stopped(machine):
            cloud.stop(machine)
            log(f"asked to stop {machine}")
        give_up = time.monotonic() + config["waitSeconds"]
        while time.monotonic() < give_up:
            if cloud.stopped(machine):
                log(f"{machine} is stopped")
                return 0
            time.sleep(config["pollSeconds"])
        log(f"{machine} is still not stopped after {config['waitSeconds']} s")
        return 1
    except (ApiError, KeyError, ValueError, ElementTree.ParseError) as error:
        log(f"could not stop {machine}: {error}")
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
