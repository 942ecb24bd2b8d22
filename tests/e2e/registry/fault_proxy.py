#!/usr/bin/python3
"""Fault-injecting reverse proxy for the ocibuild registry end-to-end tests.

Sits in front of a registry (tests/e2e/t_registry.sh, reg_start plain or
basic) on its own port of 127.0.0.1 and forwards every request to it:
method, path and query, headers (Authorization included; hop-by-hop ones
dropped), body (buffered). It returns the registry's status, headers and
body; a Location that points at the registry is rewritten to point at the
proxy (relative Locations already do).

Optional behaviours:

  --redirect-blobs
      GET /v2/<repo>/blobs/<digest> is fetched from the registry with the
      client's own headers (so its Authorization). A 200 is not passed on:
      the client gets 307 with
          Location: http://127.0.0.1:<store port>/store/<digest>?sig=x
      and a second server in this process (the "object store") serves the
      bytes. Any other answer (401, 404, ...) is passed on unchanged. The
      store logs every request it gets, with whether it carried an
      Authorization header ("store GET <digest> auth=yes|no"); it knows
      only the blobs the proxy fetched for a redirect (404 otherwise).
  --corrupt-store [DIGEST]
      the store flips one byte of what it serves (of every blob, or only of
      DIGEST); the length stays the same.
  --fail-first N --fail-status CODE [--retry-after S] [--fail-path REGEX]
  [--fail-method METHOD] [--fail-query REGEX]
      the first N requests whose path (without the query) matches REGEX
      (default: any /v2/ path except /v2/ itself), and whose method is
      METHOD and query matches the --fail-query REGEX when given, are
      answered with CODE, a
      JSON error body {"errors": [{"code", "message"}]} (--fail-code,
      --fail-message to choose them) and, when given, Retry-After: S.
      Later requests are forwarded.
  --drop-first-patch BYTES
      the first PATCH of an upload is not answered: its first BYTES bytes
      (none for 0) are forwarded to the registry as a PATCH of their own,
      then the client's connection is closed. The registry then holds
      BYTES bytes of the upload, as after a connection lost mid-chunk.
  --delay S --delay-path REGEX
      requests whose path matches REGEX are held S seconds before they are
      forwarded (so that requests made at the same time show in the log as
      arriving while others are still held).

Log (--log), one line per request, each starting with the time the request
arrived (seconds since the epoch, 3 decimals; lines are written when the
answer is known, so they need not be in time order); no header values and
no bodies are logged:
  T proxy <port> store <port>                    once, at start
  T forward METHOD PATH -> STATUS                forwarded
  T redirect METHOD PATH -> 307 store            (--redirect-blobs)
  T injected STATUS METHOD PATH n=K              an injected failure
  T store GET DIGEST auth=yes|no -> STATUS [corrupted]   (HEAD likewise)
  T unparsed MESSAGE                             a request http.server could not
                                                 parse (a TLS handshake, say)

Options: --upstream HOST:PORT (required), --log FILE (required),
--port-file FILE (required; line 1 the proxy port, line 2 the store port,
written once both listen), --port N (default 0: any free port).
"""

import argparse
import http.client
import http.server
import json
import os
import re
import socket
import sys
import threading
import time
import urllib.parse

