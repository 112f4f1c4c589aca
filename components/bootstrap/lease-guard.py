#!/usr/bin/env python3
"""iguana-ha lease guard: the only thing that makes this worker active (docs/lease.md).

    lease-guard.py CONFIG run        the service: acquire, renew and release the lease; be active only while holding it
    lease-guard.py CONFIG handover   planned switchover: ask the running guard to hand the lease to the peer
    lease-guard.py CONFIG show       print the lease record as the store has it

Active means: the state file says MASTER, the LLP gate is open, the floating VIP is held and,
with a shared working directory, Iguana runs. The guard takes the VIP (vip-mover.py take) and
stops the previous holder's machine (peer-fence.py, shared mode) itself, then calls the notify
script, which opens the gate and starts Iguana; on any other role it closes, kills and lets go.

The timing rule (the numbers come in the config, from leaseTiming in lease.ts), with L the lease
duration and s the send time of the holder's last successful write, all on this machine's
monotonic clock:
  - the holder renews every L/6; each call gives up after L/3;
  - at s + L/2 the holder stops being active (the role probe reads the same deadline and answers
    503 from that instant); its fence is done by s + 2L/3;
  - a challenger acquires only a lease that is free, or whose version it has seen unchanged for
    L, counted from the first answer that showed it (which came after that write was made):
    the earliest takeover is s + L, L/3 (1 s at the 3 s minimum) after the holder's fence.

Python 3 standard library only. The config (JSON, written by iguana-ha) holds no secret.
Rendered by iguana-ha. Do not edit by hand.
"""
import datetime
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from iguana_ha_cloud import ApiError, AwsInstance, AzureIdentity, Connection, sigv4_headers  # noqa: E402

NONE = "none"
DYNAMODB_TARGET = "DynamoDB_20120810"
AZURE_STORAGE_VERSION = "2023-11-03"
AZURE_STORAGE_RESOURCE = "https://storage.azure.com/"
# The guard file (what publish-event.py reports) is written on a change, and at least this often.
REPORT_EVERY_SECONDS = 5


def log(message):
    print(f"iguana-ha lease: {message}", file=sys.stderr, flush=True)


class Conflict(Exception):
    """The store refused a conditional write: someone else wrote the record since we read it."""


class Record:
    def __init__(self, version, owner=NONE, owner_id="", token="", epoch=0):
        self.version = version
        self.owner = owner
        self.owner_id = owner_id
        self.token = token
        self.epoch = epoch

    def __repr__(self):
        return f"owner={self.owner} epoch={self.epoch} version={self.version}"


# --- the stores -------------------------------------------------------------------------------


