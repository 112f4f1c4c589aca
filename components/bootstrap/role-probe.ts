/**
 * The role probe: a tiny HTTP responder that answers 200 on one path only while this worker is
 * the keepalived MASTER, keepalived is alive and Iguana is healthy; 503 otherwise. Python 3
 * from the OS image, nothing else.
 */
import { BootstrapSettings, WorkerPaths, stateFile } from "./settings";

export const ROLE_PROBE_SOURCE = `#!/usr/bin/env python3
"""iguana-ha role probe: 200 while this worker is the active one, 503 otherwise."""
import argparse
import http.client
import http.server
import socket


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", required=True)
    parser.add_argument("--state-file", required=True)
    parser.add_argument("--keepalived-pidfile", required=True)
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


def keepalived_alive(pidfile):
    """keepalived (root's) runs: its pid from the pid file names a live keepalived process.

    The probe runs as an unprivileged dynamic user: signal 0 to root's process fails with
    EPERM, so the process is looked up in /proc instead, which also catches a reused pid.
    """
    try:
        with open(pidfile, encoding="ascii") as handle:
            pid = int(handle.read().strip())
        with open("/proc/%d/comm" % pid, encoding="ascii") as handle:
            return handle.read().strip() == "keepalived"
    except (OSError, ValueError):
        return False


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
        return 503, "not active: keepalived state " + state
    if not keepalived_alive(args.keepalived_pidfile):
        return 503, "not active: keepalived is not running"
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

/** The keepalived pid file on Ubuntu; the drill passes its own. */
export const KEEPALIVED_PIDFILE = "/run/keepalived.pid";

export function roleProbeArgs(s: BootstrapSettings, keepalivedPidfile = KEEPALIVED_PIDFILE): string[] {
    const health = s.iguanaHealth;
    return [
        "--port",
        String(s.roleProbe.port),
        "--path",
        s.roleProbe.path,
        "--state-file",
        stateFile(s),
        "--keepalived-pidfile",
        keepalivedPidfile,
        health.protocol === "http" ? "--health-http" : "--health-tcp",
        health.protocol === "http" ? `127.0.0.1:${health.port}${health.path}` : `127.0.0.1:${health.port}`,
    ];
}

export function roleProbePath(paths: WorkerPaths): string {
    return `${paths.libDir}/role-probe.py`;
}
