/** Small IPv4 helpers: parsing, validation and carving subnets. Pure functions. */

export interface Ipv4Cidr {
    /** Network address as an unsigned 32-bit number. */
    base: number;
    prefix: number;
}

const OCTET = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

export function parseIpv4(text: string): number | undefined {
    const parts = text.split(".");
    if (parts.length !== 4 || !parts.every((p) => OCTET.test(p))) {
        return undefined;
    }
    return parts.reduce((acc, p) => acc * 256 + Number(p), 0);
}

export function formatIpv4(value: number): string {
    return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join(".");
}

/** Why `text` is not a valid IPv4 CIDR in network form, or undefined when it is. */
export function cidrProblem(text: string): string | undefined {
    const match = /^([^/]+)\/(\d{1,2})$/.exec(text);
    if (!match) {
        return "is not in a.b.c.d/n form";
    }
    const address = parseIpv4(match[1]);
    const prefix = Number(match[2]);
    if (address === undefined) {
        return `has an invalid IPv4 address "${match[1]}"`;
    }
    if (prefix > 32) {
        return `has prefix /${prefix}; a prefix is 0-32`;
    }
    const size = 2 ** (32 - prefix);
    if (address % size !== 0) {
        return `has host bits set; the network address is ${formatIpv4(address - (address % size))}/${prefix}`;
    }
    return undefined;
}

export function parseCidr(text: string): Ipv4Cidr {
    const problem = cidrProblem(text);
    if (problem) {
        throw new Error(`CIDR "${text}" ${problem}`);
    }
    const [address, prefix] = text.split("/");
    return { base: parseIpv4(address)!, prefix: Number(prefix) };
}

export function formatCidr(cidr: Ipv4Cidr): string {
    return `${formatIpv4(cidr.base)}/${cidr.prefix}`;
}

/** The `index`-th subnet of `parent` with `extraBits` more prefix bits. */
export function subnet(parent: Ipv4Cidr, extraBits: number, index: number): Ipv4Cidr {
    const prefix = parent.prefix + extraBits;
    if (prefix > 32 || index < 0 || index >= 2 ** extraBits) {
        throw new Error(`no subnet ${index} of /${prefix} inside ${formatCidr(parent)}`);
    }
    return { base: parent.base + index * 2 ** (32 - prefix), prefix };
}

export function hostAddress(cidr: Ipv4Cidr, offset: number): string {
    if (offset <= 0 || offset >= 2 ** (32 - cidr.prefix) - 1) {
        throw new Error(`host offset ${offset} does not fit in ${formatCidr(cidr)}`);
    }
    return formatIpv4(cidr.base + offset);
}

export function cidrContains(outer: Ipv4Cidr, inner: Ipv4Cidr): boolean {
    const size = 2 ** (32 - outer.prefix);
    return inner.prefix >= outer.prefix && inner.base >= outer.base && inner.base < outer.base + size;
}

const PROXY_URL = /^http:\/\/(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})\/?$/;

/** `network.egress.proxy`'s address and port, or undefined when the text is not `http://<IPv4 address>:<port>`. */
export function proxyAddress(url: string): { address: string; port: number } | undefined {
    const match = PROXY_URL.exec(url);
    if (!match || cidrProblem(`${match[1]}/32`)) return undefined;
    const port = Number(match[2]);
    return port >= 1 && port <= 65535 ? { address: match[1], port } : undefined;
}
