/** Every address the drill uses lives in this /24, inside namespaces the drill creates. */
export const DRILL_SUBNET = { prefix: "10.251.0", length: 24 } as const;

export interface DrillAddresses {
    /** The load balancer's frontend, or (floating IP) the address the MASTER holds: the VIP senders connect to. */
    vip: string;
    sender: string;
    wk1: string;
    wk2: string;
    /** The stand-in cloud API (IMDS, EC2 or ARM), on the bridge in the lb namespace. */
    cloudApi: string;
    /** The stand-in lease store, an address of its own so that it can be cut alone. */
    leaseStore: string;
}

export const DRILL_ADDRESSES: DrillAddresses = {
    vip: `${DRILL_SUBNET.prefix}.1`,
    sender: `${DRILL_SUBNET.prefix}.2`,
    wk1: `${DRILL_SUBNET.prefix}.11`,
    wk2: `${DRILL_SUBNET.prefix}.12`,
    cloudApi: `${DRILL_SUBNET.prefix}.3`,
    leaseStore: `${DRILL_SUBNET.prefix}.4`,
};
