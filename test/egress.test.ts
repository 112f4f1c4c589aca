/**
 * `network.egress`: open by default (an existing cluster's outbound feeds keep working, with a
 * preview warning); restricted, the workers reach only the web, time, NFS to their shared file
 * system and the listed destinations, and the rest is denied. The policy pack holds a stack that
 * asked for it to that.
 */
import * as assert from "assert";
import { EGRESS_ALWAYS } from "../components/constants";
import { GuardrailConfig, egressRestrictedWhenAsked } from "../policy/policies";
import { StackRun, awsConfig, azureConfig, runConfig, runStack } from "./helpers";
import { packViolations, stackViolations } from "./policy-harness";

const AWS_EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule";
const NSG = "azure-native:network:NetworkSecurityGroup";
const DESTINATION = { cidr: "10.50.1.17/32", port: 6661 };
const RESTRICTED = { allowedCidrs: ["198.51.100.0/24"], egress: { restricted: true, destinations: [DESTINATION] } };

/** WK1's and WK2's user data (AWS) or custom data (Azure), decoded. */
const workerUserData = (run: StackRun) =>
    [
        ...run.ofType("aws:ec2/instance:Instance").map((i) => i.state.userDataBase64),
        ...run.ofType("azure-native:compute:VirtualMachine").map((vm) => vm.state.osProfile.customData),
    ].map((data: string) => Buffer.from(data, "base64").toString("utf8"));
const awsRules = (run: StackRun) => run.ofType(AWS_EGRESS).map((r) => [r.name, r.inputs.ipProtocol, r.inputs.fromPort, r.inputs.toPort, r.inputs.cidrIpv4]);
const outbound = (run: StackRun) =>
    run
        .one(NSG, "iguana-workers-nsg")
        .inputs.securityRules.filter((r: any) => r.direction === "Outbound")
        .map((r: any) => [r.name, r.priority, r.access, r.protocol, r.destinationAddressPrefix, r.destinationPortRange ?? r.destinationPortRanges]);

