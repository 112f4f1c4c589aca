/**
 * Step 11, alerts (`alerts`): an action group with each address of `alerts.emails`, and metric
 * alerts that tell it when they fire and when they resolve: a channel's port on the load balancer
 * with no healthy backend (an outage now), and a worker VM unavailable (the cluster runs without
 * a standby, or is down).
 */
import * as pulumi from "@pulumi/pulumi";
import * as compute from "@pulumi/azure-native/compute";
import * as monitor from "@pulumi/azure-native/monitor";
import type { monitor as monitorInputs } from "@pulumi/azure-native/types/input";
import { EVENTS_NAMESPACE, TAKEOVER_METRIC } from "../constants";
import * as network from "@pulumi/azure-native/network";
import { AzureGroupContext } from "./context";

/**
 * The window an alert condition must hold: a failover (the new holder answers within seconds) does
 * not page anyone; a channel with no healthy backend for five minutes does.
 */
export const ALERT_WINDOW = "PT5M";
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
            tags,
        },
        opts,
    );
    /** One static threshold on one metric of one resource. */
    type Criterion = Omit<monitorInputs.MetricCriteriaArgs, "criterionType">;
    const alert = (alertName: string, args: { description: string; scope: pulumi.Input<string>; severity: number; criterion: Criterion }) =>
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
                windowSize: ALERT_WINDOW,
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
    return { actionGroup, alerts: [...channelAlerts, ...redundancyAlerts, ...workerAlerts, ...takeoverAlerts] };
}
