/** Reads the rendered bootstrap back out of the registered worker resources. */
import * as yaml from "js-yaml";
import { RecordedResource } from "./mocks";

export interface RenderedBootstrap {
    /** The worker resource's name, e.g. `iguana-wk1`. */
    resource: string;
    cloudInit: string;
}

const decode = (b64: string) => Buffer.from(b64, "base64").toString("utf8");

/** The decoded cloud-init of every worker: AWS `userDataBase64`, Azure `osProfile.customData`. */
export function workerBootstraps(resources: RecordedResource[]): RenderedBootstrap[] {
    const found: RenderedBootstrap[] = [];
    for (const r of resources) {
        if (r.type === "aws:ec2/instance:Instance" && r.inputs.userDataBase64) {
            found.push({ resource: r.name, cloudInit: decode(r.inputs.userDataBase64) });
        }
        if (r.type === "azure-native:compute:VirtualMachine" && r.inputs.osProfile?.customData) {
            found.push({ resource: r.name, cloudInit: decode(r.inputs.osProfile.customData) });
        }
    }
    return found;
}

export interface CloudInitFile {
    path: string;
    permissions: string;
    owner: string;
    content: string;
    defer?: boolean;
}

export function cloudInitFiles(cloudInit: string): CloudInitFile[] {
    const doc = yaml.load(cloudInit) as { write_files?: CloudInitFile[] };
    return doc.write_files ?? [];
}
