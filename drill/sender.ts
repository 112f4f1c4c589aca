/**
 * The drill's HL7 sender: sends ADT^A01 messages in order over MLLP to the VIP, one at a time,
 * and waits for each ACK. On an ACK timeout, a reset, a closed or refused connection, or a
 * negative ACK it drops the connection, waits, reconnects and resends the same message with the
 * same control id (MSH-10), as an interface engine does. Each event is one JSON line in the
 * events file; the drill reads it afterwards. MLLP framing: @medplum/hl7 (see standin.ts).
 *
 * usage: sender.ts --host VIP --port 2575 --count N --prefix ADT --interval-ms 50
 *        --ack-timeout-ms 3000 --reconnect-ms 200 --events FILE --stop-file FILE [--fresh]
 *        [--tls-ca FILE [--tls-cert FILE --tls-key FILE] [--tls-servername NAME]]
 *   --fresh: a new connection for every message (the split-brain probe), closed after its ACK.
 *   --tls-ca: MLLP over TLS (tls.enabled), the server's chain checked against the CA in FILE;
 *   --tls-cert/--tls-key: the client certificate mutual TLS asks for.
 */
import * as fs from "fs";
import * as net from "net";
import * as tls from "tls";
import { Hl7Connection } from "@medplum/hl7";
import { Hl7Message } from "@medplum/core";

export interface SenderEvent {
    type: "ack" | "retry" | "connect" | "done";
    t: number;
    id?: string;
    worker?: string;
    reason?: string;
    attempt?: number;
    sent?: number;
}

/** Monotonic milliseconds, the same clock (CLOCK_MONOTONIC) in every process of the drill. */
export function monotonicMs(): number {
    return Number(process.hrtime.bigint() / 1000n) / 1000;
}

export function controlId(prefix: string, seq: number): string {
    return `${prefix}-${String(seq).padStart(6, "0")}`;
}

export function adtMessage(id: string, seq: number): Hl7Message {
    const now = new Date().toISOString().replace(/[-:T]/g, "").slice(0, 14);
    return Hl7Message.parse(
        [
            `MSH|^~\\&|DRILL-ADT|HOSPITAL|IGUANA|HA|${now}||ADT^A01^ADT_A01|${id}|P|2.5.1`,
            `EVN|A01|${now}`,
            `PID|1||MRN${String(seq).padStart(8, "0")}^^^HOSPITAL^MR||DRILL^PATIENT${seq}||19700101|U`,
            `PV1|1|I|WARD1^101^1`,
        ].join("\r"),
    );
}

interface Options {
    host: string;
    port: number;
    count: number;
    prefix: string;
    intervalMs: number;
    ackTimeoutMs: number;
    reconnectMs: number;
    events: string;
    stopFile: string;
    fresh: boolean;
    tls?: { ca: string; cert?: string; key?: string; servername: string };
}

function parseOptions(argv: string[]): Options {
    const get = (name: string, fallback?: string): string => {
        const i = argv.indexOf(name);
        if (i >= 0 && i + 1 < argv.length) return argv[i + 1];
        if (fallback !== undefined) return fallback;
        throw new Error(`sender: missing ${name}`);
    };
    return {
        host: get("--host"),
        port: Number(get("--port")),
        count: Number(get("--count")),
        prefix: get("--prefix", "ADT"),
        intervalMs: Number(get("--interval-ms", "50")),
        ackTimeoutMs: Number(get("--ack-timeout-ms", "3000")),
        reconnectMs: Number(get("--reconnect-ms", "200")),
        events: get("--events"),
        stopFile: get("--stop-file"),
        fresh: argv.includes("--fresh"),
        ...(argv.includes("--tls-ca")
            ? {
                  tls: {
                      ca: fs.readFileSync(get("--tls-ca"), "utf8"),
                      ...(argv.includes("--tls-cert") ? { cert: fs.readFileSync(get("--tls-cert"), "utf8"), key: fs.readFileSync(get("--tls-key"), "utf8") } : {}),
                      servername: get("--tls-servername", SENDER_TLS_SERVERNAME),
                  },
              }
            : {}),
    };
}

/** The name the drill's and the boot test's server certificates are issued for, and the sender asks for. */
export const SENDER_TLS_SERVERNAME = "iguana.test";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

class Link {
    private connection?: Hl7Connection;
    private closed?: Promise<never>;

    constructor(private readonly options: Options) {}

    private async open(): Promise<Hl7Connection> {
        const { host, port } = this.options;
        const socket = this.options.tls ? tls.connect({ host, port, ...this.options.tls }) : net.connect({ host, port });
        socket.setNoDelay(true);
        await new Promise<void>((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error("connect timeout")), this.options.ackTimeoutMs);
            // Over TLS the link is up once the handshake is done (the server's chain checked).
            socket.once(this.options.tls ? "secureConnect" : "connect", () => (clearTimeout(timer), resolve()));
            socket.once("error", (e) => (clearTimeout(timer), reject(e)));
        });
        const connection = new Hl7Connection(socket);
        connection.addEventListener("error", () => {
            /* surfaced through close or the ACK timeout */
        });
        this.closed = new Promise<never>((_, reject) => {
            connection.addEventListener("close", () => reject(new Error("connection closed")));
            socket.once("error", (e) => reject(e));
        });
        this.closed.catch(() => undefined);
        this.connection = connection;
        return connection;
    }

    drop(): void {
        this.connection?.socket.destroy();
        this.connection = undefined;
    }

    /** Sends and waits for the ACK; throws on timeout, close or a negative ACK. */
    async exchange(message: Hl7Message, id: string, onConnect: () => void): Promise<Hl7Message> {
        if (!this.connection || this.connection.isClosed()) {
            this.drop();
            await this.open();
            onConnect();
        }
        const ack = await Promise.race([this.connection!.sendAndWait(message, { timeoutMs: this.options.ackTimeoutMs }), this.closed!]);
        const code = ack.getSegment("MSA")?.getField(1)?.toString();
        const acked = ack.getSegment("MSA")?.getField(2)?.toString();
        if (code !== "AA" || acked !== id) throw new Error(`negative or foreign ACK ${code} for ${acked}`);
        return ack;
    }
}

async function main(): Promise<void> {
    const options = parseOptions(process.argv.slice(2));
    const events = fs.openSync(options.events, "a");
    const record = (event: SenderEvent) => fs.writeSync(events, JSON.stringify(event) + "\n");
    const link = new Link(options);
    let sent = 0;
    const stopping = () => fs.existsSync(options.stopFile);
    for (let seq = 1; seq <= options.count && !stopping(); seq++) {
        const id = controlId(options.prefix, seq);
        const message = adtMessage(id, seq);
        for (let attempt = 1; !stopping() || attempt === 1; attempt++) {
            try {
                const ack = await link.exchange(message, id, () => record({ type: "connect", t: monotonicMs(), id }));
                record({ type: "ack", t: monotonicMs(), id, attempt, worker: ack.getSegment("MSH")?.getField(3)?.toString() });
                break;
            } catch (e) {
                record({ type: "retry", t: monotonicMs(), id, attempt, reason: e instanceof Error ? e.message : String(e) });
                link.drop();
                await sleep(options.reconnectMs);
            }
        }
        sent = seq;
        if (options.fresh) link.drop();
        await sleep(options.intervalMs);
    }
    link.drop();
    record({ type: "done", t: monotonicMs(), sent });
    fs.closeSync(events);
}

if (require.main === module) {
    main().then(
        () => process.exit(0),
        (e) => {
            console.error(e);
            process.exit(1);
        },
    );
}