class DynamoDbLease:
    """One item of a DynamoDB table, written with conditional UpdateItem calls."""

    def __init__(self, config, timeout):
        self.config = config
        self.timeout = timeout
        self.instance = AwsInstance(config["imdsUrl"], timeout)
        self.connection = Connection(config["url"])

    def identity(self):
        return self.instance.instance_id()

    def call(self, operation, payload):
        body = json.dumps(payload).encode()
        content_type = "application/x-amz-json-1.0"
        target = f"{DYNAMODB_TARGET}.{operation}"
        headers = sigv4_headers("POST", self.config["url"], self.config["region"], "dynamodb", self.instance.credentials(), body, content_type, extra={"x-amz-target": target})
        status, _, response = self.connection.request("POST", self.config["url"], headers, body, self.timeout)
        document = json.loads(response or b"{}") if response else {}
        if status == 200:
            return document
        kind = str(document.get("__type", "")).rsplit("#", 1)[-1]
        if status == 400 and kind == "ConditionalCheckFailedException":
            raise Conflict(operation)
        raise ApiError(f"DynamoDB {operation}: HTTP {status} {kind}: {document.get('message') or document.get('Message') or ''}")

    def key(self):
        return {"pk": {"S": self.config["itemKey"]}}

    def read(self):
        item = self.call("GetItem", {"TableName": self.config["table"], "Key": self.key(), "ConsistentRead": True}).get("Item")
        if not item:
            return None
        return Record(
            item.get("rvn", {}).get("S"),
            item.get("owner", {}).get("S", NONE),
            item.get("ownerId", {}).get("S", ""),
            item.get("token", {}).get("S", ""),
            int(item.get("epoch", {}).get("N", "0")),
        )

    def update(self, expression, condition, names, values):
        version = str(uuid.uuid4())
        values = {**values, ":rvn": {"S": version}}
        document = self.call(
            "UpdateItem",
            {
                "TableName": self.config["table"],
                "Key": self.key(),
                "UpdateExpression": expression,
                "ConditionExpression": condition,
                "ExpressionAttributeNames": {"#rvn": "rvn", **names},
                "ExpressionAttributeValues": values,
                "ReturnValues": "ALL_NEW",
            },
        )
        epoch = int(document.get("Attributes", {}).get("epoch", {}).get("N", "0"))
        return version, epoch

    def acquire(self, seen, owner, owner_id, token):
        names = {"#owner": "owner", "#ownerId": "ownerId", "#token": "token", "#epoch": "epoch"}
        values = {":owner": {"S": owner}, ":ownerId": {"S": owner_id}, ":token": {"S": token}, ":zero": {"N": "0"}, ":one": {"N": "1"}}
        if seen is None:
            condition = "attribute_not_exists(#pk)"
            names["#pk"] = "pk"
        else:
            condition = "#rvn = :seen"
            values[":seen"] = {"S": seen.version}
        return self.update("SET #owner = :owner, #ownerId = :ownerId, #token = :token, #rvn = :rvn, #epoch = if_not_exists(#epoch, :zero) + :one", condition, names, values)

    def renew(self, token, version, owner, owner_id, epoch):
        return self.update("SET #rvn = :rvn", "#token = :token AND #rvn = :mine", {"#token": "token"}, {":token": {"S": token}, ":mine": {"S": version}})[0]

    def release(self, token, version, owner_id, epoch):
        self.update("SET #owner = :none, #rvn = :rvn", "#token = :token", {"#owner": "owner", "#token": "token"}, {":none": {"S": NONE}, ":token": {"S": token}})


class BlobLease:
    """One blob of a storage account, written with If-Match / If-None-Match on its ETag."""

    def __init__(self, config, timeout):
        self.config = config
        self.timeout = timeout
        self.identity_source = AzureIdentity(config["imdsUrl"], timeout)
        self.connection = Connection(config["url"])

    def identity(self):
        return self.identity_source.resource_id()

    def headers(self, extra=None):
        return {
            "Authorization": f"Bearer {self.identity_source.token(AZURE_STORAGE_RESOURCE)}",
            "x-ms-version": AZURE_STORAGE_VERSION,
            "x-ms-date": datetime.datetime.now(datetime.timezone.utc).strftime("%a, %d %b %Y %H:%M:%S GMT"),
            **(extra or {}),
        }

    def read(self):
        status, headers, body = self.connection.request("GET", self.config["url"], self.headers(), None, self.timeout)
        if status == 404:
            return None
        if status != 200:
            raise ApiError(f"Blob GET: HTTP {status} {headers.get('x-ms-error-code', '')}")
        document = json.loads(body)
        return Record(headers.get("etag"), document.get("owner", NONE), document.get("ownerId", ""), document.get("token", ""), int(document.get("epoch", 0)))

    def put(self, document, condition):
        body = json.dumps(document).encode()
        headers = self.headers({"x-ms-blob-type": "BlockBlob", "Content-Type": "application/json", **condition})
        status, answer, _ = self.connection.request("PUT", self.config["url"], headers, body, self.timeout)
        if status in (409, 412):
            raise Conflict(answer.get("x-ms-error-code", str(status)))
        if status != 201:
            raise ApiError(f"Blob PUT: HTTP {status} {answer.get('x-ms-error-code', '')}")
        return answer.get("etag")

    def acquire(self, seen, owner, owner_id, token):
        epoch = (seen.epoch if seen else 0) + 1
        condition = {"If-None-Match": "*"} if seen is None else {"If-Match": seen.version}
        return self.put({"owner": owner, "ownerId": owner_id, "token": token, "epoch": epoch}, condition), epoch

    def renew(self, token, version, owner, owner_id, epoch):
        return self.put({"owner": owner, "ownerId": owner_id, "token": token, "epoch": epoch}, {"If-Match": version})

    def release(self, token, version, owner_id, epoch):
        self.put({"owner": NONE, "ownerId": "", "token": "", "epoch": epoch}, {"If-Match": version})


