#!/usr/bin/env python3
"""iguana-ha events: tells the cloud what only this worker knows, as metric datapoints.

    publish-event.py CONFIG takeover   this worker took the lease over from its peer (a failover
                                       or a planned switchover): one datapoint of the config's
                                       metric for it (`Takeovers`)
    publish-event.py CONFIG signals    this worker's state now, one gauge each: Active (its role
                                       probe answers 200), HoldsLease, IguanaHealthy and
                                       LeaseStoreReachable (as the lease guard last reported
                                       them; 0 when the guard has gone quiet), and
                                       DataDiskUsedPercent; every minute (a timer) and on every
                                       change of role (the notify script)

AWS: CloudWatch PutMetricData (Query API, Signature Version 4 with the instance role's
credentials from IMDSv2) into the cluster's namespace, dimension Cluster (what the alarm
watches) and Cluster + Worker (who took over). Azure: a custom metric of this VM through Azure
Monitor's ingestion endpoint, with a managed-identity token for https://monitoring.azure.com/.
The cloud's alarm on that metric tells the operators.

Run detached by the notify script (the lease guard never waits on it), and for the signals by
a timer too. A takeover gets a few tries, the signals one (the next run is a minute away); a
failure says so in the journal.

Python 3 standard library only. The config (JSON, written by iguana-ha) holds no secret.
Rendered by iguana-ha. Do not edit by hand.
"""
import datetime
import fcntl
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from iguana_ha_cloud import ApiError, AwsInstance, AzureIdentity, http, sigv4_headers  # noqa: E402

try:
    import syslog
except ImportError:  # pragma: no cover
    syslog = None

# How many tries each gets: a takeover is told once; the signals again within a minute.
ATTEMPTS = {"takeover": 5, "signals": 1}
AZURE_MONITOR_RESOURCE = "https://monitoring.azure.com/"


def log(message):
    line = f"iguana-ha event: {message}"
    print(line, file=sys.stderr, flush=True)
    if syslog is not None:
        syslog.syslog(syslog.LOG_INFO, line)


def read_json(path):
    try:
        with open(path, encoding="ascii") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return {}


# The role probe asks Iguana's health with a 2 s timeout before it answers: wait longer than that,
# or a slow Iguana reads as a worker that is not active (a boot test on a loaded host showed it).
ROLE_PROBE_TIMEOUT_SECONDS = 5


def role_probe_answers_200(url):
    try:
        with urllib.request.urlopen(url, timeout=ROLE_PROBE_TIMEOUT_SECONDS) as response:
            return response.status == 200
    except urllib.error.HTTPError as error:
        return error.code == 200
    except (urllib.error.URLError, OSError, ValueError) as error:
        log(f"the role probe gave no answer ({getattr(error, 'reason', error)}): counted as not active")
        return False


def flag(value):
    return 1 if value else 0


def signals(config):
    """[(metric, value, unit)]: this worker's state, read the moment this runs."""
    where = config["signals"]
    now = time.monotonic()
    lease = read_json(where["leaseFile"])
    guard = read_json(where["guardFile"])
    guard_running = isinstance(guard.get("at"), (int, float)) and now - guard["at"] < where["guardSilentSeconds"]
    # As df counts it: the blocks reserved for root are no room for Iguana, which is not root.
    disk = os.statvfs(where["dataPath"])
    used = disk.f_blocks - disk.f_bfree
    used_percent = 100.0 * used / (used + disk.f_bavail) if used + disk.f_bavail else 0.0
    metrics = config["metrics"]
    return [
        (metrics["active"], flag(role_probe_answers_200(where["roleProbeUrl"])), "Count"),
        (metrics["holdsLease"], flag(isinstance(lease.get("deadline"), (int, float)) and lease["deadline"] > now), "Count"),
        (metrics["iguanaHealthy"], flag(guard_running and guard.get("iguanaHealthy") is True), "Count"),
        (metrics["leaseStoreReachable"], flag(guard_running and guard.get("leaseStoreReachable") is True), "Count"),
        (metrics["dataDiskUsedPercent"], round(used_percent, 1), "Percent"),
    ]


