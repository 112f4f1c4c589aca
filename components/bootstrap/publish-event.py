#!/usr/bin/env python3
"""iguana-ha events: tells the cloud what only this worker knows, as a metric datapoint.

    publish-event.py CONFIG takeover   this worker took the lease over from its peer (a failover
                                       or a planned switchover): one datapoint of the config's
                                       metric for it (`Takeovers`)

AWS: CloudWatch PutMetricData (Query API, Signature Version 4 with the instance role's
credentials from IMDSv2) into the cluster's namespace, dimension Cluster (what the alarm
watches) and Cluster + Worker (who took over). Azure: a custom metric of this VM through Azure
Monitor's ingestion endpoint, with a managed-identity token for https://monitoring.azure.com/.
The cloud's alarm on that metric tells the operators.

Run detached by the notify script: the lease guard never waits on it. A few tries, then it
gives up and says so in the journal.

Python 3 standard library only. The config (JSON, written by iguana-ha) holds no secret.
Rendered by iguana-ha. Do not edit by hand.
"""
import datetime
import json
import os
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from iguana_ha_cloud import ApiError, AwsInstance, AzureIdentity, http, sigv4_headers  # noqa: E402

try:
    import syslog
except ImportError:  # pragma: no cover
    syslog = None

EVENTS = ("takeover",)
ATTEMPTS = 5
AZURE_MONITOR_RESOURCE = "https://monitoring.azure.com/"


def log(message):
    line = f"iguana-ha event: {message}"
    print(line, file=sys.stderr, flush=True)
    if syslog is not None:
        syslog.syslog(syslog.LOG_INFO, line)


def publish_aws(config, metric):
    aws = config["aws"]
    credentials = AwsInstance(config["imdsUrl"]).credentials()
    fields = {"Action": "PutMetricData", "Version": "2010-08-01", "Namespace": config["namespace"]}
    for index, dimensions in enumerate(([("Cluster", config["cluster"])], [("Cluster", config["cluster"]), ("Worker", config["worker"])]), start=1):
        member = f"MetricData.member.{index}"
        fields[f"{member}.MetricName"] = metric
        fields[f"{member}.Value"] = "1"
        fields[f"{member}.Unit"] = "Count"
        for number, (name, value) in enumerate(dimensions, start=1):
            fields[f"{member}.Dimensions.member.{number}.Name"] = name
            fields[f"{member}.Dimensions.member.{number}.Value"] = value
    body = urllib.parse.urlencode(fields).encode()
    url = aws["endpoint"]
    headers = sigv4_headers("POST", url, aws["region"], "monitoring", credentials, body, "application/x-www-form-urlencoded; charset=utf-8")
    status, _, answer = http("POST", url, headers, body)
    if status != 200:
        raise ApiError(f"CloudWatch PutMetricData: HTTP {status} {answer[:200]!r}")


def publish_azure(config, metric):
    identity = AzureIdentity(config["imdsUrl"])
    token = identity.token(AZURE_MONITOR_RESOURCE)
    resource_id = identity.resource_id()
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    document = {
        "time": now,
        "data": {
            "baseData": {
                "metric": metric,
                "namespace": config["namespace"],
                "dimNames": ["Worker"],
                "series": [{"dimValues": [config["worker"]], "min": 1, "max": 1, "sum": 1, "count": 1}],
            }
        },
    }
    url = f"{config['azure']['endpoint'].rstrip('/')}{resource_id}/metrics"
    status, _, answer = http("POST", url, {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}, json.dumps(document).encode())
    if status != 200:
        raise ApiError(f"Azure Monitor custom metric: HTTP {status} {answer[:200]!r}")


def main(argv):
    if len(argv) != 3 or argv[2] not in EVENTS:
        print(f"usage: publish-event.py CONFIG {'|'.join(EVENTS)}", file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as handle:
        config = json.load(handle)
    metric = config["metrics"][argv[2]]
    publish = publish_aws if config["cloud"] == "aws" else publish_azure
    for attempt in range(1, ATTEMPTS + 1):
        try:
            publish(config, metric)
            log(f"{config['worker']}: {argv[2]} published ({metric})")
            return 0
        except (ApiError, KeyError, ValueError) as error:
            log(f"{config['worker']}: {argv[2]} not published (attempt {attempt} of {ATTEMPTS}): {error}")
            time.sleep(min(2**attempt, 30))
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
