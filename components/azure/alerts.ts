/**
 * Step 11, alerts (`alerts`): an action group with each address of `alerts.emails`, and metric
 * alerts that tell it when they fire and when they resolve: a channel's port on the load balancer
 * with no healthy backend (an outage now), and a worker VM unavailable (the cluster runs without
 * a standby, or is down).
 */
import * as pulumi from "@pulumi/pulumi";
import * as compute from "@pulumi/azure-native/compute";
import * as monitor from "@pulumi/azure-native/monitor";
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
    const alert = (alertName: string, args: { description: string; scope: pulumi.Input<string>; severity: number; criterion: monitor.MetricAlertArgs["criteria"] }) =>
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
                criteria: args.criterion,
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
                          odataType: "Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria",
                          allOf: [
                              {
                                  criterionType: "StaticThresholdCriterion",
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
                          ],
                      },
                  }),
              )
        : [];
    const workerAlerts = vms.map(({ name: worker, role, vm }) =>
        alert(`${name}-${worker}-unavailable`, {
            description: `Worker ${worker} (${role}) is unavailable: if it is the standby the cluster has none; if it is active, its peer takes over.`,
            scope: vm.id,
            severity: 1,
            criterion: {
                odataType: "Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria",
                allOf: [
                    {
                        criterionType: "StaticThresholdCriterion",
                        name: "vm-unavailable",
                        metricNamespace: "Microsoft.Compute/virtualMachines",
                        // 1 while the VM runs, 0 while it is unavailable (preview; a VM stopped
                        // through the API reports nothing, and the alert stays quiet).
                        metricName: "VmAvailabilityMetric",
                        timeAggregation: "Average",
                        operator: "LessThan",
                        threshold: 1,
                    },
                ],
            },
        }),
    );
    return { actionGroup, alerts: [...channelAlerts, ...workerAlerts] };
}
