#!/usr/bin/env python3
"""iguana-ha share snapshots (Azure, storage.queueRecovery: shared, backup.enabled).

    share-snapshot.py CONFIG run   on the active worker: delete this share's snapshots older than
                                   keepDays, then take a new one; on any other worker, nothing

Azure Backup does not protect NFS shares, so the lease holder snapshots the share holding the queue
on the timer's schedule (backup.everyHours), through Azure Resource Manager with the VM's managed
identity: FileShares List with $expand=snapshots, Delete with the x-ms-snapshot header (never
without it: that would delete the share), and Create with $expand=snapshots, which takes a snapshot.
The worker's role allows those share calls on the shared account only.

Python 3 standard library only. Rendered by iguana-ha. Do not edit by hand.
"""
import datetime
import json
import os
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from iguana_ha_cloud import ApiError, AzureIdentity, http, parse_arm_time, run_timer_tool  # noqa: E402

def log(message):
    print(f"share snapshot: {message}", file=sys.stderr, flush=True)  # SHARE_SNAPSHOT_LOG_PREFIX (log-events.ts)


class Shares:
    def __init__(self, config):
        self.config = config
        self.arm = config["armUrl"].rstrip("/")
        self.identity = AzureIdentity(config["imdsUrl"])
        self.share_id = config["shareId"]
        self.share_name = self.share_id.rstrip("/").split("/")[-1]

    def url(self, path, expand=False):
        query = {"api-version": self.config["apiVersion"], **({"$expand": "snapshots"} if expand else {})}
        return f"{self.arm}{path}?{urllib.parse.urlencode(query)}"

    def send(self, method, url, headers=None, body=None):
        sent = {"Authorization": f"Bearer {self.identity.token(self.config['armResource'])}", "Content-Type": "application/json", **(headers or {})}
        status, _, answer = http(method, url, sent, body)
        if status not in (200, 201, 204):
            raise ApiError(f"{method} {urllib.parse.urlsplit(url).path}: HTTP {status}: {answer[:300].decode(errors='replace')}")
        return json.loads(answer) if answer else {}

    def snapshots(self):
        """(time, snapshotTime as ARM wrote it) of this share's snapshots, oldest first."""
        url, found = self.url(self.share_id.rsplit("/", 1)[0], expand=True), []
        while url:
            page = self.send("GET", url)
            for item in page.get("value", []):
                taken = (item.get("properties") or {}).get("snapshotTime")
                if item.get("name") == self.share_name and taken:
                    found.append((parse_arm_time(taken, "snapshotTime"), taken))
            # A long list comes in pages; nextLink is the next page's whole URL.
            url = page.get("nextLink")
        return sorted(found)

    def delete(self, snapshot_time):
        if not snapshot_time:
            raise ApiError("refusing a delete without x-ms-snapshot: it would delete the share itself")
        self.send("DELETE", self.url(self.share_id), headers={"x-ms-snapshot": snapshot_time})

    def take(self):
        taken = self.send("PUT", self.url(self.share_id, expand=True), body=b"{}")
        return (taken.get("properties") or {}).get("snapshotTime", "?")


def run(config, now=None):
    shares = Shares(config)
    now = now or datetime.datetime.now(datetime.timezone.utc)
    cutoff = now - datetime.timedelta(days=config["keepDays"])
    for moment, text in shares.snapshots():
        if moment < cutoff:
            shares.delete(text)
            log(f"deleted snapshot {text} of {shares.share_name} (older than {config['keepDays']} days)")
    log(f"took snapshot {shares.take()} of {shares.share_name}")
    return 0


def main(argv):
    return run_timer_tool(argv, __doc__, run, log, "takes the snapshot")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