def make_store(config, timeout):
    store = config["store"]
    return DynamoDbLease(store, timeout) if store["kind"] == "aws-dynamodb" else BlobLease(store, timeout)


class AnswerClock:
    """A lease store that notes when it last answered: a refused condition is an answer too."""

    def __init__(self, store):
        self.store = store
        self.answered_at = 0.0

    def __getattr__(self, name):
        method = getattr(self.store, name)

        def call(*args):
            try:
                result = method(*args)
            except Conflict:
                self.answered_at = time.monotonic()
                raise
            self.answered_at = time.monotonic()
            return result

        return call


# --- the guard --------------------------------------------------------------------------------


class KernelGate:
    """The LLP ports, open in the kernel only until the deadline: an nftables set whose elements expire.

    The notify script's gate follows the role; this one follows the clock. Each renewal re-arms it
    with the time left; if nothing re-arms it (the guard hung, starved of CPU, or the machine was
    paused), the kernel closes the ports at the deadline by itself: no process has to run.
    """

    def __init__(self, config):
        self.table = config["table"]
        self.ports = config["ports"]

    def nft(self, script):
        result = subprocess.run(["nft", "-f", "-"], input=script, text=True, capture_output=True, timeout=5, check=False)
        if result.returncode != 0:
            raise ApiError(f"nft: {result.stderr.strip()}")

    def install(self):
        ports = ", ".join(str(p) for p in self.ports)
        self.nft(
            f"""table inet {self.table} {{
}}
delete table inet {self.table}
table inet {self.table} {{
    set open {{ type inet_service; flags timeout; }}
    chain input {{
        type filter hook input priority -5; policy accept;
        tcp dport {{ {ports} }} tcp dport != @open reject with tcp reset
    }}
}}
"""
        )

    def open_until(self, deadline):
        left_ms = int((deadline - time.monotonic()) * 1000)
        if left_ms <= 0:
            self.close()
            return
        elements = ", ".join(f"{p} timeout {left_ms}ms" for p in self.ports)
        self.nft(f"flush set inet {self.table} open\nadd element inet {self.table} open {{ {elements} }}\n")

    def close(self):
        self.nft(f"flush set inet {self.table} open\n")



def write_atomically(path, text):
    temporary = f"{path}.tmp"
    with open(temporary, "w", encoding="ascii") as handle:
        handle.write(text)
    os.chmod(temporary, 0o644)
    os.replace(temporary, path)