class SignalsLock:
    """One signals send at a time, each reading the state once it holds the lock: the notify
    script starts one per change of role, and a later state must not be overtaken by an earlier."""

    def __init__(self, config, event):
        self.path = config["signals"]["lockFile"] if event == "signals" else None
        self.handle = None

    def __enter__(self):
        if self.path:
            self.handle = open(self.path, "a", encoding="ascii")
            fcntl.flock(self.handle, fcntl.LOCK_EX)
        return self

    def __exit__(self, *_):
        if self.handle:
            self.handle.close()


def datapoints(config, event):
    """[(metric, value, unit, dimensions)]: a takeover by Cluster (what the alarm watches) and by Cluster and Worker; signals by Cluster and Worker."""
    cluster, worker = [("Cluster", config["cluster"])], [("Cluster", config["cluster"]), ("Worker", config["worker"])]
    if event == "takeover":
        return [(config["metrics"]["takeover"], 1, "Count", dimensions) for dimensions in (cluster, worker)]
    return [(metric, value, unit, worker) for metric, value, unit in signals(config)]


def publish_aws(config, points):
    aws = config["aws"]
    credentials = AwsInstance(config["imdsUrl"]).credentials()
    fields = {"Action": "PutMetricData", "Version": "2010-08-01", "Namespace": config["namespace"]}
    for index, (metric, value, unit, dimensions) in enumerate(points, start=1):
        member = f"MetricData.member.{index}"
        fields[f"{member}.MetricName"] = metric
        fields[f"{member}.Value"] = str(value)
        fields[f"{member}.Unit"] = unit
        for number, (name, dimension) in enumerate(dimensions, start=1):
            fields[f"{member}.Dimensions.member.{number}.Name"] = name
            fields[f"{member}.Dimensions.member.{number}.Value"] = dimension
    body = urllib.parse.urlencode(fields).encode()
    url = aws["endpoint"]
    headers = sigv4_headers("POST", url, aws["region"], "monitoring", credentials, body, "application/x-www-form-urlencoded; charset=utf-8")
    status, _, answer = http("POST", url, headers, body)
    if status != 200:
        raise ApiError(f"CloudWatch PutMetricData: HTTP {status} {answer[:200]!r}")


def publish_azure(config, points):
    """One custom metric of this VM per document (Azure Monitor takes one metric per call), by Worker; the VM is the resource."""
    identity = AzureIdentity(config["imdsUrl"])
    token = identity.token(AZURE_MONITOR_RESOURCE)
    url = f"{config['azure']['endpoint'].rstrip('/')}{identity.resource_id()}/metrics"
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    seen = set()
    for metric, value, _, _ in points:
        if metric in seen:  # a takeover's two AWS dimension sets are one series here
            continue
        seen.add(metric)
        series = {"dimValues": [config["worker"]], "min": value, "max": value, "sum": value, "count": 1}
        document = {"time": now, "data": {"baseData": {"metric": metric, "namespace": config["namespace"], "dimNames": ["Worker"], "series": [series]}}}
        status, _, answer = http("POST", url, {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}, json.dumps(document).encode())
        if status != 200:
            raise ApiError(f"Azure Monitor custom metric {metric}: HTTP {status} {answer[:200]!r}")


def main(argv):
    if len(argv) != 3 or argv[2] not in ATTEMPTS:
        print(f"usage: publish-event.py CONFIG {'|'.join(ATTEMPTS)}", file=sys.stderr)
        return 2
    event = argv[2]
    with open(argv[1], encoding="utf-8") as handle:
        config = json.load(handle)
    publish = publish_aws if config["cloud"] == "aws" else publish_azure
    attempts = ATTEMPTS[event]
    for attempt in range(1, attempts + 1):
        try:
            with SignalsLock(config, event):
                points = datapoints(config, event)
                publish(config, points)
            if event == "takeover":
                log(f"{config['worker']}: takeover published ({points[0][0]})")
            return 0
        except (ApiError, KeyError, ValueError, OSError) as error:
            log(f"{config['worker']}: {event} not published (attempt {attempt} of {attempts}): {error}")
            if attempt < attempts:
                time.sleep(min(2**attempt, 30))
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
