"""iguana-ha: what the worker's Python tools share to reach the cloud with the machine's identity.

HTTP with a timeout, Signature Version 4 with the instance role's credentials from IMDSv2 (AWS),
Microsoft Entra tokens from the managed identity endpoint (Azure). Python 3 standard library
only; no credential is ever written to disk or logged.

Rendered by iguana-ha. Do not edit by hand.
"""
import datetime
import hashlib
import hmac
import http.client as http_client
import json
import re
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ElementTree

DEFAULT_TIMEOUT_SECONDS = 10
# Credentials and tokens are fetched again this long before they expire.
REFRESH_BEFORE_EXPIRY_SECONDS = 300


class ApiError(Exception):
    """A call failed (no answer, or an answer that is not a success); the message says which and why."""


def worker_role(state_file):
    """The role the lease guard last gave this worker (MASTER on the active one), or "none yet"."""
    try:
        with open(state_file, encoding="utf-8") as handle:
            return handle.read().strip()
    except FileNotFoundError:
        return "none yet"


# ARM writes times with up to seven fractional digits, and "Z" or an offset
# ("2026-12-07T04:00:01.1234567Z", "2026-12-07T04:00:01.1234567+00:00").
ARM_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:?\d{2})$", re.IGNORECASE)


def parse_arm_time(text, field):
    """An ARM time as an aware UTC datetime; ApiError naming `field` when it is not one."""
    match = ARM_TIME.match(text or "")
    if not match:
        raise ApiError(f"unexpected {field} {text!r}")
    moment = datetime.datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc)
    moment += datetime.timedelta(microseconds=int((match.group(2) or "0")[:6].ljust(6, "0")))
    offset = match.group(3).upper()
    if offset != "Z":
        sign = -1 if offset[0] == "-" else 1
        digits = offset[1:].replace(":", "")
        moment -= sign * datetime.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return moment


def run_timer_tool(argv, usage, run, log, leaves_to_active):
    """`TOOL CONFIG run`, as a timer's unit calls it, on both workers: on the active one (MASTER in
    the config's stateFile) run(config)'s status; on the other a line saying the active worker
    `leaves_to_active`, and 0. A failure is logged (`failed: ...`) and 1."""
    if len(argv) != 3 or argv[2] != "run":
        print(usage, file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as handle:
        config = json.load(handle)
    try:
        state = worker_role(config["stateFile"])
        if state != "MASTER":
            log(f"this worker is not active ({state}): the active worker {leaves_to_active}")
            return 0
        return run(config)
    except (ApiError, KeyError, ValueError, TypeError) as error:
        log(f"failed: {error}")
        return 1


def http(method, url, headers=None, body=None, timeout=DEFAULT_TIMEOUT_SECONDS):
    """(status, headers with lower-case names, body). Raises ApiError only when there is no answer."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise ApiError(f"{method} {url}: {getattr(error, 'reason', error)}") from None


class Connection:
    """One HTTP(S) connection to one endpoint, kept open between calls.

    The lease guard calls its store twice a second: a new TLS handshake each time would add round
    trips to every renewal, and DynamoDB asks KMS for the table key once per new connection.
    A connection that fails in any way is closed; the next call opens a new one.
    """

    def __init__(self, url):
        parsed = urllib.parse.urlsplit(url)
        self.https = parsed.scheme == "https"
        self.host = parsed.hostname
        self.port = parsed.port or (443 if self.https else 80)
        self.connection = None

    def close(self):
        if self.connection is not None:
            self.connection.close()
            self.connection = None

    def request(self, method, url, headers, body, timeout):
        parsed = urllib.parse.urlsplit(url)
        target = (parsed.path or "/") + (f"?{parsed.query}" if parsed.query else "")
        for attempt in (1, 2):
            reused = self.connection is not None
            if self.connection is None:
                if self.https:
                    self.connection = http_client.HTTPSConnection(self.host, self.port, timeout=timeout, context=ssl.create_default_context())
                else:
                    self.connection = http_client.HTTPConnection(self.host, self.port, timeout=timeout)
            try:
                self.connection.timeout = timeout
                if self.connection.sock is not None:
                    self.connection.sock.settimeout(timeout)
                self.connection.request(method, target, body=body, headers=headers)
                response = self.connection.getresponse()
                data = response.read()
                answer = {k.lower(): v for k, v in response.getheaders()}
                if answer.get("connection", "").lower() == "close":
                    self.close()
                return response.status, answer, data
            except (http_client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as error:
                self.close()
                # The server closed an idle kept-alive connection: once more on a new one. A
                # conditional write that did land the first time fails its condition the second.
                if attempt == 1 and reused:
                    continue
                raise ApiError(f"{method} {url}: {error}") from None
            except (OSError, http_client.HTTPException, ValueError) as error:
                self.close()
                raise ApiError(f"{method} {url}: {error}") from None
        raise ApiError(f"{method} {url}: no answer")


def sigv4_headers(method, url, region, service, credentials, body, content_type, now=None, extra=None):
    """Signature Version 4 headers for one request (AWS General Reference, "Signing AWS API requests")."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    parsed = urllib.parse.urlsplit(url)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    date = amz_date[:8]
    headers = {"content-type": content_type, "host": parsed.netloc, "x-amz-date": amz_date}
    for name, value in (extra or {}).items():
        headers[name.lower()] = value
    if credentials.get("Token"):
        headers["x-amz-security-token"] = credentials["Token"]
    signed = sorted(headers)
    query = "&".join(
        f"{urllib.parse.quote(k, safe='-_.~')}={urllib.parse.quote(v, safe='-_.~')}"
        for k, v in sorted(urllib.parse.parse_qsl(parsed.query, keep_blank_values=True))
    )
    canonical = "\n".join(
        [
            method,
            parsed.path or "/",
            query,
            "".join(f"{name}:{headers[name].strip()}\n" for name in signed),
            ";".join(signed),
            hashlib.sha256(body).hexdigest(),
        ]
    )
    scope = f"{date}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + credentials["SecretAccessKey"]).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={credentials['AccessKeyId']}/{scope}, SignedHeaders={';'.join(signed)}, Signature={signature}"
    )
    return headers


