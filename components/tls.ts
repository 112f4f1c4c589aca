/**
 * tls.enabled: the bundle each worker's stunnel serves (docs/tls.md), as the secret stores keep
 * it: a JSON object of PEM text (TlsBundle). The user's certificate and key, or else a self-signed
 * pair the cluster makes once (kept in Pulumi state as a secret, renewed by `pulumi up` in its last month).
 */
import * as pulumi from "@pulumi/pulumi";
import { PrivateKey } from "@pulumi/tls/privateKey";
import { SelfSignedCert } from "@pulumi/tls/selfSignedCert";
import { ClusterConfig } from "./config";
import type { TlsBundle } from "./bootstrap/tls";

/** The self-signed certificate's life, and how early `pulumi up` replaces it. */
export const SELF_SIGNED_VALIDITY_HOURS = 24 * 365;
export const SELF_SIGNED_EARLY_RENEWAL_HOURS = 24 * 30;

/** The bundle's JSON, a secret; undefined with TLS off. */
export function tlsBundleSecret(name: string, cfg: ClusterConfig, parent: pulumi.Resource): pulumi.Output<string> | undefined {
    const tls = cfg.tls;
    if (!tls.enabled) return undefined;
    let certificate: pulumi.Input<string>;
    let privateKey: pulumi.Input<string>;
    if (tls.certificate !== undefined && tls.privateKey !== undefined) {
        certificate = tls.certificate;
        privateKey = tls.privateKey;
    } else {
        const key = new PrivateKey(`${name}-tls-key`, { algorithm: "ECDSA", ecdsaCurve: "P256" }, { parent, additionalSecretOutputs: ["privateKeyPem"] });
        const cert = new SelfSignedCert(
            `${name}-tls-certificate`,
            {
                privateKeyPem: key.privateKeyPem,
                subject: { commonName: `${name} (${cfg.environment}), self-signed by iguana-ha`, organization: "iguana-ha" },
                validityPeriodHours: SELF_SIGNED_VALIDITY_HOURS,
                earlyRenewalHours: SELF_SIGNED_EARLY_RENEWAL_HOURS,
                allowedUses: ["digital_signature", "key_encipherment", "server_auth"],
            },
            { parent },
        );
        certificate = cert.certPem;
        privateKey = key.privateKeyPem;
    }
    return pulumi.secret(
        pulumi.all([certificate, privateKey, tls.clientCa]).apply(([c, k, ca]) => {
            const bundle: TlsBundle = { certificate: c, privateKey: k, ...(ca !== undefined ? { clientCa: ca } : {}) };
            return JSON.stringify(bundle);
        }),
    );
}