class Health:
    """Runs the Iguana check every `everySeconds`; healthy after `rise` successes, unhealthy after `fall` failures."""

    def __init__(self, config):
        self.config = config
        self.healthy = False
        self.successes = 0
        self.failures = 0

    def run(self):
        while True:
            try:
                ok = subprocess.run([self.config["script"]], timeout=self.config["timeoutSeconds"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
            except (subprocess.TimeoutExpired, OSError):
                ok = False
            if ok:
                self.successes, self.failures = self.successes + 1, 0
                if not self.healthy and self.successes >= self.config["rise"]:
                    self.healthy = True
                    log("Iguana is healthy")
            else:
                self.failures, self.successes = self.failures + 1, 0
                if self.healthy and self.failures >= self.config["fall"]:
                    self.healthy = False
                    log(f"Iguana is unhealthy ({self.failures} failed checks)")
            time.sleep(self.config["everySeconds"])


class Guard:
    def __init__(self, config):
        self.config = config
        self.lease_seconds = config["leaseSeconds"]
        self.active_for = config["activeForSeconds"]
        self.tick = config["renewEverySeconds"]
        self.store = AnswerClock(make_store(config, config["callTimeoutSeconds"]))
        self.run_dir = config["runDir"]
        self.lock = threading.RLock()
        self.active = False
        self.activating = False
        self.deadline = 0.0
        self.held = None  # (token, version, epoch) while this worker holds the lease
        self.previous = None  # the record this worker took over, until it is active
        # The other worker this run of the guard last saw hold the lease, since it last was active:
        # becoming active then is taking over from it (notify MASTER takeover), not a first start.
        self.other_holder = None
        self.taking_over_from = None
        self.hold_off_until = 0.0
        self.stopping = False
        self.health = Health(config["health"])
        self.started = time.monotonic()
        self.owner_id = ""
        self.role_state = ""
        self.kernel_gate = KernelGate(config["kernelGate"]) if config.get("kernelGate") else None

    # what the probe and the drill read
    def publish(self):
        write_atomically(os.path.join(self.run_dir, "lease"), json.dumps({"deadline": self.deadline if self.active else 0, "epoch": self.held[2] if self.held else 0}) + "\n")

    # what publish-event.py reports to the cloud (events.ts); "at" shows the guard is running
    reported = None
    reported_at = 0.0

    def report(self, now_too=False):
        now = time.monotonic()
        # The failure count first: the health thread sets it before it clears `healthy`.
        healthy = self.health.failures < self.health.config["fall"] and self.health.healthy
        signals = {"iguanaHealthy": healthy, "leaseStoreReachable": now - self.store.answered_at < self.config["leaseStoreSilentSeconds"]}
        if now_too or signals != self.reported or now - self.reported_at >= REPORT_EVERY_SECONDS:
            try:
                write_atomically(os.path.join(self.run_dir, "guard"), json.dumps({**signals, "at": now}) + "\n")
                self.reported, self.reported_at = signals, now
            except OSError as error:
                log(f"guard file: {error}")

    def notify(self, state, detail=None):
        self.role_state = state
        self.report(now_too=True)
        started = time.monotonic()
        try:
            subprocess.run([self.config["notify"], state] + ([detail] if detail else []), timeout=self.lease_seconds, check=False)
        except subprocess.TimeoutExpired:
            log(f"notify {state} did not finish within {self.lease_seconds} s")
        took = time.monotonic() - started
        if took > self.active_for / 3:
            log(f"notify {state} took {took:.2f} s")

    def fence(self, why, state="BACKUP"):
        """Stop being active now: the probe first (it reads the deadline), then the gate, Iguana, the VIP."""
        with self.lock:
            was_active = self.active
            self.active = False
            self.publish()
            self.arm_kernel_gate(None)
            if was_active or state != "BACKUP":
                log(f"not active: {why}")
            self.notify(state)

    def arm_kernel_gate(self, deadline):
        """Opens the kernel's gate until `deadline`, or closes it (None). False when it could not."""
        if self.kernel_gate is None:
            return True
        try:
            if deadline is None:
                self.kernel_gate.close()
            else:
                self.kernel_gate.open_until(deadline)
            return True
        except (ApiError, OSError, subprocess.TimeoutExpired) as error:
            log(f"kernel gate: {error}")
            return False

    def extend(self, sent):
        with self.lock:
            self.deadline = sent + self.active_for
            if self.active:
                self.arm_kernel_gate(self.deadline)
                self.publish()

    def watch_deadline(self):
        # Runs on its own so that a call stuck in the network never delays the fence; after a
        # freeze (a paused VM) this is the first thing to notice the deadline has passed.
        while True:
            time.sleep(0.02)
            with self.lock:
                if self.active and time.monotonic() >= self.deadline:
                    self.fence(f"no successful renewal sent in the last {self.active_for:.1f} s (deadline passed)")

    def head_start_over(self):
        if self.config["primary"]:
            return True
        marker = os.path.join(self.run_dir, "head-start-done")
        if os.path.exists(marker):
            return True
        if time.monotonic() - self.started >= self.config["headStartSeconds"]:
            write_atomically(marker, "done\n")
            return True
        return False

    def eligible(self, mine=False):
        # Its own lease after a restart: one good check will do (waiting for `rise` could let the
        # lease run out meanwhile, and the peer would take over a worker that is fine).
        healthy = self.health.healthy or (mine and self.health.successes >= 1)
        return healthy and time.monotonic() >= self.hold_off_until and (mine or self.head_start_over())

    def activate(self):
        """Runs after an acquisition, on its own thread: peer fence (shared), the VIP (floating), then active."""
        try:
            previous = self.previous
            fence = self.config.get("peerFence")
            if fence and previous is not None and previous.owner not in (NONE, self.config["self"]) and previous.owner_id:
                self.notify("FENCING")
                if not self.run_helper(fence["command"] + [previous.owner_id], f"stopping {previous.owner} ({previous.owner_id})", fence["timeoutSeconds"]):
                    log(f"holding the lease but staying passive: {previous.owner} could not be stopped, and Iguana must not run on the shared queue twice")
                    return
            vip = self.config.get("vip")
            if vip and not self.run_helper(vip["command"], "taking the floating VIP", vip["timeoutSeconds"]):
                return
            with self.lock:
                if self.held and time.monotonic() < self.deadline and not self.stopping:
                    if not self.arm_kernel_gate(self.deadline):
                        log("holding the lease but staying passive: the kernel gate could not be opened")
                        return
                    self.previous = None
                    self.active = True
                    self.publish()
                    taking_over_from, self.taking_over_from, self.other_holder = self.taking_over_from, None, None
                    log(f"active (epoch {self.held[2]}){'; took over from ' + taking_over_from if taking_over_from else ''}")
                    self.notify("MASTER", "takeover" if taking_over_from else None)
        finally:
            with self.lock:
                self.activating = False

    def run_helper(self, command, what, timeout_seconds):
        """Retries a helper (VIP mover, peer fence) while this worker holds the lease."""
        give_up = time.monotonic() + timeout_seconds
        while self.held and not self.stopping and time.monotonic() < give_up:
            try:
                if subprocess.run(command, timeout=max(1, give_up - time.monotonic()), check=False).returncode == 0:
                    return True
            except subprocess.TimeoutExpired:
                pass
            log(f"{what}: failed, retrying")
            time.sleep(1)
        log(f"{what}: gave up")
        return False

    def lose(self, why):
        with self.lock:
            self.held = None
            self.previous = None
            self.fence(why)

    def release(self, why, hold_off):
        """Stop being active, then let go of the lease: the peer may acquire it at once."""
        with self.lock:
            held = self.held
            self.fence(why)
            self.held = None
            self.hold_off_until = time.monotonic() + hold_off
        if held:
            try:
                self.store.release(held[0], held[1], self.owner_id, held[2])
                log(f"released the lease ({why})")
            except (ApiError, Conflict) as error:
                log(f"release: {error} (the lease expires on its own)")

    def renew(self):
        token, version, epoch = self.held
        sent = time.monotonic()
        try:
            new_version = self.store.renew(token, version, self.config["self"], self.owner_id, epoch)
        except Conflict:
            try:
                new_version = self.own_version(token)
            except ApiError as error:
                self.note_error(error)
                return
            if new_version is None:
                self.lose("the lease was taken over")
                return
            # An earlier renewal was applied but its answer was lost: the record is still ours.
            # Its send time is unknown, so the deadline stays where the last answer put it.
            with self.lock:
                if self.held and self.held[0] == token:
                    self.held = (token, new_version, epoch)
            return
        except ApiError as error:
            self.note_error(error)
            return
        with self.lock:
            if self.held and self.held[0] == token:
                self.held = (token, new_version, epoch)
                self.extend(sent)

    def own_version(self, token):
        """The record's version if it still carries this worker's token, else None."""
        record = self.store.read()
        return record.version if record is not None and record.token == token else None

    def challenge(self, seen):
        try:
            record = self.store.read()
        except ApiError as error:
            self.note_error(error)
            return seen
        answered = time.monotonic()
        if record is not None and record.owner not in (NONE, self.config["self"]):
            self.other_holder = record.owner
        version = record.version if record else None
        if seen is None or seen[0] != version:
            seen = (version, answered)
        free = record is None or record.owner == NONE
        expired = answered - seen[1] >= self.lease_seconds
        mine = record is not None and record.owner == self.config["self"] and record.owner_id == self.owner_id
        if not self.eligible(mine) or not (free or expired or mine):
            return seen
        token = str(uuid.uuid4())
        sent = time.monotonic()
        try:
            new_version, epoch = self.store.acquire(record, self.config["self"], self.owner_id, token)
        except Conflict:
            return seen
        except ApiError as error:
            self.note_error(error)
            return seen
        how = "free" if free else ("held by this worker before a restart" if mine else f"unchanged for {answered - seen[1]:.1f} s")
        log(f"acquired the lease (epoch {epoch}; it was {how}; previously {record})")
        with self.lock:
            self.held = (token, new_version, epoch)
            self.previous = None if mine else record
            self.taking_over_from = None if mine else self.other_holder
            self.extend(sent)
        return None

    last_error = ""

    def note_error(self, error):
        text = str(error)
        if text != self.last_error:
            log(f"lease store: {text}")
            self.last_error = text

    def handle_handover(self, *_):
        self.handover_requested = True

    handover_requested = False

    def handle_stop(self, *_):
        self.stopping = True

    def run(self):
        os.makedirs(self.run_dir, exist_ok=True)
        write_atomically(os.path.join(self.run_dir, "lease-guard.pid"), f"{os.getpid()}\n")
        if self.kernel_gate is not None:
            # Closed from the start; without it this worker never becomes active.
            while not self.stopping:
                try:
                    self.kernel_gate.install()
                    break
                except (ApiError, OSError, subprocess.TimeoutExpired) as error:
                    log(f"kernel gate: {error}; retrying")
                    time.sleep(1)
        # STARTING until this worker may take over (healthy, and WK2's head start over): then BACKUP.
        self.fence("starting", "STARTING")
        signal.signal(signal.SIGTERM, self.handle_stop)
        signal.signal(signal.SIGINT, self.handle_stop)
        signal.signal(signal.SIGUSR1, self.handle_handover)
        threading.Thread(target=self.health.run, daemon=True).start()
        threading.Thread(target=self.watch_deadline, daemon=True).start()
        while not self.owner_id and not self.stopping:
            sd_notify("WATCHDOG=1")
            try:
                self.owner_id = self.store.identity()
            except ApiError as error:
                self.note_error(error)
                time.sleep(1)
        sd_notify("READY=1")
        seen = None
        while not self.stopping:
            tick_started = time.monotonic()
            sd_notify("WATCHDOG=1")
            try:
                seen = self.step(seen)
                self.report()
            except Exception as error:  # noqa: BLE001 - a bug must not take the guard down while it holds the lease: log it, the deadline still rules
                log(f"unexpected error (reported, guard carries on): {error!r}")
            time.sleep(max(0, tick_started + self.tick - time.monotonic()))
        self.release("the guard is stopping", hold_off=0)
        self.fence("stopped", "STOP")
        return 0

    def step(self, seen):
        """One tick: renew (or hand over) while holding; otherwise read and maybe acquire."""
        if self.held:
            if self.handover_requested:
                self.handover_requested = False
                self.release("planned switchover", hold_off=self.lease_seconds * 2)
            elif self.health.failures >= self.health.config["fall"]:
                self.release("Iguana is unhealthy", hold_off=0)
            else:
                self.renew()
                with self.lock:
                    if self.held and not self.active and not self.activating and time.monotonic() < self.deadline:
                        self.activating = True
                        threading.Thread(target=self.activate, daemon=True).start()
        else:
            self.handover_requested = False
            if self.role_state == "STARTING" and self.eligible():
                self.notify("BACKUP")
            seen = self.challenge(seen)
        return seen


def sd_notify(message):
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as connection:
            connection.sendto(message.encode(), address)
    except OSError:
        pass


def handover(config):
    """Signals the running guard, then waits until the peer holds the lease."""
    run_dir = config["runDir"]
    try:
        with open(os.path.join(run_dir, "lease-guard.pid"), encoding="ascii") as handle:
            pid = int(handle.read().strip())
        os.kill(pid, signal.SIGUSR1)
    except (OSError, ValueError) as error:
        print(f"no running lease guard: {error}", file=sys.stderr)
        return 1
    store = make_store(config, config["callTimeoutSeconds"])
    give_up = time.monotonic() + config["leaseSeconds"] * 4
    while time.monotonic() < give_up:
        time.sleep(0.2)
        try:
            record = store.read()
        except ApiError:
            continue
        if record and record.owner not in (NONE, config["self"]):
            print(f"{record.owner} holds the lease (epoch {record.epoch})")
            return 0
    print("the peer has not taken the lease; this worker takes it back once its hold-off ends", file=sys.stderr)
    return 1


def main(argv):
    if len(argv) != 3 or argv[2] not in ("run", "handover", "show"):
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as handle:
        config = json.load(handle)
    if argv[2] == "run":
        return Guard(config).run()
    if argv[2] == "handover":
        return handover(config)
    print(make_store(config, config["callTimeoutSeconds"]).read())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