HOP = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
    "trailer", "trailers", "transfer-encoding", "upgrade", "expect", "content-length",
    "host", "server", "date",  # the proxy sends its own Server and Date
}
DEFAULT_CODES = {
    400: "BLOB_UPLOAD_INVALID", 401: "UNAUTHORIZED", 403: "DENIED", 404: "NOT_FOUND",
    429: "TOOMANYREQUESTS", 500: "UNKNOWN", 502: "UNAVAILABLE", 503: "UNAVAILABLE",
}
BLOB_GET = re.compile(r"^/v2/(.+)/blobs/(sha256:[0-9a-f]{64})$")


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--upstream", required=True, help="HOST:PORT of the registry")
    p.add_argument("--log", required=True)
    p.add_argument("--port-file", required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--redirect-blobs", action="store_true")
    p.add_argument("--corrupt-store", nargs="?", const="all", default=None)
    p.add_argument("--fail-first", type=int, default=0)
    p.add_argument("--fail-status", type=int, default=503)
    p.add_argument("--retry-after", default=None)
    p.add_argument("--fail-path", default=r"^/v2/.+")
    p.add_argument("--fail-method", default=None)
    p.add_argument("--fail-query", default=None)
    p.add_argument("--fail-code", default=None)
    p.add_argument("--fail-message", default=None)
    p.add_argument("--drop-first-patch", type=int, default=None)
    p.add_argument("--delay", type=float, default=0.0)
    p.add_argument("--delay-path", default=r"^$")
    return p.parse_args()


ARGS = parse_args()
FAIL_RE = re.compile(ARGS.fail_path)
LOCK = threading.Lock()
STATE = {"failed": 0, "proxy_port": 0, "store_port": 0}
STASH = {}  # digest -> (repo, bytes)


def log(line, t=None):
    """t: when the request arrived (default: now)"""
    with LOCK:
        with open(ARGS.log, "a") as f:
            f.write("%.3f %s\n" % (time.time() if t is None else t, line))


def upstream(method, target, headers, body):
    """(status, [(name, value)], body) from the registry; headers: list of pairs."""
    conn = http.client.HTTPConnection(ARGS.upstream, timeout=120)
    try:
        conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", ARGS.upstream)
        for k, v in headers:
            conn.putheader(k, v)
        if body or method in ("POST", "PUT", "PATCH"):
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders()
        if body:
            conn.send(body)
        resp = conn.getresponse()
        data = resp.read() if method != "HEAD" else b""
        return resp.status, resp.getheaders(), data
    finally:
        conn.close()


class Base(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet stderr
        pass

    def log_error(self, fmt, *args):
        # what http.server could not parse, such as a TLS ClientHello sent
        # to this plain-HTTP listener
        log("unparsed %s" % (fmt % args)[:80].encode("ascii", "backslashreplace").decode())

    def read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            out = bytearray()
            while True:
                line = self.rfile.readline()
                n = int(line.split(b";")[0].strip() or b"0", 16)
                if n == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                out += self.rfile.read(n)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def send(self, status, headers, body, head=False, length=None):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        if body and not head:
            self.wfile.write(body)

    def send_json(self, status, obj, extra=()):
        body = json.dumps(obj).encode()
        self.send(status, [("Content-Type", "application/json")] + list(extra), body,
                  head=self.command == "HEAD")


class Proxy(Base):
    def rewrite_location(self, value):
        for scheme in ("http://", "https://"):
            for host in (ARGS.upstream, ARGS.upstream.replace("127.0.0.1", "localhost")):
                pre = scheme + host
                if value.startswith(pre) and (len(value) == len(pre) or value[len(pre)] in "/?"):
                    return "http://127.0.0.1:%d%s" % (STATE["proxy_port"], value[len(pre):])
        return value

    def maybe_fail(self, path, t):
        if ARGS.fail_first <= 0 or path == "/v2/" or not FAIL_RE.search(path):
            return False
        if ARGS.fail_method and self.command != ARGS.fail_method:
            return False
        if ARGS.fail_query and not re.search(ARGS.fail_query,
                                             urllib.parse.urlsplit(self.path).query):
            return False
        with LOCK:
            if STATE["failed"] >= ARGS.fail_first:
                return False
            STATE["failed"] += 1
            k = STATE["failed"]
        st = ARGS.fail_status
        log("injected %d %s %s n=%d" % (st, self.command, path, k), t)
        code = ARGS.fail_code or DEFAULT_CODES.get(st, "UNKNOWN")
        msg = ARGS.fail_message or "injected by fault_proxy (%d)" % st
        extra = [("Retry-After", ARGS.retry_after)] if ARGS.retry_after is not None else []
        extra.append(("Docker-Distribution-Api-Version", "registry/2.0"))
        self.send_json(st, {"errors": [{"code": code, "message": msg, "detail": None}]}, extra)
        return True

    def handle_any(self):
        t = time.time()
        path = urllib.parse.urlsplit(self.path).path
        body = self.read_body()
        if self.maybe_fail(path, t):
            return
        if self.command == "PATCH" and ARGS.drop_first_patch is not None:
            with LOCK:
                first = not STATE.get("dropped")
                STATE["dropped"] = True
            if first:
                return self.drop_patch(path, body, t)
        if ARGS.delay > 0 and re.search(ARGS.delay_path, path):
            time.sleep(ARGS.delay)
        headers = [(k, v) for k, v in self.headers.items() if k.lower() not in HOP]
        try:
            status, rheaders, data = upstream(self.command, self.path, headers, body)
        except OSError as e:
            log("forward %s %s -> 502 (%s)" % (self.command, path, e.__class__.__name__), t)
            return self.send_json(502, {"errors": [{"code": "UNAVAILABLE", "message": "upstream: %s" % e}]})
        m = BLOB_GET.match(path)
        if ARGS.redirect_blobs and self.command == "GET" and m and status == 200:
            digest = m.group(2)
            with LOCK:
                STASH[digest] = (m.group(1), data)
            loc = "http://127.0.0.1:%d/store/%s?sig=x" % (STATE["store_port"], digest)
            log("redirect GET %s -> 307 store" % path, t)
            return self.send(307, [("Location", loc),
                                   ("Docker-Distribution-Api-Version", "registry/2.0")], b"")
        out = []
        length = None
        for k, v in rheaders:
            kl = k.lower()
            if kl == "content-length":
                if self.command == "HEAD":
                    length = v
                continue
            if kl in HOP:
                continue
            if kl == "location":
                v = self.rewrite_location(v)
            out.append((k, v))
        log("forward %s %s -> %d" % (self.command, path, status), t)
        self.send(status, out, data, head=self.command == "HEAD", length=length)

    def drop_patch(self, path, body, t):
        n = min(ARGS.drop_first_patch, len(body))
        status = "-"
        if n > 0:
            headers = [(k, v) for k, v in self.headers.items()
                       if k.lower() not in HOP and k.lower() != "content-range"]
            headers.append(("Content-Range", "0-%d" % (n - 1)))
            try:
                status = upstream("PATCH", self.path, headers, body[:n])[0]
            except OSError as e:
                status = e.__class__.__name__
        log("dropped PATCH %s after forwarding %d bytes (%s)" % (path, n, status), t)
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any


class Store(Base):
    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        auth = "yes" if self.headers.get("Authorization") is not None else "no"
        mm = re.match(r"^/store/(sha256:[0-9a-f]{64})$", u.path)
        if not mm:
            log("store %s %s auth=%s -> 404" % (self.command, u.path, auth))
            return self.send_json(404, {"errors": [{"code": "NOT_FOUND"}]})
        digest = mm.group(1)
        with LOCK:
            hit = STASH.get(digest)
        if hit is None:
            log("store %s %s auth=%s -> 404 (not stashed)" % (self.command, digest, auth))
            return self.send_json(404, {"errors": [{"code": "BLOB_UNKNOWN"}]})
        data = hit[1]
        note = ""
        if ARGS.corrupt_store in ("all", digest) and data:
            b = bytearray(data)
            b[len(b) // 2] ^= 0xFF
            data = bytes(b)
            note = " corrupted"
        log("store %s %s auth=%s -> 200%s" % (self.command, digest, auth, note))
        self.send(200, [("Content-Type", "application/octet-stream")], data,
                  head=self.command == "HEAD")

    do_HEAD = do_GET


def main():
    proxy = http.server.ThreadingHTTPServer(("127.0.0.1", ARGS.port), Proxy)
    store = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Store)
    proxy.daemon_threads = store.daemon_threads = True
    STATE["proxy_port"] = proxy.server_address[1]
    STATE["store_port"] = store.server_address[1]
    threading.Thread(target=store.serve_forever, daemon=True).start()
    log("proxy %d store %d" % (STATE["proxy_port"], STATE["store_port"]))
    tmp = ARGS.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n%d\n" % (STATE["proxy_port"], STATE["store_port"]))
    os.rename(tmp, ARGS.port_file)
    try:
        proxy.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
