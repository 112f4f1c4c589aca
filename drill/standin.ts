/**
 * The simulated Iguana a drill worker runs: an MLLP listener per LLP channel that appends each
 * message's control id to a journal on disk, fsyncs it, and only then answers with an HL7 ACK
 * (MSA-1 `AA`); and Iguana's health check on the web port, answered only while this process
 * runs (IguanaX: HTTP `GET /health` 200; Iguana 6: a TCP listener).
 *
 * MLLP framing and ACKs come from @medplum/hl7 (with @medplum/core's Hl7Message): of the HL7 v2
 * MLLP libraries on npm it is the one maintained by a company that ships it in production
 * (Medplum's agent uses it), Apache-2.0, typed, released every few weeks. Version 4.5.2 is
 * pinned because 5.x needs Node 22 and the project runs on Node 20. Its reader treats a chunk
 * that ends in FS CR as one whole message; the drill's sender has one message in flight at a
 * time, so that holds here.
 *
 * usage: standin.ts --worker wk1 --ports 2575[,2576] --journal-dir DIR --health http:7654:/health|tcp:6543 --ready FILE
 */
import * as fs from "fs";
import * as http from "http";
import * as net from "net";
import * as path from "path";
import { Hl7Connection, Hl7Server } from "@medplum/hl7";
import { Hl7Message } from "@medplum/core";

export function journalPath(dir: string, port: number): string {
    return path.join(dir, `journal-${port}.log`);
}

/** The journal: one control id per line, written and fsynced before the ACK. */
export function readJournal(file: string): string[] {
    if (!fs.existsSync(file)) return [];
    return fs
        .readFileSync(file, "utf8")
        .split("\n")
        .filter((line) => line.length > 0)
        .map((line) => line.split("\t")[0]);
}

/** Journal lines with the worker that wrote each (third column; absent in older journals). */
export function readJournalEntries(file: string): { id: string; worker: string }[] {
    if (!fs.existsSync(file)) return [];
    return fs
        .readFileSync(file, "utf8")
        .split("\n")
        .filter((line) => line.length > 0)
        .map((line) => {
            const [id, , worker] = line.split("\t");
            return { id, worker: worker ?? "" };
        });
}

/** The ACK names the worker in MSH-3 (sending application), so the sender knows who journaled. */
export function ackSender(worker: string): string {
    return `IGUANA-${worker.toUpperCase()}`;
}

function arg(argv: string[], name: string): string {
    const i = argv.indexOf(name);
    if (i < 0 || i + 1 >= argv.length) throw new Error(`standin: missing ${name}`);
    return argv[i + 1];
}

function serveMllp(port: number, worker: string, journalDir: string): void {
    const file = journalPath(journalDir, port);
    // With a shared working directory the journal may hold the other worker's entries: this
    // Iguana resumes after the last of them (append), as Iguana resumes a shared queue.
    const before = readJournalEntries(file);
    if (before.length > 0) {
        const last = before[before.length - 1];
        console.log(`standin ${worker}: resuming journal-${port} after ${before.length} entries (last ${last.id} by ${last.worker || "?"})`);
    }
    const fd = fs.openSync(file, "a");
    const server = new Hl7Server((connection: Hl7Connection) => {
        connection.addEventListener("message", (event) => {
            const message = event.message;
            const controlId = message.getSegment("MSH")?.getField(10)?.toString() ?? "";
            if (!controlId) {
                connection.send(message.buildAck({ ackCode: "AR" }));
                return;
            }
            // Durable first, acknowledge second: an ACK means the message is on disk.
            fs.writeSync(fd, `${controlId}\t${Date.now()}\t${worker}\n`);
            fs.fsyncSync(fd);
            const ack: Hl7Message = message.buildAck({ ackCode: "AA" });
            ack.getSegment("MSH")?.setField(3, ackSender(worker));
            connection.send(ack);
        });
        connection.addEventListener("error", () => {
            /* a reset by the LB or the LLP gate: the sender resends */
        });
    });
    server.start(port);
}

function serveHealth(spec: string): void {
    const [kind, portText, healthPath] = spec.split(":");
    const port = Number(portText);
    if (kind === "http") {
        http.createServer((req, res) => {
            const ok = req.url === healthPath;
            res.writeHead(ok ? 200 : 404, { "Content-Type": "text/plain", Connection: "close" });
            res.end(ok ? "ok\n" : "not found\n");
        }).listen(port);
    } else {
        net.createServer((socket) => socket.end()).listen(port);
    }
}

function main(): void {
    const argv = process.argv.slice(2);
    const worker = arg(argv, "--worker");
    const journalDir = arg(argv, "--journal-dir");
    fs.mkdirSync(journalDir, { recursive: true });
    for (const port of arg(argv, "--ports").split(",").map(Number)) {
        serveMllp(port, worker, journalDir);
    }
    serveHealth(arg(argv, "--health"));
    // Listening happens on the next ticks; the ready file tells the drill the ports are open.
    setTimeout(() => fs.writeFileSync(arg(argv, "--ready"), `${process.pid}\n`), 100);
    process.on("SIGTERM", () => process.exit(0));
}

if (require.main === module) {
    main();
}
