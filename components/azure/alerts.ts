/**
 * Step 11, alerts (`alerts`): an action group with each address of `alerts.emails`, and metric
 * alerts that tell it when they fire and when they resolve: a channel's port on the load balancer
 * with no healthy backend (an outage now), a worker VM unavailable (the cluster runs without
 * a standby, or is down), and what the workers report themselves (events.ts): a takeover, an
 * Iguana unhealthy, the lease store unreachable, a disk filling up.
 */
import * as pulumi from "@pulumi/pulumi";
import * as compute from "@pulumi/azure-native/compute";
import * as monitor from "@pulumi/azure-native/monitor";
import type { monitor as monitorInputs } from "@pulumi/azure-native/types/input";
import { EVENTS_NAMESPACE, TAKEOVER_METRIC } from "../constants";
import { signalAlarms } from "../signal-alarms";
import type { AlertsConfig } from "../config-types";
import * as network from "@pulumi/azure-native/network";
import { AzureGroupContext } from "./context";

/**
 * The window an alert condition must hold: a failover (the new holder answers within seconds) does
 * not page anyone; a channel with no healthy backend for five minutes does.
 */
export const ALERT_WINDOW_MINUTES = 5;
export const ALERT_WINDOW = `PT${ALERT_WINDOW_MINUTES}M`;
/** An action group's short name (what SMS and email subjects show) is at most 12 characters. */
const SHORT_NAME_MAX = 12;

export interface AzureAlerts {
    actionGroup: monitor.ActionGroup;
    alerts: monitor.MetricAlert[];
}

/**
 * Health Probe Status averaged over the two backends, per probe interval: 50 with one worker
 * answering, 100 with both. Thresholds between, so one late probe in the window does not fire.
 */
export const AZURE_ONE_BACKEND_UP_MAX = 75;
export const AZURE_BOTH_BACKENDS_UP = 90;
/** Data Path Availability (0-100) averaged over the window, under which the load balancer itself is failing. */
export const AZURE_DATA_PATH_MIN = 90;

/** The windows an Azure metric alert takes (its windowSize): PT1M, PT5M, PT15M, PT30M, PT1H, PT6H, PT12H, P1D. */
export const AZURE_METRIC_ALERT_WINDOWS = ["PT1M", "PT5M", "PT15M", "PT30M", "PT1H", "PT6H", "PT12H", "P1D"];

/** A window of `minutes` (one of SIGNAL_ALARM_WINDOWS) as an Azure metric alert names it. */
export function azureWindow(minutes: number): string {
    const window = minutes % 60 === 0 ? `PT${minutes / 60}H` : `PT${minutes}M`;
    if (!AZURE_METRIC_ALERT_WINDOWS.includes(window)) throw new Error(`${minutes} minutes is not a window an Azure metric alert takes (${AZURE_METRIC_ALERT_WINDOWS.join(", ")})`);
    return window;
}

/** One static threshold on one metric of one resource. */
type Criterion = Omit<monitorInputs.MetricCriteriaArgs, "criterionType">;
type AlertMaker = (
    alertName: string,
    args: { description: string; scope: pulumi.Input<string>; severity: number; criterion: Criterion; windowSize?: string },
) => monitor.MetricAlert;

