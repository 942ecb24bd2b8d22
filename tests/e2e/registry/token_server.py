#!/usr/bin/python3
"""Minimal Docker registry token server for the ocibuild end-to-end tests.

Implements the token endpoint of the distribution "token" auth scheme:

  GET  /token?service=S&scope=repository:NAME:ACTIONS[&scope=...]
       with optional HTTP Basic credentials
  POST /token  (OAuth2 form: grant_type=password|refresh_token, service,
       scope (space separated), username/password or refresh_token)

Answers {"token", "access_token", "expires_in", "issued_at"} where the
token is an RS256 JWT whose header carries x5c (the signing certificate),
which the registry checks against its rootcertbundle.

Authenticated users get every action they ask for; anonymous requests get
a token granting nothing (or "pull" only, with --anonymous-pull); wrong
credentials get 401.

Options (all required unless noted):
  --key FILE --cert FILE     PEM signing key and its (self-signed) certificate
  --issuer NAME --service NAME
  --log FILE                 one line per request (never a password)
  --port-file FILE           the listening port is written there once ready
  --port N                   port to bind on 127.0.0.1 (default 0: any free)
Environment:
  TOKEN_USER, TOKEN_PASSWORD  the one account (none: anonymous only)
  TOKEN_EXPIRES_IN            token lifetime in seconds (default 300)
  TOKEN_PAD                   add a "pad" claim of that many characters
                              (default 0), to vary the size of the token
  TOKEN_EXP_SKEW              seconds subtracted from the JWT exp claim
                              (default 0); the registry accepts tokens up to
                              60 s after exp, so a skew of 60 makes the
                              registry refuse a token once expires_in is over
"""

import argparse
import base64
import http.server
import json
import os
import secrets
import sys
import threading
import time
import urllib.parse

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization

ACTIONS = ("pull", "push", "delete", "*")


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--key", required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--issuer", required=True)
    p.add_argument("--service", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--port-file", required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--anonymous-pull", action="store_true")
    return p.parse_args()


ARGS = parse_args()
with open(ARGS.key, "rb") as f:
    KEY = serialization.load_pem_private_key(f.read(), password=None)
with open(ARGS.cert, "rb") as f:
    CERT = x509.load_pem_x509_certificate(f.read())
X5C = [base64.b64encode(CERT.public_bytes(serialization.Encoding.DER)).decode()]
USER = os.environ.get("TOKEN_USER")
PASSWORD = os.environ.get("TOKEN_PASSWORD")
EXPIRES_IN = int(os.environ.get("TOKEN_EXPIRES_IN", "300"))
EXP_SKEW = int(os.environ.get("TOKEN_EXP_SKEW", "0"))
PAD = int(os.environ.get("TOKEN_PAD", "0"))
LOG_LOCK = threading.Lock()
REFRESH = {}  # refresh token -> user


def log(line):
    with LOG_LOCK:
        with open(ARGS.log, "a") as f:
            f.write(line + "\n")


def parse_scopes(values):
    """['repository:a/b:pull,push repository:c:pull', ...] -> [(type, name, [actions])]"""
    out = []
    for v in values:
        for s in v.split():
            parts = s.split(":")
            if len(parts) < 3:
                continue
            typ, name, acts = parts[0], ":".join(parts[1:-1]), parts[-1]
            out.append((typ, name, [a for a in acts.split(",") if a]))
    return out


def grant(user, scopes):
    access = []
    for typ, name, acts in scopes:
        if user is not None:
            ok = [a for a in acts if a in ACTIONS]
        elif ARGS.anonymous_pull:
            ok = [a for a in acts if a == "pull"]
        else:
            ok = []
        # merge with an earlier entry for the same resource
        for a in access:
            if a["type"] == typ and a["name"] == name:
                a["actions"] = sorted(set(a["actions"]) | set(ok))
                break
        else:
            access.append({"type": typ, "name": name, "actions": sorted(set(ok))})
    return access


