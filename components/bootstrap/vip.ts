/**
 * The floating VIP (`failover.strategy: floating-ip`): the lease guard runs the VIP mover
 * (vip-mover.py, Python 3 standard library only) to take the address on promotion and let go
 * of it on demotion; a timer re-checks every few seconds that the MASTER holds it. The mover's
 * config is rendered here; it names resources, never a credential (the worker's own identity
 * signs every call).
 */
import * as fs from "fs";
import * as path from "path";
import { VIP_MOVE } from "../constants";
import { BootstrapSettings, WorkerPaths, stateFile } from "./settings";

export const VIP_MOVER_SOURCE = fs.readFileSync(path.join(__dirname, "vip-mover.py"), "utf8");

export const VIP_RECONCILE_UNIT = "iguana-vip-reconcile.service";
export const VIP_RECONCILE_TIMER = "iguana-vip-reconcile.timer";

/** Link-local instance metadata, the same address on both clouds. */
export const INSTANCE_METADATA_URL = "http://169.254.169.254";
export const AZURE_ARM_URL = "https://management.azure.com";

export function vipMoverPath(paths: WorkerPaths): string {
    return `${paths.libDir}/vip-mover.py`;
}

export function vipConfigPath(paths: WorkerPaths): string {
    return `${paths.etcDir}/vip.json`;
}

export function ec2Endpoint(region: string): string {
    return region.startsWith("cn-") ? `https://ec2.${region}.amazonaws.com.cn/` : `https://ec2.${region}.amazonaws.com/`;
}

/** The mover's JSON config. */
export function renderVipConfig(s: BootstrapSettings): string {
    if (!s.vip) throw new Error("vip.json: this worker has no floating VIP (failover.strategy is load-balancer)");
    const imdsUrl = s.cloudApi?.imdsUrl ?? INSTANCE_METADATA_URL;
    const common = {
        cloud: s.cloud,
        stateFile: stateFile(s),
        retrySeconds: VIP_MOVE.retrySeconds,
        giveUpAfterSeconds: VIP_MOVE.giveUpAfterSeconds,
        takeSettleSeconds: VIP_MOVE.takeSettleSeconds,
    };
    const config =
        s.vip.kind === "aws-eip"
            ? {
                  ...common,
                  aws: {
                      region: s.vip.region,
                      allocationId: s.vip.allocationId,
                      imdsUrl,
                      ec2Url: s.cloudApi?.apiUrl ?? ec2Endpoint(s.vip.region),
                      apiVersion: VIP_MOVE.ec2ApiVersion,
                  },
              }
            : {
                  ...common,
                  azure: {
                      publicIpId: s.vip.publicIpId,
                      selfNicId: s.vip.selfNicId,
                      peerNicId: s.vip.peerNicId,
                      ipConfigName: s.vip.ipConfigName,
                      imdsUrl,
                      armUrl: s.cloudApi?.apiUrl ?? AZURE_ARM_URL,
                      armResource: `${AZURE_ARM_URL}/`,
                      apiVersion: VIP_MOVE.azureNetworkApiVersion,
                      operationTimeoutSeconds: VIP_MOVE.azureOperationTimeoutSeconds,
                      pollSeconds: VIP_MOVE.azurePollSeconds,
                  },
              };
    return `${JSON.stringify(config, null, 2)}\n`;
}

/** The notify script's command line for one mover action, run detached so the fence never waits on a cloud API. */
export function vipMoverCommand(s: BootstrapSettings, action: "claim" | "release"): string {
    return `setsid -f /usr/bin/env python3 '${vipMoverPath(s.paths)}' '${vipConfigPath(s.paths)}' ${action} >> '${s.paths.runDir}/vip.log' 2>&1 < /dev/null`;
}

export function renderVipReconcileUnit(s: BootstrapSettings): string {
    return `[Unit]
Description=iguana-ha: the lease holder holds the floating VIP (heals a failed move)
After=network-online.target iguana-lease-guard.service
Wants=network-online.target

[Service]
Type=oneshot
ExecStart=/usr/bin/python3 ${vipMoverPath(s.paths)} ${vipConfigPath(s.paths)} reconcile
`;
}

export function renderVipReconcileTimer(): string {
    return `[Unit]
Description=iguana-ha: check every ${VIP_MOVE.reconcileEverySeconds} s that the lease holder holds the floating VIP

[Timer]
OnBootSec=60
OnUnitActiveSec=${VIP_MOVE.reconcileEverySeconds}
AccuracySec=1

[Install]
WantedBy=timers.target
`;
}