export function createAlerts(
    ctx: AzureGroupContext,
    loadBalancer: network.LoadBalancer | undefined,
    vms: { name: string; role: string; vm: compute.VirtualMachine }[],
): AzureAlerts {
    const { name, cfg, plan, opts, tags, resourceGroupName } = ctx;
    const actionGroup = new monitor.ActionGroup(
        `${name}-alerts`,
        {
            resourceGroupName,
            location: "Global",
            groupShortName: name.slice(0, SHORT_NAME_MAX),
            enabled: true,
            emailReceivers: cfg.alerts.emails.map((emailAddress, i) => ({ name: `email-${i + 1}`, emailAddress, useCommonAlertSchema: true })),
            ...(cfg.alerts.webhookUrl !== undefined
                ? { webhookReceivers: [{ name: "webhook", serviceUri: pulumi.secret(cfg.alerts.webhookUrl), useCommonAlertSchema: true }] }
                : {}),
            tags,
        },
        opts,
    );
    const alert: AlertMaker = (alertName, args) =>
        new monitor.MetricAlert(
            alertName,
            {
                resourceGroupName,
                location: "global",
                description: args.description,
                scopes: [args.scope],
                severity: args.severity,
                enabled: true,
                evaluationFrequency: "PT1M",
                windowSize: args.windowSize ?? ALERT_WINDOW,
                // Tell the group again when it resolves.
                autoMitigate: true,
                criteria: {
                    odataType: "Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria",
                    allOf: [{ criterionType: "StaticThresholdCriterion", ...args.criterion }],
                },
                actions: [{ actionGroupId: actionGroup.id }],
                tags,
            },
            opts,
        );
    const channelAlerts = loadBalancer
        ? plan.listeners
              .filter((listener) => listener.kind === "channel")
              .map((listener) =>
                  alert(`${name}-${listener.name}-no-backend`, {
                      description: `Channel ${listener.name} (port ${listener.port}): no healthy worker behind the load balancer, so its senders cannot deliver (both workers down, or neither holds the lease).`,
                      scope: loadBalancer.id,
                      severity: 0,
                      criterion: {
                          name: "no-healthy-backend",
                          metricNamespace: "Microsoft.Network/loadBalancers",
                          // Health Probe Status, 0-100 per backend. Not split by backend: the
                          // passive worker always reports 0. The maximum over both is 0 only
                          // when neither answers the probe of this port's rule.
                          metricName: "DipAvailability",
                          timeAggregation: "Maximum",
                          operator: "LessThan",
                          threshold: 1,
                          dimensions: [{ name: "FrontendPort", operator: "Include", values: [String(listener.port)] }],
                      },
                  }),
              )
        : [];
    // With the role probe in mind: Health Probe Status averaged over both backends is 50 while
    // exactly one worker answers (active-passive, the passive answers 503 by design) and 100
    // while both do (active-active, as it should be).
    const redundancyAlerts = loadBalancer
        ? plan.listeners
              .filter((listener) => listener.kind === "channel")
              .map((listener) => {
                  const activeActive = listener.healthCheck.kind === "iguana-health";
                  return alert(`${name}-${listener.name}-${activeActive ? "one-backend" : "two-active"}`, {
                      description: activeActive
                          ? `Channel ${listener.name} (port ${listener.port}, active-active): only one worker's Iguana is healthy, so the channel runs without redundancy.`
                          : `Channel ${listener.name} (port ${listener.port}): both workers answer the role probe, so both consider themselves active; the lease should make that impossible (docs/lease.md): check both workers' lease guards now.`,
                      scope: loadBalancer.id,
                      severity: activeActive ? 2 : 0,
                      criterion: {
                          name: activeActive ? "one-healthy-backend" : "two-active-backends",
                          metricNamespace: "Microsoft.Network/loadBalancers",
                          metricName: "DipAvailability",
                          timeAggregation: "Average",
                          operator: activeActive ? "LessThan" : "GreaterThan",
                          threshold: activeActive ? AZURE_BOTH_BACKENDS_UP : AZURE_ONE_BACKEND_UP_MAX,
                          dimensions: [{ name: "FrontendPort", operator: "Include", values: [String(listener.port)] }],
                      },
                  });
              })
        : [];
    // The load balancer's own health: Azure exercises the path from inside the region to each
    // frontend (Data Path Availability, "Load balancer metrics"; Azure Monitor Baseline Alerts
    // watch it below 90). A drop with healthy workers is Azure's fault, not the cluster's.
    const dataPathAlerts = loadBalancer
        ? [
              alert(`${name}-data-path`, {
                  description: `The load balancer's data path (Azure's own probe from inside the region to the frontend) is available less than ${AZURE_DATA_PATH_MIN} % of the time: senders may not reach the workers even while they are healthy. Check Azure Service Health for the region.`,
                  scope: loadBalancer.id,
                  severity: 1,
                  criterion: {
                      name: "data-path-availability",
                      metricNamespace: "Microsoft.Network/loadBalancers",
                      metricName: "VipAvailability",
                      timeAggregation: "Average",
                      operator: "LessThan",
                      threshold: AZURE_DATA_PATH_MIN,
                  },
              }),
          ]
        : [];
    return { actionGroup, alerts: [...channelAlerts, ...redundancyAlerts, ...dataPathAlerts, ...perWorkerAlerts(name, vms, alert, cfg.alerts)] };
}

/** Per VM: unavailable, took over, and the alerts on what it reports itself. */
function perWorkerAlerts(name: string, vms: { name: string; role: string; vm: compute.VirtualMachine }[], alert: AlertMaker, thresholds: AlertsConfig): monitor.MetricAlert[] {
    const workerAlerts = vms.map(({ name: worker, role, vm }) =>
        alert(`${name}-${worker}-unavailable`, {
            description: `Worker ${worker} (${role}) is unavailable: if it is the standby the cluster has none; if it is active, its peer takes over.`,
            scope: vm.id,
            severity: 1,
            criterion: {
                name: "vm-unavailable",
                metricNamespace: "Microsoft.Compute/virtualMachines",
                // 1 while the VM runs, 0 while it is unavailable (preview; a VM stopped
                // through the API reports nothing, and the alert stays quiet).
                metricName: "VmAvailabilityMetric",
                timeAggregation: "Average",
                operator: "LessThan",
                threshold: 1,
            },
        }),
    );
    // The worker's own event (events.ts): a custom metric of its VM, which exists only once published.
    const takeoverAlerts = vms.map(({ name: worker, vm }) =>
        alert(`${name}-${worker}-took-over`, {
            description: `Worker ${worker} took the lease over from its peer (a failover, or a planned switchover): it is the active worker now. If nobody switched over, find out why its peer lost the lease; until the peer is back the cluster runs without a standby.`,
            scope: vm.id,
            severity: 1,
            criterion: {
                name: "took-over",
                metricNamespace: EVENTS_NAMESPACE,
                metricName: TAKEOVER_METRIC,
                timeAggregation: "Total",
                operator: "GreaterThanOrEqual",
                threshold: 1,
                skipMetricValidation: true,
            },
        }),
    );
    // What the workers report themselves (events.ts). Azure evaluates no data as no alert: a VM
    // that stops reporting is the unavailable alert's to find.
    const signalAlerts = vms.flatMap(({ name: worker, vm }) =>
        signalAlarms(worker, "the lease blob, through the storage private endpoint", thresholds).map((a) =>
            alert(`${name}-${worker}-${a.suffix}`, {
                description: a.description,
                scope: vm.id,
                severity: a.when === "above" ? 2 : 1,
                windowSize: azureWindow(a.minutes),
                criterion: {
                    name: a.suffix,
                    metricNamespace: EVENTS_NAMESPACE,
                    metricName: a.metric,
                    timeAggregation: "Maximum",
                    operator: a.when === "below" ? "LessThan" : "GreaterThan",
                    threshold: a.threshold,
                    skipMetricValidation: true,
                },
            }),
        ),
    );
    return [...workerAlerts, ...takeoverAlerts, ...signalAlerts];
}
