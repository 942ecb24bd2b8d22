#!/usr/bin/python3
"""A small registry double that misbehaves on purpose, for tests/e2e/t_hostile.sh.

It speaks enough of the distribution API for ocibuild to push to it and
pull from it (blobs and manifests in memory; POST/PATCH/PUT uploads; HEAD
and GET of blobs and manifests), optionally over TLS (--tls CERT KEY) and
behind Basic (--basic USER:PASS) or Bearer token auth (--bearer USER:PASS,
the token service at /token of this server unless --realm names another).
--seed-layout DIR loads an OCI layout's blobs and tagged manifests
(repository "seed"), so a test can serve documents a real registry would
refuse (wrong sizes, endless blobs).

A second, plain-HTTP listener (--plain-port-file) stands for "the same
host, another scheme or port": it answers everything 404 and logs each
request with whether it carried an Authorization header.

--fault NAME[=ARG] (repeatable) picks the misbehaviour:
  manifest-redirect-http   GET/HEAD of a manifest: 307 to the plain listener
  upload-location-http     POST of an upload: Location on the plain listener
  realm-http               the Bearer realm is http://127.0.0.1:<plain>/token
  endless-blob=DIGEST      GET of that blob: 200 and bytes that never end
  trickle-404=BPS          every /v2/ request but /v2/: 404 whose body trickles
  trickle-manifest=BPS     GET of a manifest: 200 whose body trickles
  drop-first-patch         the first PATCH: the connection is closed unanswered
  upload-range=VALUE       GET of an upload's status: 204 with Range: 0-VALUE
  token-expires=N          the token response's expires_in
  token-pad=BYTES          the token response is padded to this many bytes
  big-manifest=BYTES       GET of a manifest: a 200 document of this size
  echo-error               PUT of a manifest: 400 whose message echoes the
                           request's Authorization header, a newline and ESC
  location-fragment        POST of an upload: the Location ends in #frag

--referrers[=no-header] adds the OCI 1.1 referrers API: GET
/v2/NAME/referrers/DIGEST[?artifactType=T] answers an image index of the
manifests whose subject is DIGEST, and a manifest PUT with a subject is
answered with an OCI-Subject header (not with =no-header). Without it, that
path is 404 as on a registry without the API.

Log (--log), one line per request: "METHOD PATH STATUS auth=yes|no"
(plain listener lines start with "plain "), and "sent BYTES PATH" for
streamed bodies when the client goes away. No header values are logged.
"""
import argparse
import base64
import hashlib
import json
import os
import socket
import ssl
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ARGS = None
LOCK = threading.Lock()
BLOBS = {}       # digest -> bytes
MANIFESTS = {}   # (repo, ref) -> (media type, bytes)
UPLOADS = {}     # id -> bytearray
REFERRERS = {}   # (repo, subject digest) -> [descriptor] (with --referrers)
FAULTS = {}
PATCHES = [0]
PLAIN_PORT = [0]
TOKEN = "hostile-token-" + uuid.uuid4().hex


def log(line):
    with LOCK:
        with open(ARGS.log, "a") as f:
            f.write(line + "\n")


def fault(name):
    return FAULTS.get(name)