def make_token(user, access):
    now = int(time.time())
    claims = {
        "iss": ARGS.issuer,
        "sub": user or "",
        "aud": ARGS.service,
        "exp": now + EXPIRES_IN - EXP_SKEW,
        "nbf": now - 1,
        "iat": now,
        "jti": secrets.token_hex(16),
        "access": access,
    }
    if PAD > 0:
        claims["pad"] = "p" * PAD
    return jwt.encode(claims, KEY, algorithm="RS256", headers={"x5c": X5C})


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet stderr
        pass

    def reply(self, code, obj, extra=None):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def basic_user(self):
        """None: no credentials; False: wrong ones; else the user name."""
        h = self.headers.get("Authorization")
        if not h:
            return None
        kind, _, val = h.partition(" ")
        if kind.lower() != "basic":
            return False
        try:
            u, _, pw = base64.b64decode(val.strip()).decode().partition(":")
        except Exception:
            return False
        if USER is not None and u == USER and pw == PASSWORD:
            return u
        return False

    def issue(self, how, user, service, scopes, refresh=False):
        path = urllib.parse.urlsplit(self.path)
        if service != ARGS.service:
            log("%s %s %s auth=%s -> 400 bad service" % (self.command, path.path, how, user))
            return self.reply(400, {"errors": [{"code": "DENIED", "message": "unknown service"}]})
        access = grant(user, scopes)
        tok = make_token(user, access)
        obj = {
            "token": tok,
            "access_token": tok,
            "expires_in": EXPIRES_IN,
            "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        if refresh and user:
            rt = "rt-" + secrets.token_hex(16)
            REFRESH[rt] = user
            obj["refresh_token"] = rt
        granted = " ".join("%s:%s:%s" % (a["type"], a["name"], ",".join(a["actions"])) for a in access)
        log("%s %s %s auth=%s scopes=[%s] -> 200 granted=[%s]" % (
            self.command, path.path, how, user or "anonymous",
            " ".join("%s:%s:%s" % (t, n, ",".join(a)) for t, n, a in scopes), granted))
        return self.reply(200, obj)

    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        if u.path != "/token":
            log("GET %s -> 404" % u.path)
            return self.reply(404, {"errors": [{"code": "NOT_FOUND"}]})
        q = urllib.parse.parse_qs(u.query)
        user = self.basic_user()
        if user is False:
            log("GET /token basic auth=bad -> 401")
            return self.reply(401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]},
                              {"WWW-Authenticate": 'Basic realm="token"'})
        how = "basic" if user else "anonymous"
        offline = q.get("offline_token", ["false"])[0] == "true"
        return self.issue(how, user, q.get("service", [""])[0], parse_scopes(q.get("scope", [])),
                          refresh=offline)

    def do_POST(self):
        u = urllib.parse.urlsplit(self.path)
        n = int(self.headers.get("Content-Length") or 0)
        form = urllib.parse.parse_qs(self.rfile.read(n).decode())
        if u.path != "/token":
            log("POST %s -> 404" % u.path)
            return self.reply(404, {"errors": [{"code": "NOT_FOUND"}]})
        gt = form.get("grant_type", [""])[0]
        scopes = parse_scopes(form.get("scope", []))
        service = form.get("service", [""])[0]
        if gt == "password":
            user = form.get("username", [""])[0]
            pw = form.get("password", [""])[0]
            if USER is None or user != USER or pw != PASSWORD:
                log("POST /token password auth=bad -> 401")
                return self.reply(401, {"error": "invalid_grant"})
            return self.issue("password", user, service, scopes, refresh=True)
        if gt == "refresh_token":
            user = REFRESH.get(form.get("refresh_token", [""])[0])
            if not user:
                log("POST /token refresh_token auth=bad -> 401")
                return self.reply(401, {"error": "invalid_grant"})
            return self.issue("refresh_token", user, service, scopes)
        log("POST /token grant_type=%s -> 400" % gt)
        return self.reply(400, {"error": "unsupported_grant_type"})


def main():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", ARGS.port), Handler)
    srv.daemon_threads = True
    tmp = ARGS.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(tmp, ARGS.port_file)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
