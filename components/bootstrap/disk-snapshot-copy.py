#!/usr/bin/env python3
"""iguana-ha copies of the data disks' backup snapshots to the disaster-recovery region (Azure).

    disk-snapshot-copy.py CONFIG run   on the active worker: for each worker's data disk, start a
                                       copy of its newest backup snapshot to the copy region unless
                                       one is still running, delete failed copies and the copies
                                       older than keepDays (never a disk's newest completed copy);
                                       on any other worker, nothing

Azure Disk Backup keeps its incremental snapshots in the source region only, so the lease holder
copies them with ARM's managed copy of incremental snapshots, through Azure Resource Manager with
the VM's managed identity: Snapshots List by resource group (both groups, following nextLink),
Snapshots Create Or Update in the copy group with creationData.createOption CopyStart (Azure copies
in the background: properties.completionPercent, or properties.copyCompletionError when it failed)
and Snapshots Delete, only ever of a snapshot in the copy group tagged iguana-ha-disk. Azure copies
one incremental snapshot of a disk at a time, in the order they were taken: a disk whose copy is
still running gets no new one, and only a disk's newest snapshot is copied.

Python 3 standard library only. Rendered by iguana-ha. Do not edit by hand.
"""
import datetime
import json
import os
import re
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from iguana_ha_cloud import ApiError, AzureIdentity, http, parse_arm_time, run_timer_tool  # noqa: E402

DISK_TAG = "iguana-ha-disk"
COPY_OF_TAG = "iguana-ha-copy-of"
SNAPSHOTS = "/providers/Microsoft.Compute/snapshots"
# A snapshot's name: letters, digits, _ and -, at most 80 characters.
NAME_LIMIT = 80


def log(message):
    print(f"disk copy: {message}", file=sys.stderr, flush=True)  # DISK_COPY_LOG_PREFIX (log-events.ts)


def props(snapshot):
    return snapshot.get("properties") or {}


def tag(snapshot, name):
    """A tag's value (ARM keeps tag names' case as written but matches them case-insensitively)."""
    for key, value in (snapshot.get("tags") or {}).items():
        if key.lower() == name.lower():
            return value
    return None


def same_id(a, b):
    return bool(a) and bool(b) and a.rstrip("/").lower() == b.rstrip("/").lower()


def last_segment(resource_id):
    return (resource_id or "?").rstrip("/").split("/")[-1]


def created(snapshot):
    return parse_arm_time(props(snapshot).get("timeCreated"), "timeCreated")


def copy_error(snapshot):
    """The failure of a copy's background copy, as (code, message), or None."""
    error = props(snapshot).get("copyCompletionError")
    if error:
        return error.get("errorCode") or "?", error.get("errorMessage") or ""
    if props(snapshot).get("provisioningState") == "Failed":
        return "ProvisioningFailed", "the copy's provisioningState is Failed"
    return None


def copy_percent(snapshot):
    percent = props(snapshot).get("completionPercent")
    if percent is None:
        return 100.0 if props(snapshot).get("provisioningState") == "Succeeded" else 0.0
    return float(percent)


class Snapshots:
    def __init__(self, config):
        self.config = config
        self.arm = config["armUrl"].rstrip("/")
        self.identity = AzureIdentity(config["imdsUrl"])
        self.copy_prefix = f"{config['copyGroupId'].rstrip('/')}{SNAPSHOTS}/".lower()

    def url(self, path):
        return f"{self.arm}{path}?{urllib.parse.urlencode({'api-version': self.config['apiVersion']})}"

    def send(self, method, url, accepted, body=None):
        sent = {"Authorization": f"Bearer {self.identity.token(self.config['armResource'])}", "Content-Type": "application/json"}
        status, _, answer = http(method, url, sent, body)
        if status not in accepted:
            raise ApiError(f"{method} {urllib.parse.urlsplit(url).path}: HTTP {status}: {answer[:300].decode(errors='replace')}")
        return json.loads(answer) if answer else {}

    def same_origin(self, url):
        ours, theirs = urllib.parse.urlsplit(self.arm), urllib.parse.urlsplit(url)
        default = {"https": 443, "http": 80}
        return (ours.scheme, ours.hostname, ours.port or default.get(ours.scheme)) == (
            theirs.scheme,
            theirs.hostname,
            theirs.port or default.get(theirs.scheme),
        )

    def list(self, group_id):
        url, found = self.url(f"{group_id.rstrip('/')}{SNAPSHOTS}"), []
        while url:
            page = self.send("GET", url, (200,))
            found.extend(page.get("value", []))
            # A long list comes in pages; nextLink is the next page's whole URL, on ARM itself
            # (the token is never sent anywhere else).
            url = page.get("nextLink")
            if url and not self.same_origin(url):
                raise ApiError(f"nextLink {url!r} is not on {self.arm}")
        return found

    def start_copy(self, name, disk_id, source_id):
        body = {
            "location": self.config["copyRegion"],
            "tags": {DISK_TAG: disk_id, COPY_OF_TAG: source_id},
            "properties": {"creationData": {"createOption": "CopyStart", "sourceResourceId": source_id}, "incremental": True},
        }
        path = f"{self.config['copyGroupId'].rstrip('/')}{SNAPSHOTS}/{name}"
        self.send("PUT", self.url(path), (200, 201, 202), json.dumps(body).encode())

    def delete(self, snapshot_id):
        rest = (snapshot_id or "")[len(self.copy_prefix) :]
        if not (snapshot_id or "").lower().startswith(self.copy_prefix) or not re.fullmatch(r"[A-Za-z0-9_.-]+", rest) or rest in (".", ".."):
            raise ApiError(f"refusing to delete {snapshot_id!r}: not a snapshot in the copy group {self.config['copyGroupId']}")
        self.send("DELETE", self.url(snapshot_id), (200, 202, 204))


