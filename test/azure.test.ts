import * as assert from "assert";
import { MOCK_ADMIN_PASSWORD } from "../offline/mocks";
import { spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { azureArchitecture, dedicatedHostSku, parseAzureVmSize, supportsPremiumStorage } from "../components/azure/sizes";
import { AZURE_LB_PARTS, azureRuleName } from "../components/azure/load-balancer";
import { placeholderSshPublicKey, sshRsaPublicKey } from "../components/azure/workers";
import { ClusterConfig, ConfigValidationError, RawClusterConfig, validateClusterConfig } from "../components/config";
import { AZURE_NSG_ADDRESSES_PER_DIRECTION, AZURE_NSG_PRIORITY, CLOUD_LIMITS, RDP_PORT, ROLE_PROBE_PATH, ROLE_PROBE_PORT, SSH_PORT } from "../components/constants";
import { azureNsgSourceCount } from "../components/azure/scale";
import { healthCheckFor, planNetwork, planWorkers } from "../components/model";
import { loadClusterConfig } from "../components/program";
import { MOCK_AZURE_SUBSCRIPTION_ID, RecordedResource } from "../offline/mocks";
import { StackRun, azureConfig, runConfig, runStack, workerGuardFiles, assertNoPeerFence, clearState } from "./helpers";
import { assertAzureLease } from "./lease-assertions";
import { azureLeaseLocator } from "../components/azure/lease";
import { requireTools } from "./tools";

const T = {
    rg: "azure-native:resources:ResourceGroup",
    vnet: "azure-native:network:VirtualNetwork",
    subnet: "azure-native:network:Subnet",
    nsg: "azure-native:network:NetworkSecurityGroup",
    nsgRule: "azure-native:network:SecurityRule",
    pip: "azure-native:network:PublicIPAddress",
    nat: "azure-native:network:NatGateway",
    lb: "azure-native:network:LoadBalancer",
    pool: "azure-native:network:LoadBalancerBackendAddressPool",
    nic: "azure-native:network:NetworkInterface",
    vm: "azure-native:compute:VirtualMachine",
    disk: "azure-native:compute:Disk",
    hostGroup: "azure-native:compute:DedicatedHostGroup",
    host: "azure-native:compute:DedicatedHost",
};

const INTERNET_SOURCES = new Set(["*", "0.0.0.0/0", "Internet", "any", "Any"]);

function portSpecCovers(spec: string, port: number): boolean {
    if (spec === "*") return true;
    const [from, to] = spec.split("-").map(Number);
    return from <= port && port <= (to ?? from);
}

/** Every inbound NSG rule of every NSG (the workers', the storage endpoints'), inline or standalone. */
function allInboundRules(run: StackRun): any[] {
    return [...run.ofType(T.nsg).flatMap((n) => n.state.securityRules ?? []), ...run.ofType(T.nsgRule).map((r) => r.state)].filter((r) => r.direction === "Inbound");
}

/** The inbound rules of the workers' NSG, inline or standalone. */
function inboundRules(run: StackRun): any[] {
    const nsg = run.one(T.nsg, "iguana-workers-nsg");
    const standalone = run.ofType(T.nsgRule).filter((r) => r.inputs.networkSecurityGroupName === nsg.state.name);
    return [...(nsg.state.securityRules ?? []), ...standalone.map((r) => r.state)].filter((r) => r.direction === "Inbound");
}

/** Allow rules that let an Internet source reach `port` over TCP, in any NSG. */
function internetAllowsTo(run: StackRun, port: number): any[] {
    return allInboundRules(run).filter((r) => {
        if (r.access !== "Allow") return false;
        if (!["Tcp", "*"].includes(r.protocol)) return false;
        const sources = [r.sourceAddressPrefix, ...(r.sourceAddressPrefixes ?? [])].filter((s) => s !== undefined);
        if (!sources.some((s: string) => INTERNET_SOURCES.has(s))) return false;
        const ports = [r.destinationPortRange, ...(r.destinationPortRanges ?? [])].filter((s) => s !== undefined);
        return ports.some((spec: string) => portSpecCovers(spec, port));
    });
}

function only(resources: RecordedResource[], what: string): RecordedResource {
    assert.strictEqual(resources.length, 1, `exactly one ${what}; found ${resources.map((r) => r.name).join(", ")}`);
    return resources[0];
}

/** The ARM id prefix Azure gives this load balancer's sub-resources. */
function lbBase(run: StackRun): string {
    const rg = run.one(T.rg, "iguana-rg");
    const lb = only(run.ofType(T.lb), "load balancer");
    return `/subscriptions/${MOCK_AZURE_SUBSCRIPTION_ID}/resourceGroups/${rg.state.name}/providers/Microsoft.Network/loadBalancers/${lb.state.loadBalancerName}`;
}

/**
 * Everything issue 3 asks of an Azure deployment, checked against the config the program read.
 * Used for both shipped stacks and every edge config below.
 */
function assertAzureCluster(run: StackRun, cfg: ClusterConfig): void {
    const base = lbBase(run);
    const lb = only(run.ofType(T.lb), "load balancer");
    const plans = planWorkers(planNetwork(cfg.network.cidr, cfg.network.existing));
    const activeActive = cfg.channels.some((c) => c.mode === "active-active");

    // No standalone pool or rule resources next to the inline ones.
    assert.deepStrictEqual(run.ofType(T.pool), []);
    assert.deepStrictEqual(
        run.mocks.resources.filter((r) => /LoadBalancingRule|InboundNatRule|LoadBalancerBackendAddressPool/.test(r.type)),
        [],
        "no standalone LB sub-resources",
    );

    // SKUs and the VIP.
    assert.strictEqual(lb.state.sku.name, "Standard");
    assert.strictEqual(lb.state.loadBalancerName, "iguana-lb");
    for (const pip of run.ofType(T.pip)) {
        assert.strictEqual(pip.state.sku.name, "Standard", `${pip.name} is Standard`);
        assert.strictEqual(pip.state.publicIPAllocationMethod, "Static", `${pip.name} is static`);
    }
    const frontends = lb.state.frontendIPConfigurations;
    assert.deepStrictEqual(
        frontends.map((f: any) => f.name),
        [AZURE_LB_PARTS.frontend],
    );
    if (cfg.network.public) {
        const vip = run.one(T.pip, "iguana-vip");
        assert.deepStrictEqual(vip.state.zones, ["1", "2", "3"], "the VIP is zone-redundant");
        assert.strictEqual(frontends[0].publicIPAddress.id, vip.id);
        assert.strictEqual(frontends[0].subnet, undefined);
        assert.strictEqual(run.outputs.vip, vip.state.ipAddress);
    } else {
        assert.ok(!run.ofType(T.pip).some((p) => p.name === "iguana-vip"), "no public VIP when network.public is false");
        assert.strictEqual(frontends[0].publicIPAddress, undefined);
        assert.strictEqual(frontends[0].privateIPAllocationMethod, "Static");
        assert.strictEqual(frontends[0].privateIPAddress, planNetwork(cfg.network.cidr, cfg.network.existing).internalVipIps[0]);
        assert.deepStrictEqual(frontends[0].zones, ["1", "2", "3"], "the internal frontend is zone-redundant");
        assert.strictEqual(frontends[0].subnet.id, run.one(T.subnet, "iguana-workers-1").id);
        assert.strictEqual(run.outputs.vip, planNetwork(cfg.network.cidr, cfg.network.existing).internalVipIps[0]);
    }
    assert.deepStrictEqual(run.outputs.vipAddresses, [run.outputs.vip]);

    // Probes.
    const probes: any[] = lb.state.probes;
    assert.deepStrictEqual(
        probes.map((p) => p.name),
        activeActive ? ["role-probe", "iguana-health"] : ["role-probe"],
    );
    for (const probe of probes) {
        assert.strictEqual(probe.intervalInSeconds, cfg.failover.healthCheckIntervalSeconds, `${probe.name} interval`);
        assert.ok(probe.intervalInSeconds >= 5, `${probe.name} interval is at least 5 s`);
        assert.strictEqual(probe.probeThreshold, cfg.failover.unhealthyThreshold, `${probe.name} threshold`);
        assert.strictEqual(probe.numberOfProbes, undefined, "probeThreshold, never numberOfProbes");
    }
    const roleProbe = probes.find((p) => p.name === "role-probe");
    assert.deepStrictEqual([roleProbe.protocol, roleProbe.port, roleProbe.requestPath], ["Http", ROLE_PROBE_PORT, ROLE_PROBE_PATH]);
    if (activeActive) {
        const health = probes.find((p) => p.name === "iguana-health");
        // From outside the worker the web port speaks TLS only (tls.enabled): the probe is HTTPS.
        const expected = cfg.iguana.edition === "iguanax" ? [cfg.tls.enabled ? "Https" : "Http", cfg.iguana.webPort, "/health"] : ["Tcp", cfg.iguana.webPort, undefined];
        assert.deepStrictEqual([health.protocol, health.port, health.requestPath], expected);
    }

    // Rules: one per channel plus the dashboard, ids exactly as Azure builds them.
    const rules: any[] = lb.state.loadBalancingRules;
    assert.deepStrictEqual(
        rules.map((r) => r.name),
        [...cfg.channels.map(azureRuleName), "dashboard"],
    );
    for (const r of rules) {
        assert.strictEqual(r.frontendIPConfiguration.id, `${base}/frontendIPConfigurations/vip`, `${r.name} frontend id`);
        assert.strictEqual(r.backendAddressPool.id, `${base}/backendAddressPools/workers`, `${r.name} pool id`);
        assert.strictEqual(r.backendAddressPools, undefined, `${r.name} sets backendAddressPool only`);
        assert.ok(
            probes.some((p) => r.probe.id === `${base}/probes/${p.name}`),
            `${r.name} probe id ${r.probe.id} names a declared probe`,
        );
        assert.strictEqual(r.protocol, "Tcp");
        assert.strictEqual(r.enableTcpReset, true, `${r.name} resets idle flows`);
        assert.strictEqual(r.disableOutboundSnat, true, `${r.name} has no outbound SNAT`);
        assert.strictEqual(r.frontendPort, r.backendPort);
    }
    cfg.channels.forEach((channel, i) => {
        const r = rules[i];
        const probe = healthCheckFor(channel, cfg).kind;
        assert.strictEqual(r.frontendPort, channel.port);
        assert.strictEqual(r.probe.id, `${base}/probes/${probe}`, `${channel.name} uses the ${probe} probe`);
        assert.strictEqual(r.idleTimeoutInMinutes, cfg.failover.idleTimeoutSeconds / 60, `${channel.name} idle timeout in minutes`);
        assert.ok(Number.isInteger(r.idleTimeoutInMinutes) && r.idleTimeoutInMinutes >= 4 && r.idleTimeoutInMinutes <= 100);
    });
    const dashboard = rules[rules.length - 1];
    assert.deepStrictEqual([dashboard.frontendPort, dashboard.probe.id], [cfg.iguana.webPort, `${base}/probes/role-probe`]);
    assert.deepStrictEqual(lb.state.backendAddressPools, [{ name: AZURE_LB_PARTS.pool }]);

    // Workers: NICs, VMs, disks.
    const subnets = [run.one(T.subnet, "iguana-workers-1"), run.one(T.subnet, "iguana-workers-2")];
    assert.deepStrictEqual(
        subnets.map((s) => s.state.addressPrefix),
        planNetwork(cfg.network.cidr, cfg.network.existing).privateSubnets,
    );
    assert.strictEqual(run.ofType(T.vm).length, 2);
    const hosts = run.ofType(T.host);
    plans.forEach((plan, i) => {
        const zone = String(i + 1);
        const nic = run.one(T.nic, `iguana-${plan.name}-nic`);
        const vm = run.one(T.vm, `iguana-${plan.name}`);
        const disk = run.one(T.disk, `iguana-${plan.name}-data`);
        const [ip] = nic.state.ipConfigurations;
        assert.strictEqual(nic.state.ipConfigurations.length, 1);
        assert.strictEqual(ip.publicIPAddress, undefined, `${plan.name} NIC has no public IP`);
        assert.deepStrictEqual(ip.loadBalancerBackendAddressPools, [{ id: `${base}/backendAddressPools/workers` }], `${plan.name} NIC is in the pool`);
        assert.deepStrictEqual([ip.privateIPAllocationMethod, ip.privateIPAddress], ["Static", plan.privateIp]);
        assert.strictEqual(ip.subnet.id, subnets[i].id);

        assert.deepStrictEqual(vm.state.zones, [zone], `${plan.name} in zone ${zone}`);
        assert.deepStrictEqual(disk.state.zones, vm.state.zones, `${plan.name} data disk in its VM's zone`);
        assert.strictEqual(vm.state.hardwareProfile.vmSize, cfg.workers.size);
        assert.deepStrictEqual(
            vm.state.networkProfile.networkInterfaces.map((n: any) => n.id),
            [nic.id],
        );
        assert.deepStrictEqual(vm.state.storageProfile.dataDisks, [{ lun: 0, createOption: "Attach", managedDisk: { id: disk.id }, caching: "None", deleteOption: "Detach" }]);
        assert.strictEqual(disk.state.diskSizeGB, cfg.workers.dataDiskGb);
        if (cfg.storage.customerManagedKey) {
            // storage.customerManagedKey: both disks through the cluster's Disk Encryption Set.
            const des = run.one("azure-native:compute:DiskEncryptionSet", "iguana-disks");
            assert.deepStrictEqual(disk.state.encryption, { type: "EncryptionAtRestWithCustomerKey", diskEncryptionSetId: des.id });
            assert.strictEqual(vm.state.storageProfile.osDisk.managedDisk.diskEncryptionSet.id, des.id, `${plan.name} OS disk`);
        } else {
            assert.strictEqual(disk.state.encryption.type, "EncryptionAtRestWithPlatformKey");
            assert.strictEqual(vm.state.storageProfile.osDisk.managedDisk.diskEncryptionSet, undefined);
        }
        assert.strictEqual(disk.state.creationData.createOption, "Empty");
        assert.strictEqual(vm.inputs.identity.type, "SystemAssigned");
        const image = vm.state.storageProfile.imageReference;
        assert.deepStrictEqual([image.publisher, image.offer, image.version], ["Canonical", "ubuntu-24_04-lts", "latest"]);
        const linux = vm.state.osProfile.linuxConfiguration;
        assert.strictEqual(linux.disablePasswordAuthentication, true, "password login disabled");
        assert.strictEqual(vm.state.osProfile.adminPassword, undefined);
        assert.match(linux.ssh.publicKeys[0].keyData, /^ssh-rsa AAAA[A-Za-z0-9+/=]+ /);
        // The bootstrap: the lease in this cluster's account, the password read from this cluster's vault.
        const cloudInit = Buffer.from(vm.inputs.osProfile.customData, "base64").toString("utf8");
        assert.ok(cloudInit.startsWith("#cloud-config\n"), `${vm.name} custom data is cloud-init`);
        assert.ok(!cloudInit.includes("vxlan") && !cloudInit.includes("keepalived"), `${vm.name} runs no VRRP`);
        const leaseAccount = run.ofType("azure-native:storage:StorageAccount").find((a) => a.state.tags?.holds === "iguana-lease");
        assert.ok(leaseAccount, "a lease storage account");
        assert.ok(cloudInit.includes(`https://${leaseAccount!.state.name}.blob.core.windows.net/lease/`), `${vm.name}'s guard writes the blob in the cluster's lease account`);
        const vault = run.ofType("azure-native:keyvault:Vault")[0];
        assert.ok(cloudInit.includes(`vault='${vault.state.name}'`) && cloudInit.includes("secret_name='iguana-admin-password'"));
        assert.ok(cloudInit.includes("candidates=('/dev/disk/azure/scsi1/lun0')"), "the data disk is found at LUN 0");
        assert.ok(!cloudInit.includes(MOCK_ADMIN_PASSWORD), "no password in custom data");
        for (const r of [vm, nic, disk]) {
            assert.deepStrictEqual([r.state.tags.environment, r.state.tags.role], [cfg.environment, plan.role], `${r.name} tags`);
        }
        if (cfg.workers.dedicated) {
            assert.strictEqual(vm.state.host.id, run.one(T.host, `iguana-host-${zone}`).id, `${plan.name} on the zone ${zone} host`);
        } else {
            assert.strictEqual(vm.state.host, undefined);
        }
        assert.strictEqual(vm.state.securityProfile?.encryptionAtHost === true, cfg.workers.encryptionAtHost, `${plan.name} encryption at host`);
    });
    if (cfg.workers.dedicated) {
        assert.deepStrictEqual(
            run.ofType(T.hostGroup).map((g) => [g.state.zones, g.state.platformFaultDomainCount]),
            [
                [["1"], 1],
                [["2"], 1],
            ],
        );
        const sku = dedicatedHostSku(parseAzureVmSize(cfg.workers.size)!);
        assert.deepStrictEqual(
            hosts.map((h) => [h.state.sku.name, h.state.hostGroupName]),
            [
                [sku, "iguana-hosts-1"],
                [sku, "iguana-hosts-2"],
            ],
        );
    } else {
        assert.deepStrictEqual([run.ofType(T.hostGroup), hosts], [[], []]);
    }

    // Egress: NAT gateways per config, each with its own zonal public IP; private subnets.
    const nats = run.ofType(T.nat);
    assert.strictEqual(nats.length, cfg.network.natGateways === "one-per-zone" ? 2 : 1);
    nats.forEach((nat, i) => {
        const ip = run.one(T.pip, nat.name);
        assert.deepStrictEqual([nat.state.zones, ip.state.zones], [[String(i + 1)], [String(i + 1)]]);
        assert.deepStrictEqual(nat.state.publicIpAddresses, [{ id: ip.id }]);
    });
    subnets.forEach((subnet, i) => {
        assert.strictEqual(subnet.state.natGateway.id, nats[Math.min(i, nats.length - 1)].id);
        assert.strictEqual(subnet.state.networkSecurityGroup.id, run.one(T.nsg, "iguana-workers-nsg").id);
        assert.strictEqual(subnet.state.defaultOutboundAccess, false);
    });

    // NSG: nothing from the Internet on 22/3389, probes from the load balancer only, nothing from worker to worker.
    for (const port of [SSH_PORT, RDP_PORT]) {
        assert.deepStrictEqual(internetAllowsTo(run, port), [], `no rule lets the Internet reach ${port}`);
    }
    const rulesByName = new Map(inboundRules(run).map((r) => [r.name, r]));
    const deny = rulesByName.get("deny-ssh-rdp-from-internet");
    assert.deepStrictEqual([deny.access, deny.sourceAddressPrefix, deny.destinationPortRanges], ["Deny", "Internet", ["22", "3389"]]);
    assert.ok(
        inboundRules(run).every((r) => r === deny || r.priority > deny.priority),
        "the SSH/RDP deny is evaluated first",
    );
    const workerHosts = plans.map((p) => `${p.privateIp}/32`);
    // keepalived is gone: no VRRP-in-VXLAN (UDP 4789) rule, no allow from the workers' own addresses, no UDP at all.
    const workerToWorker = inboundRules(run).filter(
        (r) => r.access === "Allow" && (r.protocol === "Udp" || [r.sourceAddressPrefix, ...(r.sourceAddressPrefixes ?? [])].some((src: string) => workerHosts.includes(src))),
    );
    assert.deepStrictEqual(
        workerToWorker.map((r) => r.name),
        [],
    );
    const probeRule = rulesByName.get("allow-role-probe");
    assert.deepStrictEqual(
        [probeRule.sourceAddressPrefix, probeRule.sourceAddressPrefixes, probeRule.destinationPortRange],
        ["AzureLoadBalancer", undefined, String(ROLE_PROBE_PORT)],
    );
    const healthRule = rulesByName.get("allow-iguana-health");
    assert.strictEqual(healthRule !== undefined, activeActive, "the Iguana health port is open to the probes only when an active-active channel exists");
    if (healthRule) assert.deepStrictEqual([healthRule.sourceAddressPrefix, healthRule.destinationPortRange], ["AzureLoadBalancer", String(cfg.iguana.webPort)]);
    // No rule other than the probe rules opens the role-probe port.
    for (const r of inboundRules(run).filter((r) => r.access === "Allow" && r.protocol !== "*")) {
        const ports = [r.destinationPortRange, ...(r.destinationPortRanges ?? [])].filter(Boolean);
        if (ports.some((spec: string) => portSpecCovers(spec, ROLE_PROBE_PORT))) assert.strictEqual(r.sourceAddressPrefix, "AzureLoadBalancer", r.name);
    }
    cfg.channels.forEach((channel) => {
        const r = rulesByName.get(`allow-${azureRuleName(channel)}`);
        assert.deepStrictEqual([r.access, r.protocol, r.destinationPortRange, r.sourceAddressPrefixes], ["Allow", "Tcp", String(channel.port), cfg.network.allowedCidrs]);
    });
    const dashboardRule = rulesByName.get("allow-dashboard");
    assert.strictEqual(dashboardRule !== undefined, cfg.network.adminCidrs.length > 0);
    if (dashboardRule) assert.deepStrictEqual([dashboardRule.destinationPortRange, dashboardRule.sourceAddressPrefixes], [String(cfg.iguana.webPort), cfg.network.adminCidrs]);
    const vnetDeny = rulesByName.get("deny-other-vnet-inbound");
    assert.deepStrictEqual([vnetDeny.access, vnetDeny.sourceAddressPrefix], ["Deny", "VirtualNetwork"]);
    const priorities = inboundRules(run).map((r) => r.priority);
    assert.strictEqual(new Set(priorities).size, priorities.length, "NSG priorities are unique");
    assert.ok(
        priorities.every((p) => p >= 100 && p <= vnetDeny.priority),
        "every allow comes before the VNet deny",
    );

    // Every tracked resource is tagged with its environment; no secret anywhere.
    for (const r of run.mocks.resources.filter((r) => r.type.startsWith("azure-native:") && r.state.location !== undefined)) {
        // Private DNS zones, action groups, metric alerts and alert processing rules are global
        // resources; everything else (a data collection rule and a log alert too) is in the region.
        const global =
            r.type.startsWith("azure-native:privatedns:") ||
            ["azure-native:monitor:ActionGroup", "azure-native:monitor:MetricAlert", "azure-native:alertsmanagement:AlertProcessingRuleByName"].includes(r.type);
        // The copies of the backups (backup.copyToRegion) are kept in another region on purpose.
        const region = r.name === "iguana-backup-copy-rg" ? cfg.backup.copyToRegion : cfg.region;
        assert.strictEqual(String(r.state.location).toLowerCase(), global ? "global" : region, `${r.name} location`);
        assert.strictEqual(r.state.tags?.environment, cfg.environment, `${r.name} environment tag`);
    }
    assert.doesNotMatch(clearState(run.mocks.resources), /PRIVATE KEY|adminPassword/);

    // Outputs: the contract.
    assert.deepStrictEqual(Object.keys(run.outputs).sort(), ["channelEndpoints", "cloud", "dashboardUrl", "vip", "vipAddresses", "workers"]);
    assert.strictEqual(run.outputs.cloud, "azure");
    assert.strictEqual(run.outputs.dashboardUrl, `http://${run.outputs.vip}:${cfg.iguana.webPort}/`);
    assert.deepStrictEqual(
        run.outputs.channelEndpoints,
        cfg.channels.map((c) => ({
            name: c.name,
            protocol: c.protocol,
            port: c.port,
            mode: c.mode,
            endpoint: c.protocol === "llp" ? `${run.outputs.vip}:${c.port}` : `http://${run.outputs.vip}:${c.port}/`,
        })),
    );
    assert.deepStrictEqual(
        run.outputs.workers,
        plans.map((p, i) => ({ name: p.name, role: p.role, zone: String(i + 1), privateIp: p.privateIp, id: run.one(T.vm, `iguana-${p.name}`).id })),
    );
}

/** Runs a config and checks it against what the program itself validated. */
async function runAzure(overrides: Record<string, unknown> = {}): Promise<{ run: StackRun; cfg: ClusterConfig }> {
    const run = await runConfig(azureConfig(overrides));
    return { run, cfg: loadClusterConfig() };
}

describe("Azure implementation", function () {
    this.timeout(30000);

    for (const stack of ["azure-dev", "azure-prod"]) {
        it(`stack ${stack}: meets every Azure requirement`, async () => {
            const run = await runStack(stack);
            const cfg = loadClusterConfig();
            assert.strictEqual(cfg.cloud, "azure");
            assertAzureCluster(run, cfg);
        });
    }

    it("azure-dev decides the active worker with a lease blob reached only through its private endpoint; no worker may stop the other", async () => {
        const run = await runStack("azure-dev");
        const guards = workerGuardFiles(run);
        const cfg = loadClusterConfig();
        assertAzureLease(
            run,
            guards,
            planWorkers(planNetwork(cfg.network.cidr, cfg.network.existing)).map((p) => `${p.privateIp}/32`),
        );
        assertNoPeerFence(guards);
        for (const worker of ["wk1", "wk2"]) assert.strictEqual(guards[worker].lease.leaseSeconds, 3);
        assert.deepStrictEqual(run.ofType("azure-native:authorization:RoleDefinition"), [], "no custom role (no VIP to move, no peer to stop)");
        const storageRules = run.one(T.nsg, "iguana-storage-nsg").inputs.securityRules.map((r: any) => r.name);
        assert.deepStrictEqual(storageRules, ["allow-https-from-workers", "deny-other-vnet-inbound"], "no NFS without shared storage");
        // Without shared storage the VMs keep their generated names (a fixed one would replace existing workers).
        assert.ok(run.ofType(T.vm).every((vm) => vm.inputs.vmName === undefined));
    });

    for (const stack of ["azure-dev", "azure-prod"]) {
        it(`${stack}: the Key Vault has no public endpoint, purge protection and RBAC; the workers reach it through a private endpoint`, async () => {
            const run = await runStack(stack);
            // The secrets' vault (the disks' key has its own: storage.customerManagedKey).
            const vault = run.ofType("azure-native:keyvault:Vault").filter((v) => v.name === "iguana-kv");
            assert.strictEqual(vault.length, 1);
            const p = vault[0].inputs.properties;
            assert.deepStrictEqual(
                [p.publicNetworkAccess, p.networkAcls, p.enablePurgeProtection, p.enableSoftDelete, p.softDeleteRetentionInDays, p.enableRbacAuthorization],
                ["Disabled", { defaultAction: "Deny", bypass: "None" }, true, true, 90, true],
            );
            const endpoint = run.one("azure-native:network:PrivateEndpoint", "iguana-vault-pe");
            assert.deepStrictEqual(endpoint.inputs.privateLinkServiceConnections, [{ name: "vault", privateLinkServiceId: vault[0].id, groupIds: ["vault"] }]);
            // The same endpoint subnet as the lease's: its NSG admits HTTPS from the two workers only.
            assert.strictEqual(endpoint.inputs.subnet.id, run.one("azure-native:network:PrivateEndpoint", "iguana-lease-pe").inputs.subnet.id);
            const zone = run.one("azure-native:privatedns:PrivateZone", "iguana-vault-dns");
            assert.strictEqual(zone.inputs.privateZoneName, "privatelink.vaultcore.azure.net");
            const link = run.one("azure-native:privatedns:VirtualNetworkLink", "iguana-vault-dns");
            assert.deepStrictEqual([link.inputs.privateZoneName, link.inputs.virtualNetwork.id], [zone.state.name ?? zone.inputs.privateZoneName, run.ofType(T.vnet)[0].id]);
            const group = run.one("azure-native:network:PrivateDnsZoneGroup", "iguana-vault-pe");
            assert.deepStrictEqual(group.inputs.privateDnsZoneConfigs, [{ name: "vault", privateDnsZoneId: zone.id }]);
        });
    }

    it("the lease locator names the cluster's blob in the lease container", () => {
        assert.deepStrictEqual(azureLeaseLocator("iguanal0123456789abcdef", "east"), {
            kind: "azure-blob",
            accountName: "iguanal0123456789abcdef",
            container: "lease",
            blobName: "east",
        });
    });

    it("azure-prod asks for dedicated hosts and encryption at host and gets them", async () => {
        const run = await runStack("azure-prod");
        const cfg = loadClusterConfig();
        assert.deepStrictEqual([cfg.workers.dedicated, cfg.workers.encryptionAtHost, cfg.network.natGateways], [true, true, "one-per-zone"]);
        assert.strictEqual(run.ofType(T.host).length, 2);
        assert.ok(run.ofType(T.vm).every((vm) => vm.state.securityProfile.encryptionAtHost === true));
    });

    it("azure-dev runs on shared hardware with a single NAT gateway, encrypted at the host by default", async () => {
        const run = await runStack("azure-dev");
        const cfg = loadClusterConfig();
        assert.deepStrictEqual([cfg.workers.dedicated, cfg.workers.encryptionAtHost, cfg.network.natGateways], [false, true, "single"]);
        assert.deepStrictEqual(
            run.ofType(T.nat).map((n) => n.name),
            ["iguana-nat-1"],
        );
    });

    describe("edge configs", () => {
        it("the smallest config: defaults everywhere", async () => {
            const { run, cfg } = await runAzure();
            assert.strictEqual(cfg.workers.size, "Standard_D2s_v5");
            assertAzureCluster(run, cfg);
        });

        it("an internal load balancer: a static private frontend and no public VIP", async () => {
            const { run, cfg } = await runAzure({ network: { allowedCidrs: ["10.0.0.0/8"], public: false, cidr: "10.50.0.0/20" } });
            assertAzureCluster(run, cfg);
            assert.strictEqual(run.outputs.vip, "10.50.8.5");
            assert.strictEqual(run.ofType(T.pip).filter((p) => p.name.includes("vip")).length, 0);
        });

        it("active-active HTTP on Iguana 6: a TCP health probe on its web port, open to the probes only", async () => {
            const { run, cfg } = await runAzure({
                iguana: { edition: "iguana6" },
                channels: [
                    { name: "adt-in", protocol: "llp", port: 2575 },
                    { name: "api", protocol: "http", port: 8080, mode: "active-active" },
                ],
                network: { allowedCidrs: ["198.51.100.0/24"], adminCidrs: ["192.0.2.0/28"] },
            });
            assertAzureCluster(run, cfg);
            const health = run.one(T.lb, "iguana-lb").state.probes[1];
            assert.deepStrictEqual([health.name, health.protocol, health.port, health.requestPath], ["iguana-health", "Tcp", 6543, undefined]);
        });

        it("senders from the whole Internet still never reach 22 or 3389", async () => {
            const { run, cfg } = await runAzure({ network: { allowedCidrs: ["0.0.0.0/0"], adminCidrs: ["192.0.2.0/28"] } });
            assertAzureCluster(run, cfg);
            assert.strictEqual(internetAllowsTo(run, 2575).length, 1, "the channel itself is open, as configured");
        });

        it("the check on 22/3389 would catch an opening rule", async () => {
            const { run } = await runAzure();
            const nsg = run.one(T.nsg, "iguana-workers-nsg");
            nsg.state.securityRules.push({ name: "oops", direction: "Inbound", access: "Allow", protocol: "Tcp", sourceAddressPrefix: "*", destinationPortRange: "20-23" });
            assert.strictEqual(internetAllowsTo(run, SSH_PORT).length, 1);
            assert.strictEqual(internetAllowsTo(run, RDP_PORT).length, 0);
        });

        it("failover settings at Azure's edges: 5 s probes, threshold 1, idle 4 and 100 minutes", async () => {
            for (const idleTimeoutSeconds of [240, 6000]) {
                const { run, cfg } = await runAzure({ failover: { healthCheckIntervalSeconds: 5, unhealthyThreshold: 1, idleTimeoutSeconds } });
                assertAzureCluster(run, cfg);
                assert.strictEqual(run.one(T.lb, "iguana-lb").state.loadBalancingRules[0].idleTimeoutInMinutes, idleTimeoutSeconds / 60);
                assert.strictEqual(run.one(T.lb, "iguana-lb").state.probes[0].probeThreshold, 1);
            }
        });

        it("a NAT gateway per zone, each on its own zone's subnet", async () => {
            const { run, cfg } = await runAzure({ network: { allowedCidrs: ["198.51.100.0/24"], natGateways: "one-per-zone" } });
            assertAzureCluster(run, cfg);
            const [a, b] = [run.one(T.subnet, "iguana-workers-1"), run.one(T.subnet, "iguana-workers-2")];
            assert.notStrictEqual(a.state.natGateway.id, b.state.natGateway.id);
        });

        it("dedicated hosts for a memory-optimized size use that series' host SKU", async () => {
            const { run, cfg } = await runAzure({ workers: { size: "Standard_E4s_v5", dedicated: true } });
            assertAzureCluster(run, cfg);
            assert.deepStrictEqual(
                run.ofType(T.host).map((h) => h.state.sku.name),
                ["ESv5-Type1", "ESv5-Type1"],
            );
        });

        it("encryption at host alone, without dedicated hosts", async () => {
            const { run, cfg } = await runAzure({ workers: { encryptionAtHost: true } });
            assertAzureCluster(run, cfg);
            assert.ok(run.ofType(T.vm).every((vm) => vm.state.securityProfile.encryptionAtHost === true && vm.state.host === undefined));
        });

        it("an Arm size boots the Arm64 Ubuntu image", async () => {
            const { run, cfg } = await runAzure({ workers: { size: "Standard_D4ps_v5" } });
            assertAzureCluster(run, cfg);
            assert.deepStrictEqual(
                run.ofType(T.vm).map((vm) => vm.state.storageProfile.imageReference.sku),
                ["server-arm64", "server-arm64"],
            );
        });

        it("no admin networks: no dashboard rule in the NSG, the LB rule still follows the role probe", async () => {
            const { run, cfg } = await runAzure();
            assertAzureCluster(run, cfg);
            assert.ok(!inboundRules(run).some((r) => r.name === "allow-dashboard"));
        });

        it("the most channels one load balancer carries: unique NSG priorities below the VNet deny", async () => {
            const max = CLOUD_LIMITS.azure.maxChannels;
            const channels = Array.from({ length: max }, (_, i) => ({ name: `c${i}`, protocol: "llp", port: 10000 + i }));
            const { run, cfg } = await runAzure({ channels });
            assertAzureCluster(run, cfg);
            assert.strictEqual(run.one(T.lb, "iguana-lb").state.loadBalancingRules.length, max + 1, "channels plus the dashboard: 300 rules per NIC");
            assert.ok(AZURE_NSG_PRIORITY.channelsFrom + max - 1 < AZURE_NSG_PRIORITY.denyOtherVnetInbound);
        });

        it("the most sender networks that many channels allow: the NSG names exactly the sources validation counts, within Azure's 4,000", async () => {
            const max = CLOUD_LIMITS.azure.maxChannels;
            // Every kind of inbound rule: both probe rules (an active-active channel), the dashboard, the channels.
            const channels = [
                { name: "api", protocol: "http", port: 8080, mode: "active-active" },
                ...Array.from({ length: max - 1 }, (_, i) => ({ name: `c${i}`, protocol: "llp", port: 10000 + i })),
            ];
            const network = { allowedCidrs: Array.from({ length: 13 }, (_, i) => `10.${i}.0.0/16`), adminCidrs: ["192.0.2.0/28", "192.0.2.32/28"] };
            const { run, cfg } = await runAzure({ channels, network });
            assertAzureCluster(run, cfg);
            const [nsg] = run.ofType(T.nsg).filter((n) => n.name === "iguana-workers-nsg");
            const sources = (nsg.state.securityRules as any[])
                .filter((r) => r.direction === "Inbound")
                .reduce((n, r) => n + (r.sourceAddressPrefixes?.length ?? (r.sourceAddressPrefix ? 1 : 0)), 0);
            assert.strictEqual(sources, azureNsgSourceCount(channels.length, network));
            assert.ok(sources <= AZURE_NSG_ADDRESSES_PER_DIRECTION, `${sources} sources`);
            // One more CIDR is one too many for this many channels.
            const tooMany = { ...network, allowedCidrs: [...network.allowedCidrs, "10.99.0.0/16"] };
            assert.ok(azureNsgSourceCount(channels.length, tooMany) > AZURE_NSG_ADDRESSES_PER_DIRECTION);
            assert.throws(() => validateClusterConfig({ cloud: "azure", region: "eastus2", channels, network: tooMany }, "t"), /network\.allowedCidrs: 14 CIDRs x 299 channels/);
        });
    });
});

describe("Azure validation (rules that differ by cloud)", () => {
    const base = (overrides: Partial<RawClusterConfig> = {}): RawClusterConfig => ({
        cloud: "azure",
        region: "eastus2",
        channels: [{ name: "adt-in", protocol: "llp", port: 2575 }],
        network: { allowedCidrs: ["198.51.100.0/24"] },
        ...overrides,
    });
    const problem = (raw: RawClusterConfig, key: string, ...fragments: string[]) => {
        let error: unknown;
        try {
            validateClusterConfig(raw, "test");
        } catch (e) {
            error = e;
        }
        assert.ok(error instanceof ConfigValidationError, `expected a validation error for ${key}`);
        const found = error.problems.find((p) => p.key === `iguana-ha:${key}` || p.key === key);
        assert.ok(found, `no problem names ${key}: ${error.message}`);
        for (const fragment of fragments) assert.ok(found.message.includes(fragment), `"${fragment}" missing from: ${found.message}`);
    };

    it("accepts what only Azure allows: threshold 1, a 100-minute idle timeout, a 32767 GiB disk, 299 channels", () => {
        const cfg = validateClusterConfig(
            base({
                failover: { unhealthyThreshold: 1, idleTimeoutSeconds: 6000 },
                workers: { dataDiskGb: 32767 },
                channels: Array.from({ length: 299 }, (_, i) => ({ name: `c${i}`, protocol: "llp", port: 10000 + i })),
            }),
            "t",
        );
        assert.deepStrictEqual([cfg.failover.unhealthyThreshold, cfg.workers.dataDiskGb, cfg.channels.length], [1, 32767, 299]);
    });
    // Every other bad Azure value is in the one table of bad input (bad-input.test.ts); this one
    // is the library's own: in code the key is `region`, not the stack file's azure-native:location.
    it("a missing region in code", () => problem(base({ region: undefined }), "region", "required", "eastus2"));
    it("the same Azure size checks apply to the default when dedicated is asked", () => {
        const cfg = validateClusterConfig(base({ workers: { dedicated: true } }), "t");
        assert.strictEqual(dedicatedHostSku(parseAzureVmSize(cfg.workers.size)!), "DSv5-Type1");
    });
});

describe("Azure VM size names", () => {
    it("parses family, vCPUs, features and version", () => {
        assert.deepStrictEqual(parseAzureVmSize("Standard_D2s_v5"), { name: "Standard_D2s_v5", family: "D", vcpus: 2, features: "s", version: 5 });
        assert.deepStrictEqual(parseAzureVmSize("Standard_E4-2ads_v5"), { name: "Standard_E4-2ads_v5", family: "E", vcpus: 4, features: "ads", version: 5 });
        assert.deepStrictEqual(parseAzureVmSize("Standard_NC24ads_A100_v4")?.version, 4);
        assert.deepStrictEqual(parseAzureVmSize("Standard_B2ms"), { name: "Standard_B2ms", family: "B", vcpus: 2, features: "ms", version: undefined });
        assert.strictEqual(parseAzureVmSize("Standard_"), undefined);
        assert.strictEqual(parseAzureVmSize("Basic_A1"), undefined);
    });
    it("knows premium storage, Arm and the host SKU from the name", () => {
        const sizes = ["Standard_D2s_v5", "Standard_DS2_v2", "Standard_D2_v5", "Standard_A2_v2", "Standard_D4ps_v5"].map((s) => parseAzureVmSize(s)!);
        assert.deepStrictEqual(sizes.map(supportsPremiumStorage), [true, true, false, false, true]);
        assert.deepStrictEqual(sizes.map(azureArchitecture), ["x86_64", "x86_64", "x86_64", "x86_64", "arm64"]);
        assert.deepStrictEqual(
            ["Standard_D8ds_v5", "Standard_E16-4as_v4", "Standard_F8s_v2", "Standard_D4ps_v5"].map((s) => dedicatedHostSku(parseAzureVmSize(s)!)),
            ["DDSv5-Type1", "EASv4-Type2", "FSv2-Type4", undefined],
        );
    });
});

describe("the workers' SSH key", () => {
    it("is a well-formed ssh-rsa key Azure accepts (at least 2048 bits), the same public key OpenSSH derives", function () {
        const key = placeholderSshPublicKey();
        assert.strictEqual(placeholderSshPublicKey(), key, "one key per program run");
        const [type, blob, comment] = key.split(" ");
        assert.deepStrictEqual([type, comment], ["ssh-rsa", "iguana-ha-no-private-key-exists"]);
        // RFC 4253: string "ssh-rsa", mpint e, mpint n.
        const buf = Buffer.from(blob, "base64");
        const read = (at: number) => [buf.subarray(at + 4, at + 4 + buf.readUInt32BE(at)), at + 4 + buf.readUInt32BE(at)] as const;
        const [name, afterName] = read(0);
        const [, afterE] = read(afterName);
        const [n] = read(afterE);
        assert.strictEqual(name.toString(), "ssh-rsa");
        assert.ok((n[0] === 0 ? n.length - 1 : n.length) * 8 >= 2048, "modulus of at least 2048 bits");
    });

    it("encodes exactly the RSA public key it was given (checked with ssh-keygen)", function () {
        requireTools(this, "ssh-keygen");
        const { publicKey } = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "iguana-ssh-"));
        try {
            const file = path.join(dir, "key.pub");
            fs.writeFileSync(file, sshRsaPublicKey(publicKey.export({ format: "jwk" }), "test") + "\n");
            const pem = spawnSync("ssh-keygen", ["-e", "-m", "PKCS8", "-f", file], { encoding: "utf8" });
            assert.strictEqual(pem.status, 0, pem.stderr);
            assert.deepStrictEqual(crypto.createPublicKey(pem.stdout).export({ format: "jwk" }), publicKey.export({ format: "jwk" }));
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});
