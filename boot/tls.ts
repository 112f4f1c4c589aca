/**
 * A test CA and one server certificate for the stand-in cloud endpoints (their real host
 * names), made with openssl. The machines trust the CA as an image's own CA bundle would.
 */
import * as fs from "fs";
import * as path from "path";
import { sh } from "../drill/system";

export interface TestCa {
    caCert: string;
    leafCert: string;
    leafKey: string;
}

export interface Leaf {
    cert: string;
    key: string;
}

/**
 * A certificate and key signed by the test CA in `dir` (makeTestCa made it): a server's, for its
 * names and addresses, or a client's (mutual TLS). Its files are `<name>.crt` and `<name>.key`.
 */
export function issueLeaf(dir: string, name: string, leaf: { dns?: string[]; ips?: string[]; usage: "serverAuth" | "clientAuth" }): Leaf {
    const f = (file: string) => path.join(dir, file);
    const names = [...(leaf.dns ?? []).map((h) => `DNS:${h}`), ...(leaf.ips ?? []).map((ip) => `IP:${ip}`)];
    const cn = leaf.dns?.[0] ?? leaf.ips?.[0] ?? name;
    sh("openssl", ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", `/CN=${cn}`, "-keyout", f(`${name}.key`), "-out", f(`${name}.csr`)]);
    fs.writeFileSync(f(`${name}.ext`), `${names.length ? `subjectAltName=${names.join(",")}\n` : ""}extendedKeyUsage=${leaf.usage}\nbasicConstraints=CA:FALSE\n`);
    sh("openssl", [
        "x509",
        "-req",
        "-in",
        f(`${name}.csr`),
        "-CA",
        f("ca.crt"),
        "-CAkey",
        f("ca.key"),
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        f(`${name}.ext`),
        "-out",
        f(`${name}.crt`),
    ]);
    return { cert: f(`${name}.crt`), key: f(`${name}.key`) };
}

/**
 * A self-signed certificate and its key (P-256), written as `<name>.crt` and `<name>.key` in
 * `dir`: a CA's (`ca`), or a server's as a hospital's own CA would hand one over.
 */
export function selfSigned(dir: string, name: string, subject: string, options: { ca: boolean; days?: number }): Leaf {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const f = (file: string) => path.join(dir, file);
    const usage = options.ca
        ? ["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]
        : ["-addext", "basicConstraints=critical,CA:FALSE"];
    sh("openssl", [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-days",
        String(options.days ?? 2),
        "-subj",
        `/CN=${subject}`,
        ...usage,
        "-keyout",
        f(`${name}.key`),
        "-out",
        f(`${name}.crt`),
    ]);
    return { cert: f(`${name}.crt`), key: f(`${name}.key`) };
}

export function makeTestCa(dir: string, hostnames: string[]): TestCa {
    const f = (name: string) => path.join(dir, name);
    selfSigned(dir, "ca", "iguana-ha boot test CA", { ca: true });
    const leaf = issueLeaf(dir, "leaf", { dns: hostnames, usage: "serverAuth" });
    return { caCert: f("ca.crt"), leafCert: leaf.cert, leafKey: leaf.key };
}