class Plain(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def answer(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        auth = "yes" if self.headers.get("Authorization") else "no"
        log("plain %s %s 404 auth=%s" % (self.command, self.path.split("?")[0], auth))
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = answer


class Registry(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def base(self):
        return "%s://127.0.0.1:%d" % ("https" if ARGS.tls else "http", self.server.server_address[1])

    def reply(self, status, body=b"", headers=None, ctype=None):
        auth = "yes" if self.headers.get("Authorization") else "no"
        log("%s %s %d auth=%s" % (self.command, self.path.split("?")[0], status, auth))
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if ctype:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def error(self, status, code, message, headers=None):
        body = json.dumps({"errors": [{"code": code, "message": message}]}).encode()
        self.reply(status, body, headers, "application/json")

    def stream(self, status, chunk, rate, total=None, ctype="application/octet-stream"):
        """Send a body with no Content-Length (connection close) at `rate`
        bytes a second (0: as fast as possible), up to `total` bytes."""
        auth = "yes" if self.headers.get("Authorization") else "no"
        log("%s %s %d auth=%s" % (self.command, self.path.split("?")[0], status, auth))
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        sent = 0
        try:
            while total is None or sent < total:
                self.wfile.write(chunk)
                self.wfile.flush()
                sent += len(chunk)
                if rate:
                    time.sleep(len(chunk) / rate)
                if sent > (1 << 34):
                    break
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            pass
        log("sent %d %s" % (sent, self.path.split("?")[0]))

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def authorized(self):
        if ARGS.basic:
            want = "Basic " + base64.b64encode(ARGS.basic.encode()).decode()
            if self.headers.get("Authorization") == want:
                return True
            self.body()
            self.error(401, "UNAUTHORIZED", "authentication required",
                       {"WWW-Authenticate": 'Basic realm="hostile"'})
            return False
        if ARGS.bearer:
            if self.headers.get("Authorization") == "Bearer " + TOKEN:
                return True
            if fault("realm-http"):
                realm = "http://127.0.0.1:%d/token" % PLAIN_PORT[0]
            else:
                realm = ARGS.realm or self.base() + "/token"
            self.body()
            self.error(401, "UNAUTHORIZED", "authentication required",
                       {"WWW-Authenticate": 'Bearer realm="%s",service="hostile"' % realm})
            return False
        return True

    def token(self):
        want = "Basic " + base64.b64encode(ARGS.bearer.encode()).decode()
        if self.headers.get("Authorization") != want:
            return self.error(401, "UNAUTHORIZED", "bad credentials")
        doc = {"token": TOKEN, "access_token": TOKEN}
        exp = fault("token-expires")
        doc["expires_in"] = int(exp) if exp else 300
        raw = json.dumps(doc)
        pad = fault("token-pad")
        if pad:
            raw = raw[:-1] + ', "pad": "' + "x" * max(0, int(pad) - len(raw)) + '"}'
        self.reply(200, raw.encode(), ctype="application/json")

    def route(self):
        path = self.path.split("?")[0].split("#")[0]
        query = self.path.split("?", 1)[1] if "?" in self.path else ""
        if path == "/token" and ARGS.bearer:
            return self.token()
        if not path.startswith("/v2/"):
            return self.reply(404)
        if not self.authorized():
            return
        if path == "/v2/":
            return self.reply(200, b"{}", ctype="application/json")
        rate = fault("trickle-404")
        if rate:
            return self.stream(404, b'{"errors":[' + b" " * 1022 + b"\n", int(rate))
        parts = path[4:].split("/")
        if ARGS.referrers and len(parts) >= 3 and parts[-2] == "referrers":
            return self.referrers("/".join(parts[:-2]), parts[-1], query)
        if "manifests" in parts:
            i = parts.index("manifests")
            return self.manifest("/".join(parts[:i]), "/".join(parts[i + 1:]))
        if "blobs" in parts:
            i = parts.index("blobs")
            repo, rest = "/".join(parts[:i]), parts[i + 1:]
            if rest and rest[0] == "uploads":
                return self.upload(repo, rest[1] if len(rest) > 1 else "", query)
            return self.blob(repo, rest[0] if rest else "")
        return self.reply(404)

    def manifest(self, repo, ref):
        if self.command == "PUT":
            data = self.body()
            if fault("echo-error"):
                msg = "bad request: %s\n\x1b[31mocibuild: pushed fine" % self.headers.get("Authorization", "")
                return self.error(400, "MANIFEST_INVALID", msg)
            digest = "sha256:" + hashlib.sha256(data).hexdigest()
            ctype = self.headers.get("Content-Type", "")
            headers = {"Location": "/v2/%s/manifests/%s" % (repo, digest),
                       "Docker-Content-Digest": digest}
            with LOCK:
                MANIFESTS[(repo, ref)] = (ctype, data)
                MANIFESTS[(repo, digest)] = (ctype, data)
                subject = self.subject_of(repo, digest, ctype, data) if ARGS.referrers else None
            if subject and ARGS.referrers != "no-header":
                headers["OCI-Subject"] = subject
            return self.reply(201, headers=headers)
        if fault("manifest-redirect-http"):
            return self.reply(307, headers={
                "Location": "http://127.0.0.1:%d/v2/%s/manifests/%s" % (PLAIN_PORT[0], repo, ref)})
        big = fault("big-manifest")
        if big and self.command == "GET":
            doc = b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","pad":"'
            doc += b"x" * (int(big) - len(doc) - 2) + b'"}'
            return self.reply(200, doc, ctype="application/vnd.oci.image.manifest.v1+json")
        with LOCK:
            m = MANIFESTS.get((repo, ref))
        if not m:
            return self.error(404, "MANIFEST_UNKNOWN", "manifest unknown")
        rate = fault("trickle-manifest")
        if rate and self.command == "GET":
            return self.stream(200, b" " * 256, int(rate), ctype=m[0])
        digest = "sha256:" + hashlib.sha256(m[1]).hexdigest()
        self.reply(200, m[1], {"Docker-Content-Digest": digest}, m[0])

    def subject_of(self, repo, digest, ctype, data):
        """Record a manifest with a subject as a referrer (LOCK held)."""
        try:
            doc = json.loads(data)
        except ValueError:
            return None
        subject = doc.get("subject") if isinstance(doc, dict) else None
        if not isinstance(subject, dict) or "digest" not in subject:
            return None
        d = {"mediaType": doc.get("mediaType", ctype), "digest": digest, "size": len(data)}
        at = doc.get("artifactType") or doc.get("config", {}).get("mediaType")
        if at:
            d["artifactType"] = at
        if doc.get("annotations"):
            d["annotations"] = doc["annotations"]
        lst = REFERRERS.setdefault((repo, subject["digest"]), [])
        if all(e["digest"] != digest for e in lst):
            lst.append(d)
        return subject["digest"]

    def referrers(self, repo, digest, query):
        if self.command not in ("GET", "HEAD"):
            return self.reply(405)
        params = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
        want = params.get("artifactType", "").replace("%2B", "+").replace("%2F", "/")
        with LOCK:
            lst = [e for e in REFERRERS.get((repo, digest), [])
                   if not want or e.get("artifactType") == want]
        doc = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
               "manifests": lst}
        headers = {"OCI-Filters-Applied": "artifactType"} if want else {}
        self.reply(200, json.dumps(doc).encode(), headers,
                   "application/vnd.oci.image.index.v1+json")

    def blob(self, repo, digest):
        if fault("endless-blob") == digest and self.command == "GET":
            return self.stream(200, os.urandom(1 << 16), 0)
        with LOCK:
            b = BLOBS.get(digest)
        if b is None:
            return self.error(404, "BLOB_UNKNOWN", "blob unknown")
        self.reply(200, b, {"Docker-Content-Digest": digest}, "application/octet-stream")

    def upload(self, repo, uid, query):
        params = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
        if self.command == "POST":
            self.body()
            if "mount" in params:
                pass  # never mounts: an upload follows
            uid = uuid.uuid4().hex
            with LOCK:
                UPLOADS[uid] = bytearray()
            if fault("upload-location-http"):
                loc = "http://127.0.0.1:%d/v2/%s/blobs/uploads/%s" % (PLAIN_PORT[0], repo, uid)
            else:
                loc = "/v2/%s/blobs/uploads/%s" % (repo, uid)
            if fault("location-fragment"):
                loc += "#frag"
            return self.reply(202, headers={"Location": loc, "Range": "0-0",
                                            "Docker-Upload-UUID": uid})
        with LOCK:
            buf = UPLOADS.get(uid)
        if buf is None:
            self.body()
            return self.error(404, "BLOB_UPLOAD_UNKNOWN", "upload unknown")
        loc = "/v2/%s/blobs/uploads/%s" % (repo, uid)
        if self.command == "GET":
            rng = fault("upload-range")
            rng = rng if rng else str(max(len(buf) - 1, 0))
            return self.reply(204, headers={"Location": loc, "Range": "0-" + rng})
        if self.command == "PATCH":
            data = self.body()
            with LOCK:
                PATCHES[0] += 1
                first = PATCHES[0] == 1
            if first and fault("drop-first-patch"):
                log("PATCH %s dropped auth=%s" % (self.path.split("?")[0],
                                                  "yes" if self.headers.get("Authorization") else "no"))
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            buf.extend(data)
            return self.reply(202, headers={"Location": loc, "Range": "0-%d" % (len(buf) - 1)})
        if self.command == "PUT":
            buf.extend(self.body())
            digest = params.get("digest", "")
            if "sha256:" + hashlib.sha256(bytes(buf)).hexdigest() != digest:
                return self.error(400, "DIGEST_INVALID", "digest does not match")
            with LOCK:
                BLOBS[digest] = bytes(buf)
                del UPLOADS[uid]
            return self.reply(201, headers={"Location": "/v2/%s/blobs/%s" % (repo, digest),
                                            "Docker-Content-Digest": digest})
        if self.command == "DELETE":
            return self.reply(204)
        return self.reply(405)

    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = route


def seed(layout):
    with open(os.path.join(layout, "index.json")) as f:
        index = json.load(f)
    root = os.path.join(layout, "blobs", "sha256")
    for name in os.listdir(root):
        with open(os.path.join(root, name), "rb") as f:
            BLOBS["sha256:" + name] = f.read()
    for d in index.get("manifests", []):
        data = BLOBS[d["digest"]]
        MANIFESTS[("seed", d["digest"])] = (d["mediaType"], data)
        tag = d.get("annotations", {}).get("org.opencontainers.image.ref.name")
        if tag:
            MANIFESTS[("seed", tag.rsplit(":", 1)[-1])] = (d["mediaType"], data)


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--port-file", required=True)
    p.add_argument("--plain-port-file", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    p.add_argument("--basic")
    p.add_argument("--bearer")
    p.add_argument("--realm")
    p.add_argument("--seed-layout")
    p.add_argument("--fault", action="append", default=[])
    p.add_argument("--referrers", nargs="?", const="header", choices=("header", "no-header"))
    ARGS = p.parse_args()
    for f in ARGS.fault:
        k, _, v = f.partition("=")
        FAULTS[k] = v or "1"
    if ARGS.seed_layout:
        seed(ARGS.seed_layout)
    plain = ThreadingHTTPServer(("127.0.0.1", 0), Plain)
    plain.daemon_threads = True
    PLAIN_PORT[0] = plain.server_address[1]
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Registry)
    srv.daemon_threads = True
    if ARGS.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(ARGS.tls[0], ARGS.tls[1])
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=plain.serve_forever, daemon=True).start()
    for path, port in ((ARGS.plain_port_file, PLAIN_PORT[0]), (ARGS.port_file, srv.server_address[1])):
        with open(path + ".tmp", "w") as f:
            f.write(str(port))
        os.rename(path + ".tmp", path)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
