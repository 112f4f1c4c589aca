#!/usr/bin/env python3
"""iguana-ha floating VIP: moves the cluster's public address to this worker or off it.

    vip-mover.py CONFIG take       the lease guard just acquired the lease: one attempt to take the VIP
                                   (exit 0 once it is on this worker; the guard retries while it holds the lease)
    vip-mover.py CONFIG claim      take the VIP, retrying while this worker's role stays MASTER
    vip-mover.py CONFIG release    this worker is no longer active: let go of the VIP if it holds it
    vip-mover.py CONFIG reconcile  (timer) MASTER without the VIP after a failed move, or a VIP
                                   held by nobody: take it; never takes it from a peer that holds it
    vip-mover.py CONFIG holder     print who holds the VIP: self, peer, none or other

AWS: an Elastic IP, moved with EC2 AssociateAddress (allowing reassociation) and
DisassociateAddress, signed with Signature Version 4 using the instance role's credentials
from IMDSv2. Azure: a Public IP, detached from the NIC that holds it and attached to this
worker's NIC (two NIC updates), with a managed-identity token from the Azure IMDS.

Python 3 standard library only. The config (JSON, written by iguana-ha) holds no secret.
Rendered by iguana-ha. Do not edit by hand.
"""
import fcntl
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from iguana_ha_cloud import ApiError, AwsInstance, AzureIdentity, ec2_call, http, local_name  # noqa: E402

try:
    import syslog
except ImportError:  # pragma: no cover
    syslog = None


def log(message):
    line = f"iguana-ha vip: {message}"
    print(line, file=sys.stderr, flush=True)
    if syslog is not None:
        syslog.syslog(syslog.LOG_INFO, line)


def read_state(path):
    try:
        with open(path, encoding="ascii") as handle:
            return handle.read().strip()
    except OSError:
        return "UNKNOWN"


# --- AWS --------------------------------------------------------------------------------------


class Aws:
    def __init__(self, config):
        self.config = config["aws"]
        self.instance = AwsInstance(self.config["imdsUrl"])

    def instance_id(self):
        return self.instance.instance_id()

    def call(self, action, params):
        return ec2_call(self.instance, self.config, action, params)

    def association(self):
        """(instance id or None, association id or None) of the Elastic IP."""
        root = self.call("DescribeAddresses", {"AllocationId.1": self.config["allocationId"]})
        for item in root.iter():
            if local_name(item.tag) == "item" and child_text(item, "allocationId") == self.config["allocationId"]:
                return child_text(item, "instanceId"), child_text(item, "associationId")
        raise ApiError(f"EC2 DescribeAddresses: {self.config['allocationId']} not found")

    def holder(self):
        instance, _ = self.association()
        if not instance:
            return "none"
        return "self" if instance == self.instance_id() else "peer"

    def claim(self):
        self.call("AssociateAddress", {"AllocationId": self.config["allocationId"], "InstanceId": self.instance_id(), "AllowReassociation": "true"})

    def release(self):
        instance, association = self.association()
        if instance and instance == self.instance_id() and association:
            # By association id: if the peer took the address meanwhile, this id no longer exists.
            self.call("DisassociateAddress", {"AssociationId": association})


def child_text(element, name):
    for child in element:
        if local_name(child.tag) == name:
            return (child.text or "").strip() or None
    return None


# --- Azure ------------------------------------------------------------------------------------


class Azure:
    def __init__(self, config):
        self.config = config["azure"]
        self.arm = self.config["armUrl"].rstrip("/")
        self.identity = AzureIdentity(self.config["imdsUrl"])

    def bearer(self):
        return {"Authorization": f"Bearer {self.identity.token(self.config['armResource'])}", "Content-Type": "application/json"}

    def url(self, resource_id):
        return f"{self.arm}{resource_id}?api-version={self.config['apiVersion']}"

    def get(self, resource_id):
        status, _, body = http("GET", self.url(resource_id), self.bearer())
        if status != 200:
            raise ApiError(f"GET {resource_id}: HTTP {status}: {body[:300].decode(errors='replace')}")
        return json.loads(body)

    def put(self, resource_id, document):
        status, _, body = http("PUT", self.url(resource_id), self.bearer(), json.dumps(document).encode())
        if status not in (200, 201):
            raise ApiError(f"PUT {resource_id}: HTTP {status}: {body[:300].decode(errors='replace')}")
        self.wait(resource_id)

    def wait(self, resource_id):
        """Waits for the NIC's own provisioning state: reading it needs no permission beyond the NIC."""
        deadline = time.monotonic() + self.config["operationTimeoutSeconds"]
        while time.monotonic() < deadline:
            state = self.get(resource_id).get("properties", {}).get("provisioningState")
            if state == "Succeeded":
                return
            if state in ("Failed", "Canceled"):
                raise ApiError(f"update of {resource_id}: {state}")
            time.sleep(self.config["pollSeconds"])
        raise ApiError(f"update of {resource_id}: still running after {self.config['operationTimeoutSeconds']} s")

    def holder_nic(self):
        configuration = self.get(self.config["publicIpId"]).get("properties", {}).get("ipConfiguration")
        if not configuration:
            return None
        return configuration["id"].split("/ipConfigurations/")[0]

    def holder(self):
        nic = self.holder_nic()
        if nic is None:
            return "none"
        if same_id(nic, self.config["selfNicId"]):
            return "self"
        return "peer" if same_id(nic, self.config["peerNicId"]) else "other"

    def set_public_ip(self, nic_id, attach):
        nic = self.get(nic_id)
        changed = False
        for configuration in nic["properties"]["ipConfigurations"]:
            properties = configuration["properties"]
            current = properties.get("publicIPAddress", {}).get("id")
            if attach and configuration["name"] == self.config["ipConfigName"] and not same_id(current or "", self.config["publicIpId"]):
                properties["publicIPAddress"] = {"id": self.config["publicIpId"]}
                changed = True
            elif not attach and current and same_id(current, self.config["publicIpId"]):
                del properties["publicIPAddress"]
                changed = True
        if changed:
            self.put(nic_id, nic)

    def claim(self):
        nic = self.holder_nic()
        # A Standard Public IP sits on one IP configuration at a time: detach, then attach.
        if nic is not None and not same_id(nic, self.config["selfNicId"]):
            self.set_public_ip(nic, attach=False)
        self.set_public_ip(self.config["selfNicId"], attach=True)

    def release(self):
        if self.holder() == "self":
            self.set_public_ip(self.config["selfNicId"], attach=False)