class AwsInstance:
    """This EC2 instance, through IMDSv2: its id and its role's temporary credentials (cached)."""

    def __init__(self, imds_url, timeout=DEFAULT_TIMEOUT_SECONDS):
        self.imds = imds_url.rstrip("/")
        self.timeout = timeout
        self.token = None
        self.token_expires = 0.0
        self.cached_credentials = None
        self.credentials_expire = 0.0

    def metadata(self, path):
        if self.token is None or time.monotonic() >= self.token_expires:
            status, _, body = http("PUT", f"{self.imds}/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "21600"}, timeout=self.timeout)
            if status != 200:
                raise ApiError(f"IMDSv2 token: HTTP {status}")
            self.token = body.decode()
            self.token_expires = time.monotonic() + 21600 - REFRESH_BEFORE_EXPIRY_SECONDS
        status, _, body = http("GET", f"{self.imds}/latest/meta-data/{path}", {"X-aws-ec2-metadata-token": self.token}, timeout=self.timeout)
        if status != 200:
            raise ApiError(f"IMDS {path}: HTTP {status}")
        return body.decode()

    def instance_id(self):
        return self.metadata("instance-id").strip()

    def credentials(self):
        if self.cached_credentials is None or time.monotonic() >= self.credentials_expire:
            role = self.metadata("iam/security-credentials/").split("\n")[0].strip()
            if not role:
                raise ApiError("IMDS: this instance has no IAM role")
            credentials = json.loads(self.metadata(f"iam/security-credentials/{role}"))
            lifetime = REFRESH_BEFORE_EXPIRY_SECONDS * 2
            if credentials.get("Expiration"):
                expires = datetime.datetime.strptime(credentials["Expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
                lifetime = (expires - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
            self.cached_credentials = credentials
            self.credentials_expire = time.monotonic() + max(0, lifetime - REFRESH_BEFORE_EXPIRY_SECONDS)
        return self.cached_credentials


class AzureIdentity:
    """This VM's managed identity, through the Azure IMDS: tokens per resource (cached) and its resource id."""

    def __init__(self, imds_url, timeout=DEFAULT_TIMEOUT_SECONDS):
        self.imds = imds_url.rstrip("/")
        self.timeout = timeout
        self.tokens = {}

    def token(self, resource):
        cached = self.tokens.get(resource)
        if cached and time.monotonic() < cached[1]:
            return cached[0]
        query = urllib.parse.urlencode({"api-version": "2018-02-01", "resource": resource})
        status, _, body = http("GET", f"{self.imds}/metadata/identity/oauth2/token?{query}", {"Metadata": "true"}, timeout=self.timeout)
        if status != 200:
            raise ApiError(f"managed identity token for {resource}: HTTP {status}")
        document = json.loads(body)
        lifetime = float(document.get("expires_in", REFRESH_BEFORE_EXPIRY_SECONDS * 2))
        self.tokens[resource] = (document["access_token"], time.monotonic() + max(0, lifetime - REFRESH_BEFORE_EXPIRY_SECONDS))
        return document["access_token"]

    def resource_id(self):
        query = urllib.parse.urlencode({"api-version": "2021-02-01", "format": "text"})
        status, _, body = http("GET", f"{self.imds}/metadata/instance/compute/resourceId?{query}", {"Metadata": "true"}, timeout=self.timeout)
        if status != 200:
            raise ApiError(f"IMDS compute/resourceId: HTTP {status}")
        return body.decode().strip()


def local_name(tag):
    """An XML tag without its namespace."""
    return tag.rsplit("}", 1)[-1]


def ec2_error(body):
    """`Code: Message` of an EC2 error answer."""
    try:
        root = ElementTree.fromstring(body)
        codes = [e.text for e in root.iter() if local_name(e.tag) == "Code"]
        messages = [e.text for e in root.iter() if local_name(e.tag) == "Message"]
        return f"{codes[0] if codes else '?'}: {messages[0] if messages else ''}"
    except ElementTree.ParseError:
        return body[:200].decode(errors="replace")


def ec2_call(instance, config, action, params):
    """One EC2 Query API call signed with the instance role; the answer's XML root. config: ec2Url, region, apiVersion."""
    body = urllib.parse.urlencode({"Action": action, "Version": config["apiVersion"], **params}).encode()
    headers = sigv4_headers("POST", config["ec2Url"], config["region"], "ec2", instance.credentials(), body, "application/x-www-form-urlencoded; charset=utf-8")
    status, _, response = http("POST", config["ec2Url"], headers, body)
    if status != 200:
        raise ApiError(f"EC2 {action}: HTTP {status}: {ec2_error(response)}")
    return ElementTree.fromstring(response)
