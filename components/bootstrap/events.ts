/**
 * What only a worker knows, told to the cloud: when it takes the lease over from its peer (a
 * failover, or a planned switchover), the notify script runs publish-event.py detached, which
 * writes one `Takeovers` datapoint with the machine's identity. The cloud's alarm on it tells the
 * operators (docs/operations.md#alerts). The lease guard never waits on it.
 */
import * as fs from "fs";
import * as path from "path";
import { EVENTS_NAMESPACE, TAKEOVER_METRIC } from "../constants";
import { BootstrapSettings, WorkerPaths } from "./settings";
import { INSTANCE_METADATA_URL } from "./vip";

export const PUBLISH_EVENT_SOURCE = fs.readFileSync(path.join(__dirname, "publish-event.py"), "utf8");

export function publishEventPath(paths: WorkerPaths): string {
    return `${paths.libDir}/publish-event.py`;
}

export function eventsConfigPath(paths: WorkerPaths): string {
    return `${paths.etcDir}/events.json`;
}

/** CloudWatch's endpoint in a region (the `monitoring` service; China's partition under amazonaws.com.cn). */
export function cloudWatchEndpoint(region: string): string {
    return `https://monitoring.${region}.amazonaws.com${region.startsWith("cn-") ? ".cn" : ""}/`;
}

/** Azure Monitor's custom-metrics ingestion endpoint of a region ("Send custom metrics ... using the REST API"). */
export function azureMonitorEndpoint(location: string): string {
    return `https://${location}.monitoring.azure.com`;
}

export function renderEventsConfig(s: BootstrapSettings): string {
    if (!s.events) throw new Error(`events.json: ${s.self.name} was given no place to publish events`);
    const imdsUrl = s.cloudApi?.imdsUrl ?? INSTANCE_METADATA_URL;
    const common = { cloud: s.cloud, namespace: EVENTS_NAMESPACE, metrics: { takeover: TAKEOVER_METRIC }, cluster: s.events.cluster, worker: s.self.name, imdsUrl };
    const config =
        s.events.kind === "aws-cloudwatch"
            ? { ...common, aws: { region: s.events.region, endpoint: cloudWatchEndpoint(s.events.region) } }
            : { ...common, azure: { endpoint: azureMonitorEndpoint(s.events.location) } };
    return `${JSON.stringify(config, null, 2)}\n`;
}

/** The notify script's line: publish `event` in the background, its words to the run directory's log. */
export function publishEventCommand(s: BootstrapSettings, event: "takeover"): string {
    return `setsid -f /usr/bin/env python3 '${publishEventPath(s.paths)}' '${eventsConfigPath(s.paths)}' ${event} >> '${s.paths.runDir}/events.log' 2>&1 < /dev/null`;
}
