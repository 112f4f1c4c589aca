/**
 * A test's own Signature Version 4 client for the stand-ins (separate from the stand-ins'
 * checker and from the workers' signers): signs a POST to `/` as an AWS SDK would, sends it
 * over HTTP and returns the status, headers and body.
 */
import * as crypto from "crypto";
import * as http from "http";
import { AwsCredentials } from "../drill/cloud-api";

export interface AwsReply {
    status: number;
    headers: http.IncomingHttpHeaders;
    body: string;
}

export function signedAwsPost(
    url: string,
    options: {
        service: string;
        region: string;
        credentials: AwsCredentials;
        headers: Record<string, string>;
        body: string;
        /** Gives up on the request this long after sending it (a client's timeout). */
        abortAfterMs?: number;
    },
): Promise<AwsReply> {
    const { service, region, credentials, body } = options;
    const host = new URL(url).host;
    const amzDate = new Date().toISOString().replace(/[-:]/g, "").replace(/\.\d+/, "");
    const date = amzDate.slice(0, 8);
    const headers: Record<string, string> = { ...options.headers, host, "x-amz-date": amzDate };
    if (credentials.Token) headers["x-amz-security-token"] = credentials.Token;
    const names = Object.keys(headers)
        .map((n) => n.toLowerCase())
        .sort();
    const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
    const sha = (v: string) => crypto.createHash("sha256").update(v).digest("hex");
    const canonical = ["POST", "/", "", names.map((n) => `${n}:${lower[n]}\n`).join(""), names.join(";"), sha(body)].join("\n");
    const scope = `${date}/${region}/${service}/aws4_request`;
    let key: Buffer | string = `AWS4${credentials.SecretAccessKey}`;
    for (const part of [date, region, service, "aws4_request"]) key = crypto.createHmac("sha256", key).update(part).digest();
    const signature = crypto
        .createHmac("sha256", key)
        .update(["AWS4-HMAC-SHA256", amzDate, scope, sha(canonical)].join("\n"))
        .digest("hex");
    headers.authorization = `AWS4-HMAC-SHA256 Credential=${credentials.AccessKeyId}/${scope}, SignedHeaders=${names.join(";")}, Signature=${signature}`;
    return new Promise((resolve, reject) => {
        const req = http.request(new URL("/", url), { method: "POST", headers }, (res) => {
            let text = "";
            res.on("data", (c) => (text += c));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
        });
        req.on("error", reject);
        if (options.abortAfterMs !== undefined) setTimeout(() => req.destroy(new Error("the client gave up")), options.abortAfterMs);
        req.end(body);
    });
}