def copy_name(worker, taken):
    prefix = re.sub(r"[^A-Za-z0-9_-]", "-", worker).strip("-_") or "disk"
    stamp = taken.strftime("%Y%m%dT%H%M%SZ")
    return f"{prefix[: NAME_LIMIT - len(stamp) - 1]}-{stamp}"


def copy_disk(snapshots, config, disk, sources, copies, now):
    """One disk's copies: failed ones deleted, expired ones deleted, a new one started. True when all went well."""
    worker, disk_id = disk["worker"], disk["diskId"]
    good = True
    mine = [c for c in copies if same_id(tag(c, DISK_TAG), disk_id)]
    failed = [(c, copy_error(c)) for c in mine if copy_error(c)]
    running = [c for c in mine if not copy_error(c) and copy_percent(c) < 100]
    complete = sorted((c for c in mine if not copy_error(c) and copy_percent(c) >= 100), key=created)

    for copy, (code, message) in failed:
        log(f"copy of {worker}'s snapshot {last_segment(tag(copy, COPY_OF_TAG))} failed: {code}: {message}")
        snapshots.delete(copy.get("id"))
        log(f"deleted the failed copy {copy.get('name')} of {worker}'s snapshot: a later run copies again")
        good = False

    # Retention: never a copy still running, never the newest completed one (the region keeps one).
    cutoff = now - datetime.timedelta(days=config["keepDays"])
    for copy in complete[:-1]:
        if created(copy) < cutoff:
            snapshots.delete(copy.get("id"))
            log(f"deleted copy {copy.get('name')} of {worker}'s snapshot {last_segment(tag(copy, COPY_OF_TAG))} (older than {config['keepDays']} days)")

    if running:
        for copy in running:
            log(f"copy of {worker}'s snapshot {last_segment(tag(copy, COPY_OF_TAG) or copy.get('name'))} still in progress ({copy_percent(copy):g}%)")
        return good
    if failed:
        # The failed copy's delete may still be running: the next run starts the copy again.
        return good
    mine_sources = [
        s
        for s in sources
        if same_id((props(s).get("creationData") or {}).get("sourceResourceId"), disk_id)
        and props(s).get("incremental") is True
        and props(s).get("provisioningState") == "Succeeded"
    ]
    if not mine_sources:
        log(f"{worker}: no backup snapshot yet")
        return good
    newest = max(mine_sources, key=created)
    if any(same_id(tag(c, COPY_OF_TAG), newest.get("id")) for c in complete):
        log(f"{worker}: newest snapshot {newest.get('name')} already copied")
        return good
    taken = created(newest)
    name = copy_name(worker, taken)
    if any((c.get("name") or "").lower() == name.lower() for c in copies):
        raise ApiError(f"{worker}: a snapshot named {name} is already in the copy group")
    snapshots.start_copy(name, disk_id, newest["id"])
    log(f"started copy of {worker}'s snapshot {newest.get('name')} (taken {taken.isoformat().replace('+00:00', 'Z')}) to {config['copyRegion']} as {name}")
    return good


def run(config, now=None):
    snapshots = Snapshots(config)
    now = now or datetime.datetime.now(datetime.timezone.utc)
    sources = snapshots.list(config["sourceGroupId"])
    # Only the snapshots iguana-ha copied (tagged with their disk) are ever touched in the copy group.
    copies = [c for c in snapshots.list(config["copyGroupId"]) if tag(c, DISK_TAG)]
    status = 0
    for disk in config["disks"]:
        try:
            if not copy_disk(snapshots, config, disk, sources, copies, now):
                status = 1
        except (ApiError, KeyError, ValueError, TypeError) as error:
            log(f"failed: {disk.get('worker', '?')}: {error}")
            status = 1
    return status


def main(argv):
    return run_timer_tool(argv, __doc__, run, log, "copies the snapshots")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