describe("network.egress: what the workers may connect to", function () {
    this.timeout(60000);

    it("open by default: AWS one all-traffic rule, Azure no outbound rule; the preview warns", async () => {
        for (const stack of ["aws-dev", "azure-dev"]) {
            const run = await runStack(stack);
            if (stack === "aws-dev") assert.deepStrictEqual(awsRules(run), [["iguana-out-all", "-1", undefined, undefined, "0.0.0.0/0"]]);
            else assert.deepStrictEqual(outbound(run), []);
            assert.ok(
                run.mocks.warnings.some((w) => w.startsWith("iguana-ha:network.egress.restricted: is false")),
                `${stack}: ${run.mocks.warnings.join("\n")}`,
            );
        }
    });

    it("AWS restricted: 443, 80 and NTP anywhere, each destination on its port, nothing else", async () => {
        const run = await runConfig(awsConfig({ network: RESTRICTED }));
        assert.deepStrictEqual(awsRules(run), [
            ["iguana-out-https", "tcp", 443, 443, "0.0.0.0/0"],
            ["iguana-out-http", "tcp", 80, 80, "0.0.0.0/0"],
            ["iguana-out-ntp", "udp", 123, 123, "0.0.0.0/0"],
            ["iguana-out-6661-10-50-1-17-32", "tcp", 6661, 6661, "10.50.1.17/32"],
        ]);
        const sg = run.one("aws:ec2/securityGroup:SecurityGroup", "iguana-workers-sg");
        assert.ok(
            run.ofType(AWS_EGRESS).every((r) => r.inputs.securityGroupId === sg.id && r.inputs.description),
            "on the workers' group, each rule saying why",
        );
        assert.strictEqual(sg.inputs.egress, undefined, "no inline egress rule beside them");
    });

    it("AWS restricted with shared storage: NFS to the VPC for the EFS mount targets", async () => {
        const run = await runConfig(awsConfig({ network: RESTRICTED, storage: { queueRecovery: "shared" } }));
        assert.deepStrictEqual(
            awsRules(run).find((r) => r[0] === "iguana-out-nfs"),
            ["iguana-out-nfs", "tcp", 2049, 2049, "10.40.0.0/16"],
        );
    });

    it("Azure restricted: the same ports, the VM agent, each destination, then a deny of everything", async () => {
        const run = await runConfig(azureConfig({ network: RESTRICTED, storage: { queueRecovery: "shared" } }));
        assert.deepStrictEqual(outbound(run), [
            ["allow-https-out", 100, "Allow", "Tcp", "*", "443"],
            ["allow-http-out", 101, "Allow", "Tcp", "*", "80"],
            ["allow-ntp-out", 102, "Allow", "Udp", "*", "123"],
            ["allow-vm-agent-out", 103, "Allow", "Tcp", "168.63.129.16", ["80", "32526"]],
            ["allow-nfs-out", 104, "Allow", "Tcp", "VirtualNetwork", "2049"],
            ["allow-destination-1-out", 200, "Allow", "Tcp", "10.50.1.17/32", "6661"],
            ["deny-other-outbound", 4000, "Deny", "*", "*", "*"],
        ]);
        assert.strictEqual(EGRESS_ALWAYS.length, 3);
    });

    describe("network.egress.proxy: the web only through the hospital's proxy", () => {
        const PROXIED = { ...RESTRICTED, egress: { ...RESTRICTED.egress, proxy: "http://10.60.0.10:3128" } };
        const ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint";
        const awsEgress = (run: StackRun) =>
            run.ofType(AWS_EGRESS).map((r) => [r.name, r.inputs.ipProtocol, r.inputs.fromPort, r.inputs.toPort, r.inputs.cidrIpv4 ?? r.inputs.prefixListId]);

        it("AWS: no TCP to anywhere; the proxy on its port, HTTPS to the API endpoints in the VPC and to S3's and DynamoDB's prefix lists", async () => {
            const run = await runConfig(awsConfig({ network: PROXIED }));
            const endpoints = run.ofType(ENDPOINT);
            const prefixList = (endpointName: string) => run.one(ENDPOINT, endpointName).state.prefixListId;
            assert.deepStrictEqual(awsEgress(run), [
                ["iguana-out-ntp", "udp", 123, 123, "0.0.0.0/0"],
                ["iguana-out-proxy", "tcp", 3128, 3128, "10.60.0.10/32"],
                ["iguana-out-6661-10-50-1-17-32", "tcp", 6661, 6661, "10.50.1.17/32"],
                ["iguana-out-https-endpoints", "tcp", 443, 443, "10.40.0.0/16"],
                ["iguana-out-https-s3", "tcp", 443, 443, prefixList("iguana-s3")],
                ["iguana-out-https-lease", "tcp", 443, 443, prefixList("iguana-lease")],
            ]);
            assert.ok(prefixList("iguana-s3") && prefixList("iguana-lease") && prefixList("iguana-s3") !== prefixList("iguana-lease"));
            const interfaces = endpoints.filter((e) => e.inputs.vpcEndpointType === "Interface");
            assert.deepStrictEqual(
                interfaces.map((e) => e.inputs.serviceName).sort(),
                ["ec2messages", "logs", "monitoring", "secretsmanager", "ssm", "ssmmessages"].map((service) => `com.amazonaws.eu-west-1.${service}`),
            );
            const endpointSg = run.one("aws:ec2/securityGroup:SecurityGroup", "iguana-api-endpoints-sg");
            const workerSg = run.one("aws:ec2/securityGroup:SecurityGroup", "iguana-workers-sg");
            for (const e of interfaces) {
                assert.strictEqual(e.inputs.privateDnsEnabled, true, `${e.name}: the usual host names resolve to it`);
                assert.deepStrictEqual(e.inputs.securityGroupIds, [endpointSg.id], e.name);
            }
            const endpointIngress = run.ofType("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule").filter((r) => r.inputs.securityGroupId === endpointSg.id);
            assert.deepStrictEqual(
                endpointIngress.map((r) => [r.inputs.fromPort, r.inputs.toPort, r.inputs.referencedSecurityGroupId]),
                [[443, 443, workerSg.id]],
            );
            assert.strictEqual(run.one(ENDPOINT, "iguana-s3").inputs.vpcEndpointType, "Gateway");
            assert.deepStrictEqual(run.one(ENDPOINT, "iguana-s3").inputs.routeTableIds, run.one(ENDPOINT, "iguana-lease").inputs.routeTableIds);
        });

        it("AWS shared storage: the fence's EC2 API through an endpoint, even with a NAT gateway per zone", async () => {
            const run = await runConfig(awsConfig({ network: { ...PROXIED, natGateways: "one-per-zone" }, storage: { queueRecovery: "shared" } }));
            assert.strictEqual(run.one(ENDPOINT, "iguana-ec2-api").inputs.privateDnsEnabled, true);
            const withoutProxy = await runConfig(awsConfig({ network: { ...RESTRICTED, natGateways: "one-per-zone" }, storage: { queueRecovery: "shared" } }));
            assert.ok(!withoutProxy.ofType(ENDPOINT).some((e) => e.name === "iguana-ec2-api"), "without a proxy the NAT gateways carry it");
        });

        it("Azure: no TCP to anywhere; the proxy, the private endpoints and the Azure APIs by service tag, then the deny", async () => {
            const run = await runConfig(azureConfig({ network: PROXIED, storage: { queueRecovery: "shared" } }));
            assert.deepStrictEqual(outbound(run), [
                ["allow-ntp-out", 102, "Allow", "Udp", "*", "123"],
                ["allow-vm-agent-out", 103, "Allow", "Tcp", "168.63.129.16", ["80", "32526"]],
                ["allow-proxy-out", 110, "Allow", "Tcp", "10.60.0.10", "3128"],
                ["allow-private-endpoints-out", 111, "Allow", "Tcp", run.one("azure-native:network:Subnet", "iguana-storage").inputs.addressPrefix, "443"],
                ["allow-azure-resource-manager-out", 112, "Allow", "Tcp", "AzureResourceManager", "443"],
                ["allow-azure-monitor-out", 113, "Allow", "Tcp", "AzureMonitor", "443"],
                ["allow-nfs-out", 104, "Allow", "Tcp", "VirtualNetwork", "2049"],
                ["allow-destination-1-out", 200, "Allow", "Tcp", "10.50.1.17/32", "6661"],
                ["deny-other-outbound", 4000, "Deny", "*", "*", "*"],
            ]);
            assert.match(run.one("azure-native:network:Subnet", "iguana-storage").inputs.addressPrefix, /^10\.40\.\d+\.\d+\/27$/, "the endpoints' own subnet, not the VNet");
            assert.deepStrictEqual(
                (await packViolations(run.mocks.resources, { egressRestricted: true, egressProxy: true })).filter((v) => v.includes("egress")),
                [],
            );
        });

        it("policy: with egressProxy asked, a TCP rule to any address fails; the proxied stacks pass", async () => {
            const asked = { egressRestricted: true, egressProxy: true };
            const resources = (run: StackRun) => run.mocks.resources.filter((r) => r.custom).map((r) => ({ type: r.type, name: r.name, props: r.state }));
            const found = async (run: StackRun, config: GuardrailConfig) => (await stackViolations(egressRestrictedWhenAsked, resources(run), config)).map((v) => v.split(":")[0]);
            for (const [cloud, config] of [
                ["aws", awsConfig],
                ["azure", azureConfig],
            ] as const) {
                assert.deepStrictEqual(await found(await runConfig(config({ network: PROXIED })), asked), [], cloud);
                const webAnywhere = await runConfig(config({ network: RESTRICTED }));
                assert.deepStrictEqual(
                    await found(webAnywhere, asked),
                    cloud === "aws"
                        ? ["egress rule iguana-out-https allows TCP to any address", "egress rule iguana-out-http allows TCP to any address"]
                        : [
                              "NSG iguana-workers-nsg's outbound rule allow-https-out allows TCP to any address",
                              "NSG iguana-workers-nsg's outbound rule allow-http-out allows TCP to any address",
                          ],
                );
                assert.deepStrictEqual(await found(webAnywhere, { egressRestricted: true }), [], `${cloud}: not asked, the web may be open`);
            }
        });

        it("the workers download through it: apt (cloud-init), the installer, the EFS client's build; nothing else is told of it", async () => {
            for (const cfg of [awsConfig({ network: PROXIED, storage: { queueRecovery: "shared" } }), azureConfig({ network: PROXIED })]) {
                const run = await runConfig(cfg);
                for (const data of workerUserData(run)) {
                    assert.match(data, /^apt:\n {2}http_proxy: http:\/\/10\.60\.0\.10:3128\n {2}https_proxy: http:\/\/10\.60\.0\.10:3128$/m);
                    assert.match(data, /download_proxy='http:\/\/10\.60\.0\.10:3128'/);
                    assert.match(data, /curl -fsSL .*\$\{download_proxy:\+--proxy "\$download_proxy"\}/);
                    if (cfg.cloud === "aws") assert.match(data, /export http_proxy='http:\/\/10\.60\.0\.10:3128' https_proxy=.*\n\s*git clone/);
                    assert.strictEqual(data.match(/10\.60\.0\.10/g)?.length, cfg.cloud === "aws" ? 5 : 3, "apt twice, the installer, (AWS) git and the build");
                }
            }
        });
    });

    it("the prod stacks restrict it, and pass egress-restricted-when-asked", async () => {
        for (const stack of ["aws-prod", "azure-prod"]) {
            const run = await runStack(stack);
            assert.deepStrictEqual(await packViolations(run.mocks.resources, { egressRestricted: true, deletionProtection: true }), [], stack);
            assert.ok(!run.mocks.warnings.some((w) => w.includes("network.egress.restricted")), stack);
        }
    });

    it("policy: an all-traffic or every-port rule, or an NSG without a final outbound deny, fails a restricted stack", async () => {
        const rule = (props: Record<string, unknown>) => ({ type: AWS_EGRESS, name: "iguana-out", props });
        const asked = { egressRestricted: true };
        assert.deepStrictEqual(await stackViolations(egressRestrictedWhenAsked, [rule({ ipProtocol: "tcp", fromPort: 443, toPort: 443 })], asked), []);
        assert.match((await stackViolations(egressRestrictedWhenAsked, [rule({ ipProtocol: "-1" })], asked))[0], /opens every protocol or port/);
        assert.match((await stackViolations(egressRestrictedWhenAsked, [rule({ ipProtocol: "tcp", fromPort: 0, toPort: 65535 })], asked))[0], /every protocol or port/);
        assert.deepStrictEqual(await stackViolations(egressRestrictedWhenAsked, [rule({ ipProtocol: "-1" })], {}), [], "not asked: open is allowed");

        const open = await runConfig(azureConfig());
        const nsg = { type: NSG, name: "iguana-workers-nsg", props: open.one(NSG, "iguana-workers-nsg").inputs };
        assert.match((await stackViolations(egressRestrictedWhenAsked, [nsg], asked))[0], /does not deny outbound traffic/);
        const restricted = await runConfig(azureConfig({ network: RESTRICTED }));
        assert.deepStrictEqual(await stackViolations(egressRestrictedWhenAsked, [{ ...nsg, props: restricted.one(NSG, "iguana-workers-nsg").inputs }], asked), []);
    });
});
