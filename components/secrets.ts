import * as pulumi from "@pulumi/pulumi";
import { RandomPassword } from "@pulumi/random/randomPassword";

/**
 * Iguana's admin password: generated once, kept in Pulumi state as a secret, stored in the
 * cloud's secret store by each implementation. Alphanumeric so no shell or JSON quoting can
 * mangle it on the way to Iguana.
 */
export function createAdminPassword(name: string, parent: pulumi.Resource): pulumi.Output<string> {
    const password = new RandomPassword(
        `${name}-admin-password`,
        { length: 32, special: false, minUpper: 2, minLower: 2, minNumeric: 2 },
        { parent, additionalSecretOutputs: ["result"] },
    );
    return pulumi.secret(password.result);
}
