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

export function makeTestCa(dir: string, hostnames: string[]): TestCa {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const f = (name: string) => path.join(dir, name);
    sh("openssl", [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=iguana-ha boot test CA",
        "-keyout",
        f("ca.key"),
        "-out",
        f("ca.crt"),
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    sh("openssl", ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", `/CN=${hostnames[0]}`, "-keyout", f("leaf.key"), "-out", f("leaf.csr")]);
    fs.writeFileSync(f("leaf.ext"), `subjectAltName=${hostnames.map((h) => `DNS:${h}`).join(",")}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n`);
    sh("openssl", [
        "x509",
        "-req",
        "-in",
        f("leaf.csr"),
        "-CA",
        f("ca.crt"),
        "-CAkey",
        f("ca.key"),
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        f("leaf.ext"),
        "-out",
        f("leaf.crt"),
    ]);
    return { caCert: f("ca.crt"), leafCert: f("leaf.crt"), leafKey: f("leaf.key") };
}