def same_id(a, b):
    return a.lower() == b.lower()


# --- commands ---------------------------------------------------------------------------------


def claim_while_master(cloud, config, marker):
    """Takes the VIP, retrying while this worker stays MASTER; gives up after the configured time."""
    deadline = time.monotonic() + config["giveUpAfterSeconds"]
    attempt = 0
    while True:
        attempt += 1
        state = read_state(config["stateFile"])
        if state != "MASTER":
            log(f"no longer MASTER ({state}): not taking the VIP")
            return 0
        try:
            if cloud.holder() == "self":
                log("the VIP is on this worker")
                touch(marker)
                return 0
            started = time.monotonic()
            cloud.claim()
            if cloud.holder() == "self":
                log(f"took the VIP (attempt {attempt}, {time.monotonic() - started:.1f} s)")
                touch(marker)
                return 0
            log(f"attempt {attempt}: the VIP is not on this worker yet")
        except (ApiError, KeyError, ValueError) as error:
            log(f"attempt {attempt} failed: {error}")
        if time.monotonic() >= deadline:
            log(f"gave up after {config['giveUpAfterSeconds']} s; the reconcile timer tries again")
            return 1
        time.sleep(config["retrySeconds"])


def touch(path):
    with open(path, "w", encoding="ascii") as handle:
        handle.write(f"{int(time.time())}\n")


def remove(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def main(argv):
    if len(argv) != 3 or argv[2] not in ("take", "claim", "release", "reconcile", "holder"):
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as handle:
        config = json.load(handle)
    cloud = Aws(config) if config["cloud"] == "aws" else Azure(config)
    command = argv[2]
    if command == "holder":
        print(cloud.holder())
        return 0
    run_dir = os.path.dirname(config["stateFile"])
    os.makedirs(run_dir, exist_ok=True)
    marker = os.path.join(run_dir, "vip-claimed")
    # One move at a time: a release waits for a claim to notice the new state and stop.
    with open(os.path.join(run_dir, "vip.lock"), "w", encoding="ascii") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if command == "take":
            remove(marker)
            try:
                if cloud.holder() != "self":
                    cloud.claim()
                # The change takes the cloud a few seconds: watch for it here, a quarter second
                # apart, rather than wait for the guard's next attempt.
                settle_by = time.monotonic() + config["takeSettleSeconds"]
                while True:
                    if cloud.holder() == "self":
                        log("the VIP is on this worker")
                        touch(marker)
                        return 0
                    if time.monotonic() >= settle_by:
                        break
                    time.sleep(0.25)
                log("asked for the VIP; it is not on this worker yet")
            except (ApiError, KeyError, ValueError) as error:
                log(f"take failed: {error}")
            return 1
        if command == "claim":
            remove(marker)
            return claim_while_master(cloud, config, marker)
        if command == "release":
            remove(marker)
            try:
                cloud.release()
                log("released the VIP if this worker held it")
                return 0
            except (ApiError, KeyError, ValueError) as error:
                log(f"release failed: {error}")
                return 1
        if read_state(config["stateFile"]) != "MASTER":
            return 0
        try:
            holder = cloud.holder()
        except (ApiError, KeyError, ValueError) as error:
            log(f"reconcile: {error}")
            return 1
        if holder == "self":
            touch(marker)
            return 0
        if holder in ("peer", "other") and os.path.exists(marker):
            # This worker took the VIP since it became MASTER and the peer took it since: both
            # think they are MASTER (the link between them is cut). Do not fight over it.
            log(f"reconcile: the VIP is on the {holder} although this worker is MASTER; leaving it (split brain?)")
            return 1
        return claim_while_master(cloud, config, marker)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
