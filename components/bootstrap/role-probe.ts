/**
 * The role probe: a tiny HTTP responder that answers 200 on one path only while this worker
 * holds the lease (its role is MASTER and the lease guard's deadline has not passed) and Iguana
 * is healthy; 503 otherwise. Python 3 from the OS image, nothing else.
 */
import { leaseFile } from "./lease";
import { BootstrapSettings, WorkerPaths, stateFile } from "./settings";

export const ROLE_PROBE_SOURCE = `#!/usr/bin/env python3
"""iguana-ha role probe: 200 while this worker is the active one, 503 otherwise."""
import argparse
import http.client
import http.server
import json
import socket
import time


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", required=True)
    parser.add_argument("--state-file", required=True)
    parser.add_argument("--lease-file", required=True, help="where the lease guard writes the monotonic instant this worker stops being active")
    parser.add_argument("--health-http", help="host:port/path of Iguana's HTTP health endpoint")
    parser.add_argument("--health-tcp", help="host:port Iguana listens on")
    parser.add_argument("--bind", default="0.0.0.0")
    return parser.parse_args()


def read_state(path):
    try:
        with open(path, encoding="ascii") as handle:
            return handle.read().strip()
    except OSError:
        return "UNKNOWN"


def lease_seconds_left(path):
    """Seconds until the guard's deadline, on the monotonic clock the guard uses; <= 0 when passed.

    The probe reads the deadline itself, so a guard that hangs, dies or thaws from a freeze
    past it cannot leave a 200 behind: the answer turns 503 at the deadline, to the millisecond.
    """
    try:
        with open(path, encoding="ascii") as handle:
            return float(json.load(handle)["deadline"]) - time.monotonic()
    except (OSError, ValueError, KeyError, TypeError):
        return 0.0


def iguana_healthy(args):
    try:
        if args.health_http:
            address, _, path = args.health_http.partition("/")
            host, _, port = address.rpartition(":")
            connection = http.client.HTTPConnection(host, int(port), timeout=2)
            connection.request("GET", "/" + path)
            status = connection.getresponse().status
            connection.close()
            return status == 200
        if args.health_tcp:
            host, _, port = args.health_tcp.rpartition(":")
            with socket.create_connection((host, int(port)), timeout=2):
                return True
    except OSError:
        return False
    return False


def verdict(args):
    state = read_state(args.state_file)
    if state != "MASTER":
        return 503, "not active: role " + state
    if lease_seconds_left(args.lease_file) <= 0:
        return 503, "not active: the lease deadline has passed"
    if not iguana_healthy(args):
        return 503, "not active: Iguana is not healthy"
    return 200, "active"


def make_handler(args):
    class Handler(http.server.BaseHTTPRequestHandler):
        def answer(self, with_body):
            if self.path.split("?")[0] != args.path:
                code, text = 404, "not found"
            else:
                code, text = verdict(args)
            body = (text + "\\n").encode("ascii")
            self.send_response(code)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            if with_body:
                self.wfile.write(body)

        def do_GET(self):
            self.answer(True)

        def do_HEAD(self):
            self.answer(False)

        def log_message(self, *_):
            pass

    return Handler


def main():
    args = parse_args()
    server = http.server.ThreadingHTTPServer((args.bind, args.port), make_handler(args))
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
`;

export function roleProbeArgs(s: BootstrapSettings): string[] {
    const health = s.iguanaHealth;
    return [
        "--port",
        String(s.roleProbe.port),
        "--path",
        s.roleProbe.path,
        "--state-file",
        stateFile(s),
        "--lease-file",
        leaseFile(s),
        health.protocol === "http" ? "--health-http" : "--health-tcp",
        health.protocol === "http" ? `127.0.0.1:${health.port}${health.path}` : `127.0.0.1:${health.port}`,
    ];
}

export function roleProbePath(paths: WorkerPaths): string {
    return `${paths.libDir}/role-probe.py`;
}
