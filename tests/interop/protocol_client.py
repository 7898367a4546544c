#!/usr/bin/python3
"""An interoperability test of ledgerd: a client in Python written from
docs/protocol.md alone (and the files it points to: proto/ledger.proto,
docs/events.md, docs/security.md), never from the daemon's or libledger's
source. If a check here fails while the C tests pass, either the daemon or
the document is wrong: the document must stay enough for a client in another
language.

How it talks: nanomsg through ctypes (libnanomsg.so.5, an NN_REQ socket and an
NN_SUB socket), requests signed with HMAC-SHA256 from the standard library,
messages encoded with the classes that protoc generates from
proto/ledger.proto (generated into the work directory on every run, and
imported with the python3-protobuf that comes with the same Debian release as
protoc). Over IPC only; the data directory lives in the work directory.

What it checks (each check prints "ok" or "FAIL"):
  - the worked example of protocol.md: signed bytes, MAC and request bytes,
    with python-protobuf's encoder and with a hand-written one;
  - `ledgerd init`: the operator key file (64 hex characters, mode 0600);
  - commands signed before the daemon's start: STALE_REQUEST;
  - the operator's head and principals queries; adding a partner, an admin
    agent, an auditor, a customer, customer users, grants and purchases;
    secrets returned once; stream versions;
  - retries: byte-for-byte resends, re-signed retries, same id by another
    principal, batches of committed and new commands, refused batches that
    keep nothing;
  - who may see what (roles of security.md), price hiding for customer users;
  - an exchange of one reservation for two replacements of different
    scopes: ids, states, the event's replacements, orders, refusals;
  - queries: reservations, savings plans now and as of a sequence or a
    recorded time, activity paging and its recorded and business time
    ranges, events paging (whole log, by partner, customer and type, past
    the head), inclusion proofs (leaf hash = SHA-256(0x00 || record)), tree
    sizes, billing (paged, and the tree size it was read at);
  - the doorbell (NN_SUB) and catching up from it;
  - the SP framing by hand over the Unix socket, without nanomsg: the REP and
    PUB headers, request ids, one Doorbell per message;
  - refusals: bad and empty MACs, unknown principals, stale and future
    timestamps, nonce replays, nonces of 15 and 17 bytes (the longer one
    not echoed), string fields holding a NUL byte (in the signed request and
    in a command of a batch), undecodable requests, undeclared enum values,
    reserved principal ids, requests over the size limit (no reply, the
    daemon keeps serving);
  - concurrency: the same command from several sockets at once is written
    once (every other reply a duplicate of it); commands expecting the same
    stream version: one commits, the others VERSION_CONFLICT; the log has no
    gaps and no command twice;
  - a restart: SIGTERM exits 0, requests signed before it are refused or
    answered as protocol.md says, committed commands stay duplicates.

Usage:
  protocol_client.py --ledgerd PATH --proto DIR --work DIR [--protoc PATH]

--ledgerd is the daemon binary, --proto the repository's proto directory,
--work a directory the test owns: it holds the data directory (recreated on
every run), the daemon's log and the generated ledger_pb2.py. The daemon is
started with `ledgerd --data WORK/data` and always stopped (SIGTERM, then
SIGKILL after a deadline). Exit status 0 only when every check passed.

The ok/FAIL bookkeeping, protoc's generation and import, the timeout scale
and the daemon's start and stop are interop_harness.py's, beside this file,
shared with audit_verifier.py: helpers that know nothing of the protocol, so
everything checked here still comes from protocol.md alone.
"""
import argparse
import ctypes
import hashlib
import hmac
import os
import re
import secrets
import shutil
import subprocess
import sys
import threading
import time


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import interop_harness  # noqa: E402
from interop_harness import (  # noqa: E402
    SCALE, add_protoc_option, check, exit_on_sigterm, fail_setup, load_pb, note, run_checks,
    summary)

pb = None  # set in main(): the classes protoc generates from proto/ledger.proto


# ---------------------------------------------------------------------------
# nanomsg through ctypes (constants from <nanomsg/nn.h>, reqrep.h, pubsub.h).

AF_SP = 1
NN_SOL_SOCKET = 0
NN_LINGER = 1
NN_SNDTIMEO = 4
NN_RCVTIMEO = 5
NN_RCVMAXSIZE = 16
NN_REQ = 3 * 16 + 0
NN_REQ_RESEND_IVL = 1
NN_SUB = 2 * 16 + 1
NN_SUB_SUBSCRIBE = 1
NN_MSG = ctypes.c_size_t(-1).value
NN_DONTWAIT = 1
NN_HAUSNUMERO = 156384712
ETIMEDOUT_NN = NN_HAUSNUMERO + 23
EAGAIN = 11


class NNError(Exception):
    def __init__(self, what, errno_):
        self.errno = errno_
        super().__init__("%s: %s (errno %d)" % (what, NN.strerror(errno_), errno_))

    @property
    def timed_out(self):
        return self.errno in (ETIMEDOUT_NN, 110, EAGAIN)


class NN:
    lib = None

    @classmethod
    def load(cls):
        if cls.lib is not None:
            return cls.lib
        lib = ctypes.CDLL("libnanomsg.so.5", use_errno=True)
        lib.nn_socket.argtypes = [ctypes.c_int, ctypes.c_int]
        lib.nn_socket.restype = ctypes.c_int
        lib.nn_close.argtypes = [ctypes.c_int]
        lib.nn_connect.argtypes = [ctypes.c_int, ctypes.c_char_p]
        lib.nn_setsockopt.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int,
                                      ctypes.c_void_p, ctypes.c_size_t]
        lib.nn_send.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int]
        lib.nn_send.restype = ctypes.c_int
        lib.nn_recv.argtypes = [ctypes.c_int, ctypes.POINTER(ctypes.c_void_p),
                                ctypes.c_size_t, ctypes.c_int]
        lib.nn_recv.restype = ctypes.c_int
        lib.nn_freemsg.argtypes = [ctypes.c_void_p]
        lib.nn_errno.restype = ctypes.c_int
        lib.nn_strerror.argtypes = [ctypes.c_int]
        lib.nn_strerror.restype = ctypes.c_char_p
        cls.lib = lib
        return lib

    @classmethod
    def strerror(cls, e):
        return cls.load().nn_strerror(e).decode()

    @classmethod
    def check(cls, rc, what):
        if rc < 0:
            raise NNError(what, cls.load().nn_errno())
        return rc


class Socket:
    def __init__(self, proto, url, timeout_ms=30000):
        lib = NN.load()
        self.lib = lib
        self.s = NN.check(lib.nn_socket(AF_SP, proto), "nn_socket")
        self.setopt_int(NN_SOL_SOCKET, NN_RCVTIMEO, timeout_ms * SCALE)
        self.setopt_int(NN_SOL_SOCKET, NN_SNDTIMEO, timeout_ms * SCALE)
        self.setopt_int(NN_SOL_SOCKET, NN_LINGER, 0)
        if proto == NN_SUB:
            NN.check(lib.nn_setsockopt(self.s, NN_SUB, NN_SUB_SUBSCRIBE, ctypes.c_char_p(b""),
                                       0), "subscribe")
        NN.check(lib.nn_connect(self.s, url.encode()), "nn_connect " + url)

    def setopt_int(self, level, opt, value):
        v = ctypes.c_int(value)
        NN.check(self.lib.nn_setsockopt(self.s, level, opt, ctypes.byref(v),
                                        ctypes.sizeof(v)), "nn_setsockopt")

    def send(self, data):
        NN.check(self.lib.nn_send(self.s, data, len(data), 0), "nn_send")

    def recv(self, flags=0):
        buf = ctypes.c_void_p()
        n = NN.check(self.lib.nn_recv(self.s, ctypes.byref(buf), NN_MSG, flags), "nn_recv")
        try:
            return ctypes.string_at(buf, n)
        finally:
            self.lib.nn_freemsg(buf)

    def close(self):
        self.lib.nn_close(self.s)


# ---------------------------------------------------------------------------
# Raw protobuf helpers (for deliberately malformed or hand-made messages).


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def fld_bytes(num, data):
    return varint((num << 3) | 2) + varint(len(data)) + data


def fld_varint(num, value):
    return varint(num << 3) + varint(value)


# ---------------------------------------------------------------------------
# The protocol.


def now_us():
    return int(time.time() * 1_000_000)


def read_key(path):
    text = open(path).read()
    hx = text.strip()
    if not re.fullmatch(r"[0-9a-f]{64}", hx):
        raise ValueError("%s: not 64 lower-case hex characters" % path)
    return bytes.fromhex(hx)


class Principal:
    def __init__(self, pid, secret):
        self.id = pid
        self.secret = secret

    def __repr__(self):
        return "Principal(%s)" % self.id


class Signed:
    """One signed request: its exact bytes and its nonce (kept for resends)."""

    def __init__(self, data, nonce, signed):
        self.data = data
        self.nonce = nonce
        self.signed = signed


class Client:
    def __init__(self, url, timeout_ms=30000):
        self.url = url
        self.sock = Socket(NN_REQ, url, timeout_ms)

    def close(self):
        self.sock.close()

    # -- signing -----------------------------------------------------------

    @staticmethod
    def sign_body_bytes(principal, body_bytes, ts_us=None, nonce=None, mac_override=None,
                        principal_id=None):
        """body_bytes: a serialized RequestBody (so malformed ones can be sent)."""
        if nonce is None:
            nonce = secrets.token_bytes(16)
        if ts_us is None:
            ts_us = now_us()
        pid = principal.id if principal_id is None else principal_id
        signed = (fld_bytes(1, pid.encode()) + fld_varint(2, ts_us & ((1 << 64) - 1)) +
                  fld_bytes(3, nonce) + fld_bytes(4, body_bytes))
        mac = hmac.new(principal.secret, signed, hashlib.sha256).digest()
        if mac_override is not None:
            mac = mac_override(mac)
        req = pb.Request(signed=signed, mac=mac).SerializeToString()
        return Signed(req, nonce, signed)

    @staticmethod
    def sign(principal, body, **kw):
        """body: a pb.RequestBody."""
        return Client.sign_body_bytes(principal, body.SerializeToString(), **kw)

    # -- sending -----------------------------------------------------------

    def send_raw(self, data):
        self.sock.send(data)
        raw = self.sock.recv()
        reply = pb.Reply()
        reply.ParseFromString(raw)
        return reply

    def send(self, sreq):
        reply = self.send_raw(sreq.data)
        if reply.request_nonce and reply.request_nonce != sreq.nonce:
            raise RuntimeError("PROTOCOL_ERROR: reply echoes another nonce")
        return reply

    def batch(self, principal, commands, **kw):
        """commands: a list of serialized Command bytes."""
        body = pb.RequestBody(batch=pb.CommandBatch(commands=commands))
        s = self.sign(principal, body, **kw)
        return self.send(s), s

    def query(self, principal, query, **kw):
        s = self.sign(principal, pb.RequestBody(query=query), **kw)
        return self.send(s)


def command(command_id, body_field, body, partner_id="", customer_id="", **env):
    c = pb.Command(command_id=command_id, partner_id=partner_id, customer_id=customer_id, **env)
    getattr(c, body_field).CopyFrom(body)
    return c.SerializeToString()


def code_name(code):
    try:
        return pb.ErrorCode.Name(code)
    except ValueError:
        return "code %d" % code


# ---------------------------------------------------------------------------
# Checks (check and note: interop_harness).


def expect(name, reply, code, **more):
    ok = reply.code == code
    detail = "got %s (%r), want %s" % (code_name(reply.code), reply.message, code_name(code))
    for k, v in more.items():
        got = getattr(reply, k)
        if got != v:
            ok = False
            detail += "; %s=%r want %r" % (k, got, v)
    check(name, ok, detail)
    return reply


# ---------------------------------------------------------------------------
# The worked example of docs/protocol.md, checked against this encoder.


def worked_example():
    print("worked example")
    secret = bytes(range(32))
    p = Principal("operator", secret)
    nonce = bytes(range(0xA0, 0xB0))
    ts = 1795000000000000
    sr = pb.SignedRequest(principal_id="operator", timestamp_us=ts, nonce=nonce,
                          body=pb.RequestBody(query=pb.Query(head=pb.HeadQuery())))
    signed = sr.SerializeToString()
    want = bytes.fromhex("0a086f70657261746f721080e0fc8ab09198031a10a0a1a2a3a4a5a6a7a8a9aaab"
                         "acadaeaf22051203920100")
    check("head example: signed bytes (python-protobuf encoder)", signed == want, signed.hex())
    s = Client.sign(p, pb.RequestBody(query=pb.Query(head=pb.HeadQuery())), ts_us=ts, nonce=nonce)
    check("head example: signed bytes (hand encoder)", s.signed == want, s.signed.hex())
    mac = hmac.new(secret, signed, hashlib.sha256).hexdigest()
    check("head example: mac", mac ==
          "6d180b057e19731b6455a548e157e34634ddf054ff26d2705cf5ab728cf3bee5", mac)
    check("head example: request is 80 bytes", len(s.data) == 80, str(len(s.data)))
    check("head example: request bytes", s.data.hex() ==
          "0a2c" + want.hex() + "1220" + mac, s.data.hex())

    cmd = command("c-1", "add_partner", pb.AddPartner(partner_id="contoso", name="Contoso"),
                  partner_id="contoso")
    check("command example: command bytes", cmd.hex() ==
          "0a03632d311a07636f6e746f736fa201120a07636f6e746f736f1207436f6e746f736f", cmd.hex())
    s = Client.sign(p, pb.RequestBody(batch=pb.CommandBatch(commands=[cmd])), ts_us=ts,
                    nonce=nonce)
    want2 = bytes.fromhex("0a086f70657261746f721080e0fc8ab09198031a10a0a1a2a3a4a5a6a7a8a9aaabacadaeaf22270a250a230a03"
                          "632d311a07636f6e746f736fa201120a07636f6e746f736f1207436f6e746f736f")
    check("command example: signed bytes (78)", s.signed == want2 and len(want2) == 78,
          s.signed.hex())
    mac2 = hmac.new(secret, s.signed, hashlib.sha256).hexdigest()
    check("command example: mac", mac2 ==
          "2847992fdc1068d413c3700245f94fea412450b0f41f4b0c38a415dd3fb526bd", mac2)


# ---------------------------------------------------------------------------
# Daemon management.


class Daemon(interop_harness.Daemon):
    """ledgerd on a data directory; stop() is interop_harness's."""

    def __init__(self, ledgerd, data, log_path):
        super().__init__(log_path)
        self.ledgerd = ledgerd
        self.data = os.path.abspath(data)
        self._starts = 0

    def init(self):
        """Runs `ledgerd init`; returns the operator key file path it printed."""
        out = subprocess.run([self.ledgerd, "init", "--data", self.data], check=True,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, timeout=120 * SCALE).stdout
        print(out.rstrip())
        m = re.search(r"its key is in (\S+)", out)
        if not m:
            raise RuntimeError("init printed no key file path: " + out)
        return m.group(1)

    def start(self, *extra):
        # Ready when the socket is there and the log has one more 'started' line.
        def ready():
            return os.path.exists(os.path.join(self.data, "ledger.sock")) and \
                self.started_line_count() > self._starts
        self.spawn([self.ledgerd, "--data", self.data] + list(extra), ready,
                   "logged no 'started' line")
        self._starts = self.started_line_count()

    def started_line_count(self):
        try:
            with open(self.log_path) as f:
                return sum(1 for line in f if "started" in line)
        except FileNotFoundError:
            return 0


# ---------------------------------------------------------------------------
# The scenario.


def run(args, daemon):
    worked_example()

    data = daemon.data
    req_url = "ipc://%s/ledger.sock" % data
    ev_url = "ipc://%s/events.sock" % data
    key_file = daemon.init()
    op = Principal("operator", read_key(key_file))
    # protocol.md: after every start, the first included, a command signed
    # before the start is STALE_REQUEST.
    pre_start = Client.sign(op, pb.RequestBody(batch=pb.CommandBatch(commands=[
        command("pre-start", "add_partner", pb.AddPartner(partner_id="pre", name="Pre"),
                partner_id="pre")])))
    daemon.start()

    kt = open(key_file).read()
    check("key file: 64 lower-case hex characters and a newline, mode 0600",
          re.fullmatch(r"[0-9a-f]{64}\n", kt) is not None and
          (os.stat(key_file).st_mode & 0o777) == 0o600, "%r %o" % (len(kt),
                                                                  os.stat(key_file).st_mode))
    tag = secrets.token_hex(3)
    partner = "p-" + tag
    customer = "c-" + tag
    sub1 = "sub-" + tag + "-1"
    sub_other = "sub-" + tag + "-x"
    user = "alice-" + tag

    # Subscribe to the doorbell first (protocol.md, "The doorbell and catching up").
    bell = Socket(NN_SUB, ev_url, timeout_ms=5000)
    cl = Client(req_url)
    try:
        r = cl.send(pre_start)
        expect("a command signed before the daemon's first start: STALE_REQUEST", r, 13)
        scenario(cl, bell, op, tag, partner, customer, sub1, sub_other, user, daemon, req_url)
        concurrency(req_url, op, tag)
    finally:
        cl.close()
        bell.close()
    rc = daemon.stop()
    check("daemon exits 0 on SIGTERM", rc == 0, "rc=%s" % rc)


def concurrency(url, op, tag, n=8, rounds=3):
    print("concurrency (%d sockets at once)" % n)
    cl = Client(url)
    try:
        part, cust = "cp-" + tag, "cc-" + tag
        r, _ = ok_batch(cl, op, [command("conc-partner", "add_partner",
                                         pb.AddPartner(partner_id=part, name="P"),
                                         partner_id=part)], "concurrency: AddPartner")
        r, _ = ok_batch(cl, op, [command("conc-admin", "add_principal",
                                         pb.AddPrincipal(principal_id="cad-" + tag,
                                                         role=pb.ROLE_ADMIN_AGENT,
                                                         partner_id=part))],
                        "concurrency: AddPrincipal admin agent")
        ad = Principal("cad-" + tag, bytes.fromhex(r.results[0].secret_hex))
        r, _ = ok_batch(cl, op, [command("conc-auditor", "add_principal",
                                         pb.AddPrincipal(principal_id="cau-" + tag,
                                                         role=pb.ROLE_AUDITOR))],
                        "concurrency: AddPrincipal auditor")
        au = Principal("cau-" + tag, bytes.fromhex(r.results[0].secret_hex))
        r, _ = ok_batch(cl, ad, [command("conc-onboard", "onboard_customer",
                                         pb.OnboardCustomer(name="K"), customer_id=cust)],
                        "concurrency: OnboardCustomer")
        ver = r.results[0].stream_version

        def fire_all(per_socket):
            """Sends per_socket[i] from socket i, all released together."""
            results = [None] * len(per_socket)
            errs = []
            barrier = threading.Barrier(len(per_socket))

            def fire(i):
                c = Client(url)
                try:
                    barrier.wait(60 * SCALE)
                    results[i] = c.batch(ad, per_socket[i])[0]
                except Exception as e:  # noqa: BLE001
                    errs.append(repr(e))
                finally:
                    c.close()
            ths = [threading.Thread(target=fire, args=(i,)) for i in range(len(per_socket))]
            for t in ths:
                t.start()
            for t in ths:
                t.join(120 * SCALE)
            return results, errs

        for k in range(rounds):
            same = command("same-%d" % k, "purchase_subscription",
                           pb.PurchaseSubscription(subscription_id="s-%d" % k,
                                                   offer=pb.OFFER_AZURE_PLAN), customer_id=cust)
            res, errs = fire_all([[same]] * n)
            codes = [code_name(x.code) if x else "no reply" for x in res]
            oks = [x for x in res if x is not None and x.code == 0]
            firsts = set(x.results[0].first_sequence for x in oks)
            fresh = [x for x in oks if not x.results[0].duplicate]
            check("concurrency: the same command from %d sockets: all OK, written once, the "
                  "others duplicates of it (round %d)" % (n, k),
                  not errs and len(oks) == n and len(fresh) == 1 and len(firsts) == 1,
                  "codes %s errors %s fresh %d sequences %s" % (codes, errs, len(fresh), firsts))
            if fresh:
                ver = fresh[0].results[0].stream_version

        for k in range(rounds):
            per = [[command("ver-%d-%d" % (k, i), "purchase_subscription",
                            pb.PurchaseSubscription(subscription_id="v-%d-%d" % (k, i),
                                                    offer=pb.OFFER_OTHER),
                            customer_id=cust, check_version=True, expected_version=ver)]
                   for i in range(n)]
            res, errs = fire_all(per)
            codes = [code_name(x.code) if x else "no reply" for x in res]
            oks = [x for x in res if x is not None and x.code == 0]
            conflicts = [x for x in res if x is not None and x.code == 60]
            check("concurrency: %d commands expecting stream version %d: one OK, the others "
                  "VERSION_CONFLICT (round %d)" % (n, ver, k),
                  not errs and len(oks) == 1 and len(conflicts) == n - 1 and
                  oks[0].results[0].stream_version == ver + 1,
                  "codes %s errors %s" % (codes, errs))
            if oks:
                ver = max(x.results[0].stream_version for x in oks)

        entries, _ = events_all(cl, au, 0, limit=1000)
        seqs = [e.event.sequence for e in entries]
        check("concurrency: the log is 1..head with no gaps", seqs == list(range(1, len(seqs) + 1)),
              str(seqs[-5:]))
        seen = {}
        twice = []
        for e in entries:
            key = (e.event.actor.principal_id, e.event.command_id)
            if key in seen and e.event.command_id:
                twice.append(key)
            seen[key] = True
        check("concurrency: no command written twice", not twice, str(twice))
        sv = [e.event.stream_version for e in entries if e.event.customer_id == cust]
        check("concurrency: the customer's stream versions are 1..n with no gaps",
              sv == list(range(1, len(sv) + 1)), str(sv))
    finally:
        cl.close()


def ok_batch(cl, who, cmds, name):
    reply, s = cl.batch(who, cmds)
    expect(name, reply, 0)
    return reply, s


def scenario(cl, bell, op, tag, partner, customer, sub1, sub_other, user, daemon, req_url):
    print("operator")
    r = cl.query(op, pb.Query(head=pb.HeadQuery()))
    expect("operator head query", r, 0)
    check("head query: tree_size == head_sequence",
          r.query.head.tree_size == r.head_sequence, "%d %d" % (r.query.head.tree_size,
                                                                r.head_sequence))
    check("head query: 32-byte root and public key, 64-byte signature",
          len(r.query.head.root_hash) == 32 and len(r.query.head.public_key) == 32 and
          len(r.query.head.signature) == 64)
    start_head = r.head_sequence
    print("  head_sequence at start: %d" % start_head)

    r = cl.query(op, pb.Query(principals=pb.PrincipalsQuery()))
    expect("operator principals query", r, 0)
    check("principals query lists the operator",
          any(p.principal_id == op.id and p.role == pb.ROLE_OPERATOR for p in r.query.principals))

    r, _ = ok_batch(cl, op, [command("add-partner-" + tag, "add_partner",
                                     pb.AddPartner(partner_id=partner, name="Partner " + tag),
                                     partner_id=partner)], "AddPartner")
    check("AddPartner: one result, first == last sequence",
          len(r.results) == 1 and r.results[0].first_sequence == r.results[0].last_sequence > 0)

    # protocol.md (Command.partner_id) and events.md (PartnerRegistered): the
    # body's partner id stands in for an empty envelope field.
    r, _ = cl.batch(op, [command("add-partner2-" + tag, "add_partner",
                                 pb.AddPartner(partner_id=partner + "-2", name="Second"))])
    expect("AddPartner with an empty envelope partner_id: OK (the body's id stands in)", r, 0)

    # An admin agent (the envelope's partner left empty: the body's stands in).
    add_admin = command("add-admin-" + tag, "add_principal",
                        pb.AddPrincipal(principal_id="admin-" + tag, role=pb.ROLE_ADMIN_AGENT,
                                        partner_id=partner))
    r, _ = ok_batch(cl, op, [add_admin], "AddPrincipal admin agent (envelope partner empty)")
    admin = Principal("admin-" + tag, bytes.fromhex(r.results[0].secret_hex))
    check("AddPrincipal returns a 64-hex secret",
          re.fullmatch(r"[0-9a-f]{64}", r.results[0].secret_hex) is not None)
    admin_head = r.head_sequence

    # A retry of AddPrincipal (same command bytes, newly signed): duplicate, no secret.
    r, _ = cl.batch(op, [add_admin])
    expect("AddPrincipal retry: OK", r, 0)
    check("AddPrincipal retry: duplicate, no secret, head unchanged",
          r.results[0].duplicate and r.results[0].secret_hex == "" and
          r.head_sequence == admin_head,
          str(r.results[0]) + " head %d/%d" % (r.head_sequence, admin_head))

    # An auditor of all partners (for the events feed).
    r, _ = ok_batch(cl, op, [command("add-auditor-" + tag, "add_principal",
                                     pb.AddPrincipal(principal_id="auditor-" + tag,
                                                     role=pb.ROLE_AUDITOR))],
                    "AddPrincipal auditor of all partners")
    auditor = Principal("auditor-" + tag, bytes.fromhex(r.results[0].secret_hex))

    # A customer user of a customer not yet onboarded: CUSTOMER_NOT_FOUND
    # (envelope partner given = body's). It is added once the customer is.
    add_cuser = command("add-user-" + tag, "add_principal",
                        pb.AddPrincipal(principal_id="cu-" + tag, role=pb.ROLE_CUSTOMER_USER,
                                        partner_id=partner, customer_id=customer, user=user),
                        partner_id=partner)
    r, _ = cl.batch(op, [add_cuser])
    expect("AddPrincipal customer user before its customer: CUSTOMER_NOT_FOUND", r, 22,
           failed_index=0)

    # Envelope partner that differs from the body's: INVALID_ARGUMENT.
    r, _ = cl.batch(op, [command("add-bad-" + tag, "add_principal",
                                 pb.AddPrincipal(principal_id="x-" + tag,
                                                 role=pb.ROLE_SALES_AGENT, partner_id=partner),
                                 partner_id="other-" + tag)])
    expect("AddPrincipal with a different envelope partner: INVALID_ARGUMENT", r, 4,
           failed_index=0)
    # The envelope never stands in for an empty body partner.
    r, _ = cl.batch(op, [command("add-bad2-" + tag, "add_principal",
                                 pb.AddPrincipal(principal_id="x-" + tag,
                                                 role=pb.ROLE_SALES_AGENT),
                                 partner_id=partner)])
    expect("AddPrincipal sales agent with only the envelope partner: INVALID_ARGUMENT", r, 4)

    # The operator may not onboard customers (docs/security.md role table).
    r, _ = cl.batch(op, [command("op-onboard-" + tag, "onboard_customer",
                                 pb.OnboardCustomer(name="X"), partner_id=partner,
                                 customer_id=customer)])
    expect("operator OnboardCustomer: FORBIDDEN", r, 14)

    print("admin agent")
    ok_batch(cl, admin, [command("onboard-" + tag, "onboard_customer",
                                 pb.OnboardCustomer(name="Customer " + tag),
                                 customer_id=customer)], "OnboardCustomer")
    r, _ = ok_batch(cl, op, [add_cuser],
                    "AddPrincipal customer user (envelope partner = body partner)")
    cuser = Principal("cu-" + tag, bytes.fromhex(r.results[0].secret_hex))
    r, _ = ok_batch(cl, admin, [command("sub1-" + tag, "purchase_subscription",
                                        pb.PurchaseSubscription(subscription_id=sub1,
                                                                offer=pb.OFFER_AZURE_PLAN),
                                        customer_id=customer)], "PurchaseSubscription azure plan")
    check("stream_version after the subscription is 2", r.results[0].stream_version == 2,
          str(r.results[0].stream_version))
    ok_batch(cl, admin, [command("role-" + tag, "assign_role",
                                 pb.AssignRole(subscription_id=sub1, user=user,
                                               role=pb.AZURE_ROLE_OWNER),
                                 customer_id=customer)], "AssignRole Owner")

    def purchase(cid, qty=1, who_customer="", sub=sub1, price=100000, currency="USD"):
        return command(cid, "purchase_reservation", pb.PurchaseReservation(
            billing_subscription_id=sub, sku="Standard_D2s_v5", region="westeurope",
            quantity=qty, term=pb.TERM_P1Y, billing_plan=pb.BILLING_PLAN_UPFRONT,
            scope=pb.Scope(kind=pb.SCOPE_KIND_SHARED),
            price=pb.Money(amount_minor=price, currency=currency),
            retail_price=pb.Money(amount_minor=price + 20000, currency=currency),
            auto_renew=False), customer_id=who_customer)

    print("customer purchase before the permission, replay, permission, re-sign")
    cu_cmd = purchase("cu-buy-" + tag, qty=1)  # customer_id empty: its own customer
    r, refused = cl.batch(cuser, [cu_cmd])
    expect("customer purchase with the permission off: PERMISSION_OFF", r, 31, failed_index=0)

    r, _ = ok_batch(cl, admin, [command("grant-" + tag, "grant_permission",
                                        pb.GrantPermission(kind=pb.PERMISSION_KIND_RESERVATIONS),
                                        customer_id=customer)], "GrantPermission reservations")
    grant_seq = r.results[0].first_sequence
    r2, _ = cl.batch(admin, [command("grant2-" + tag, "grant_permission",
                                     pb.GrantPermission(kind=pb.PERMISSION_KIND_RESERVATIONS),
                                     customer_id=customer)])
    expect("GrantPermission again: PERMISSION_ALREADY_ON", r2, 29)

    r = cl.send(refused)
    expect("byte-for-byte replay of the refused request: the same code", r, 31)
    print("    (message: %r)" % r.message)
    r, _ = cl.batch(cuser, [cu_cmd])
    expect("re-signed refused command (same command id): OK", r, 0)
    cu_res = r.results[0]
    check("customer purchase ids are ord-/res-<seq>",
          cu_res.order_id == "ord-%d" % cu_res.first_sequence and
          cu_res.reservation_id == "res-%d" % cu_res.first_sequence, str(cu_res))

    print("partner purchase and retries")
    buy = purchase("buy-" + tag, qty=2, who_customer=customer)
    r, buy_req = cl.batch(admin, [buy])
    expect("partner PurchaseReservation", r, 0)
    res = r.results[0]
    buy_head = r.head_sequence
    check("partner purchase: head_sequence == last_sequence", buy_head == res.last_sequence,
          "%d %d" % (buy_head, res.last_sequence))

    r = cl.send(buy_req)  # the exact same request bytes (a replay / REQ resend)
    expect("byte-for-byte resend: OK", r, 0)
    check("byte-for-byte resend: duplicate, same result, head unchanged",
          len(r.results) == 1 and r.results[0].duplicate and
          r.results[0].reservation_id == res.reservation_id and
          r.results[0].first_sequence == res.first_sequence and r.head_sequence == buy_head,
          str(r))
    r, _ = cl.batch(admin, [buy])  # same command bytes, newly signed
    expect("re-signed retry: OK", r, 0)
    check("re-signed retry: duplicate, head unchanged",
          r.results[0].duplicate and r.head_sequence == buy_head, str(r))
    r, _ = cl.batch(admin, [purchase("buy-" + tag, qty=3, who_customer=customer)])
    expect("same command id, other bytes: COMMAND_ID_REUSED", r, 61, failed_index=0)

    # Command ids are per principal: the same id from another principal is new.
    r, _ = cl.batch(cuser, [purchase("buy-" + tag, qty=1)])
    expect("same command id from another principal: a new command", r, 0)
    check("same id, other principal: not a duplicate", not r.results[0].duplicate)

    # A batch: a committed command beside a new one.
    vis = command("vis-" + tag, "set_cost_visibility",
                  pb.SetCostVisibility(retail_prices_visible=True), customer_id=customer)
    r, _ = cl.batch(admin, [buy, vis])
    expect("batch [committed, new]: OK", r, 0)
    check("batch [committed, new]: duplicate then new",
          len(r.results) == 2 and r.results[0].duplicate and not r.results[1].duplicate and
          r.results[1].first_sequence == r.head_sequence, str(r))
    # The same command twice in one batch.
    rn = command("renew-flag-" + tag, "set_reservation_renewal",
                 pb.SetReservationRenewal(reservation_id=res.reservation_id, auto_renew=True),
                 customer_id=customer)
    r, _ = cl.batch(admin, [rn, rn])
    expect("batch [x, x]: OK", r, 0)
    check("batch [x, x]: second is a duplicate of the first",
          len(r.results) == 2 and not r.results[0].duplicate and r.results[1].duplicate and
          r.results[0].first_sequence == r.results[1].first_sequence, str(r))
    # Atomicity: [valid, refused] commits nothing.
    before = r.head_sequence
    good = command("sp-scope-" + tag, "change_reservation_scope",
                   pb.ChangeReservationScope(reservation_id=res.reservation_id,
                                             scope=pb.Scope(kind=pb.SCOPE_KIND_SINGLE,
                                                            target=sub1)),
                   customer_id=customer)
    bad = command("bad-" + tag, "purchase_subscription",
                  pb.PurchaseSubscription(subscription_id=sub1, offer=pb.OFFER_AZURE_PLAN),
                  customer_id=customer)
    r, _ = cl.batch(admin, [good, bad])
    expect("batch [valid, SUBSCRIPTION_EXISTS]: refused at index 1", r, 25, failed_index=1)
    check("refused batch: no results, head unchanged",
          len(r.results) == 0 and r.head_sequence == before, str(r))
    r, _ = cl.batch(admin, [good])
    expect("the valid command alone afterwards: OK", r, 0)
    check("the valid command alone: not a duplicate (nothing was kept)",
          not r.results[0].duplicate)

    # Expected versions.
    r, _ = cl.batch(admin, [command("vc-" + tag, "set_cost_visibility",
                                    pb.SetCostVisibility(retail_prices_visible=False),
                                    customer_id=customer, check_version=True,
                                    expected_version=1)])
    expect("check_version with an old version: VERSION_CONFLICT", r, 60)

    print("queries")
    r = cl.query(admin, pb.Query(reservations=pb.ReservationsQuery(customer_id=customer)))
    expect("admin reservations query", r, 0)
    ids = [row.reservation_id for row in r.query.reservations]
    check("reservations: the three purchases, in purchase order",
          len(ids) == 3 and ids[:2] == [cu_res.reservation_id, res.reservation_id],
          str(ids))
    row = [x for x in r.query.reservations if x.reservation_id == res.reservation_id][0]
    check("reservation row: quantity 2, active, partner purchaser, auto_renew on, scope single",
          row.quantity == 2 and row.state == pb.RESERVATION_STATE_ACTIVE and
          row.purchaser == pb.PURCHASER_PARTNER and row.auto_renew and
          row.scope.kind == pb.SCOPE_KIND_SINGLE, str(row))
    r = cl.query(admin, pb.Query(reservations=pb.ReservationsQuery()))
    expect("reservations without customer_id: INVALID_ARGUMENT", r, 4)
    r = cl.query(admin, pb.Query(reservations=pb.ReservationsQuery(customer_id="nobody")))
    expect("reservations of a customer the partner does not have: CUSTOMER_NOT_FOUND", r, 22)
    check("reservations of an unknown customer: no rows", len(r.query.reservations) == 0)
    r = cl.query(admin, pb.Query(billing=pb.BillingQuery(month="2026-01", customer_id="nobody")))
    expect("billing of a customer the partner does not have: CUSTOMER_NOT_FOUND", r, 22)
    r = cl.query(cuser, pb.Query(reservations=pb.ReservationsQuery()))
    expect("customer user reservations (own customer)", r, 0)
    check("customer user sees rows without the partner price",
          len(r.query.reservations) >= 1 and
          all(not x.HasField("price") for x in r.query.reservations), str(r.query))
    r = cl.query(op, pb.Query(partner_id=partner,
                              reservations=pb.ReservationsQuery(customer_id=customer)))
    expect("operator reservations: FORBIDDEN", r, 14)
    r = cl.query(auditor, pb.Query(reservations=pb.ReservationsQuery(customer_id=customer)))
    expect("all-partner auditor reservations without partner_id: INVALID_ARGUMENT", r, 4)
    r = cl.query(auditor, pb.Query(partner_id=partner,
                                   reservations=pb.ReservationsQuery(customer_id=customer)))
    expect("all-partner auditor reservations with partner_id", r, 0)
    check("auditor sees the three reservations", len(r.query.reservations) == 3)
    r = cl.query(admin, pb.Query(partner_id="other-" + tag,
                                 reservations=pb.ReservationsQuery(customer_id=customer)))
    expect("admin naming another partner: PARTNER_MISMATCH", r, 15)
    # A partner_id that is no id is INVALID_ARGUMENT for every principal
    # (protocol.md, Queries), before it is compared with the admin's own.
    r = cl.query(admin, pb.Query(partner_id="other\n" + tag,
                                 reservations=pb.ReservationsQuery(customer_id=customer)))
    expect("admin naming a partner id that is no id: INVALID_ARGUMENT", r, 4)
    check("... and the reply does not quote it", "\n" not in r.message, repr(r.message))

    # Savings plans as of a point (protocol.md, queries: as_of as for reservations).
    r, _ = ok_batch(cl, admin, [command("sp-buy-" + tag, "purchase_savings_plan",
                                        pb.PurchaseSavingsPlan(
                                            billing_subscription_id=sub1,
                                            hourly_commitment=pb.Money(amount_minor=250,
                                                                       currency="USD"),
                                            term=pb.TERM_P1Y,
                                            billing_plan=pb.BILLING_PLAN_UPFRONT,
                                            scope=pb.Scope(kind=pb.SCOPE_KIND_SHARED),
                                            price=pb.Money(amount_minor=2000000, currency="USD"),
                                            retail_price=pb.Money(amount_minor=2190000,
                                                                  currency="USD"),
                                            auto_renew=False),
                                        customer_id=customer)], "PurchaseSavingsPlan")
    plan_id, plan_seq = r.results[0].savings_plan_id, r.results[0].first_sequence
    r, _ = ok_batch(cl, admin, [command("sp-renew-" + tag, "set_savings_plan_renewal",
                                        pb.SetSavingsPlanRenewal(savings_plan_id=plan_id,
                                                                 auto_renew=True),
                                        customer_id=customer)], "SetSavingsPlanRenewal on")
    renew_seq = r.results[0].first_sequence

    def plans_as_of(sequence=0, time_us=0, business_time_us=0):
        q = pb.SavingsPlansQuery(customer_id=customer)
        if sequence or time_us or business_time_us:
            q.as_of.CopyFrom(pb.AsOf(sequence=sequence, time_us=time_us,
                                     business_time_us=business_time_us))
        return cl.query(admin, pb.Query(savings_plans=q))

    def plan_in(reply):
        rows = [x for x in reply.query.savings_plans if x.savings_plan_id == plan_id]
        return rows[0] if rows else None

    r = plans_as_of()
    expect("savings plans now", r, 0)
    check("savings plans now: the plan, auto-renew on", plan_in(r) is not None and
          plan_in(r).auto_renew, str(r.query))
    r = plans_as_of(sequence=plan_seq - 1)
    expect("savings plans as of the sequence before the purchase", r, 0)
    check("as of before the purchase: no such plan", plan_in(r) is None, str(r.query))
    r = plans_as_of(sequence=plan_seq)
    expect("savings plans as of the purchase", r, 0)
    check("as of the purchase: the plan, auto-renew still off",
          plan_in(r) is not None and not plan_in(r).auto_renew and
          plan_in(r).sequence == plan_seq, str(r.query))
    r = plans_as_of(sequence=renew_seq)
    check("as of the renewal change: auto-renew on", plan_in(r) is not None and
          plan_in(r).auto_renew, str(r.query))
    r = plans_as_of(time_us=1)
    expect("savings plans as of 1970 (by recorded time)", r, 0)
    check("as of 1970: no savings plans", len(r.query.savings_plans) == 0, str(r.query))
    r = plans_as_of(sequence=r.head_sequence + 1000)
    expect("savings plans as of a sequence past the log: INVALID_ARGUMENT", r, 4)
    # By business time (protocol.md, "As of a point"): these commands gave
    # none, so each is dated when recorded.
    year_9999_us = 253402300799 * 1000000
    r = plans_as_of(business_time_us=1)
    expect("savings plans as of 1970 by business time", r, 0)
    check("as of 1970 by business time: no savings plans", len(r.query.savings_plans) == 0,
          str(r.query))
    r = plans_as_of(business_time_us=year_9999_us)
    check("as of 9999 by business time: the plan, auto-renew on",
          plan_in(r) is not None and plan_in(r).auto_renew, str(r.query))
    r = plans_as_of(business_time_us=year_9999_us, sequence=plan_seq)
    check("as of 9999 by business time, known at the purchase: auto-renew still off",
          plan_in(r) is not None and not plan_in(r).auto_renew, str(r.query))
    r = plans_as_of(business_time_us=-1)
    expect("savings plans as of a negative business time: INVALID_ARGUMENT", r, 4)

    # Activity paging.
    seen, token, pages = [], "", 0
    while True:
        r = cl.query(admin, pb.Query(activity=pb.ActivityQuery(customer_id=customer, limit=2,
                                                                page_token=token)))
        if not expect("activity page %d" % pages, r, 0).code == 0:
            break
        seen += [a.sequence for a in r.query.activity]
        pages += 1
        token = r.query.next_page_token
        if not token or pages > 50:
            break
    check("activity pages: newest first, no repeats",
          seen == sorted(seen, reverse=True) and len(seen) == len(set(seen)) and len(seen) >= 5,
          str(seen))
    # Time ranges (protocol.md, queries): half-open, on recorded_us for the
    # activity log; negative bounds and an empty range are INVALID_ARGUMENT.
    r = cl.query(admin, pb.Query(activity=pb.ActivityQuery(customer_id=customer)))
    recorded = sorted(a.recorded_us for a in r.query.activity)
    cut = recorded[len(recorded) // 2]
    r = cl.query(admin, pb.Query(activity=pb.ActivityQuery(customer_id=customer, from_us=cut)))
    check("activity from_us: the rows recorded at or after it, and only those",
          expect("activity from a recorded time", r, 0).code == 0 and
          sorted(a.recorded_us for a in r.query.activity) == [t for t in recorded if t >= cut],
          str(r.query))
    r = cl.query(admin, pb.Query(activity=pb.ActivityQuery(customer_id=customer, to_us=cut)))
    check("activity to_us: the rows recorded before it, and only those",
          expect("activity up to a recorded time", r, 0).code == 0 and
          sorted(a.recorded_us for a in r.query.activity) == [t for t in recorded if t < cut],
          str(r.query))
    r = cl.query(admin, pb.Query(activity=pb.ActivityQuery(from_us=cut, to_us=cut)))
    expect("activity with to_us == from_us: INVALID_ARGUMENT", r, 4)
    # By business time (ActivityQuery fields 7 and 8): half-open on
    # ActivityRow.business_us; with from_us/to_us a row must be in both
    # ranges; an empty range is INVALID_ARGUMENT. One event dated back
    # (Command.business_us) to just after the customer's first makes the
    # two times disagree: recorded last, it happened among the first.
    r = cl.query(admin, pb.Query(activity=pb.ActivityQuery(customer_id=customer)))
    # Retail prices are visible to the customer (set above): hidden, dated
    # back, then visible again now, as the probes below expect.
    first = min(a.business_us for a in r.query.activity)
    r, _ = cl.batch(admin, [command("dated-" + tag, "set_cost_visibility",
                                    pb.SetCostVisibility(retail_prices_visible=False),
                                    customer_id=customer, business_us=first + 1)])
    expect("a command dated back to just after the customer's first event", r, 0)
    dated = r.head_sequence
    r, _ = cl.batch(admin, [command("undated-" + tag, "set_cost_visibility",
                                    pb.SetCostVisibility(retail_prices_visible=True),
                                    customer_id=customer)])
    expect("the same setting back, now", r, 0)
    r = cl.query(admin, pb.Query(activity=pb.ActivityQuery(customer_id=customer)))
    rows = [(a.sequence, a.recorded_us, a.business_us) for a in r.query.activity]
    r = cl.query(admin, pb.Query(activity=pb.ActivityQuery(customer_id=customer,
                                                            business_to_us=first + 2)))
    check("activity business_to_us: finds the event dated back, recorded last",
          expect("activity up to an early business time", r, 0).code == 0 and
          dated in [a.sequence for a in r.query.activity] and
          all(a.business_us < first + 2 for a in r.query.activity), str(r.query))
    business = sorted(b for _, _, b in rows)
    bcut = business[len(business) // 2]
    r = cl.query(admin, pb.Query(activity=pb.ActivityQuery(customer_id=customer,
                                                            business_from_us=bcut)))
    check("activity business_from_us: the rows that happened at or after it, and only those",
          expect("activity from a business time", r, 0).code == 0 and
          sorted(a.business_us for a in r.query.activity) == [b for b in business if b >= bcut],
          str(r.query))
    r = cl.query(admin, pb.Query(activity=pb.ActivityQuery(customer_id=customer,
                                                            business_to_us=bcut)))
    check("activity business_to_us: the rows that happened before it, and only those",
          expect("activity up to a business time", r, 0).code == 0 and
          sorted(a.business_us for a in r.query.activity) == [b for b in business if b < bcut],
          str(r.query))
    r = cl.query(admin, pb.Query(activity=pb.ActivityQuery(customer_id=customer, from_us=cut,
                                                            business_from_us=bcut)))
    check("activity by recorded and business time: the rows in both ranges",
          expect("activity by both times", r, 0).code == 0 and
          sorted(a.sequence for a in r.query.activity) ==
          sorted(q for q, t, b in rows if t >= cut and b >= bcut), str(r.query))
    r = cl.query(admin, pb.Query(activity=pb.ActivityQuery(business_from_us=bcut,
                                                            business_to_us=bcut)))
    expect("activity with business_to_us == business_from_us: INVALID_ARGUMENT", r, 4)
    r = cl.query(admin, pb.Query(orders=pb.OrdersQuery(customer_id=customer, from_us=-1)))
    expect("orders with a negative from_us: INVALID_ARGUMENT", r, 4)

    # Billing paging: pages of one row are the month unpaged, in order, and
    # total_rows counts them all on every page.
    month = time.strftime("%Y-%m", time.gmtime())
    whole = cl.query(admin, pb.Query(billing=pb.BillingQuery(month=month)))
    expect("billing of this month, unpaged", whole, 0)
    rows, token, pages, totals = [], "", 0, set()
    while True:
        r = cl.query(admin, pb.Query(billing=pb.BillingQuery(month=month, limit=1,
                                                              page_token=token)))
        if not expect("billing page %d" % pages, r, 0).code == 0:
            break
        rows += [b.SerializeToString() for b in r.query.billing]
        totals.add(r.query.total_rows)
        pages += 1
        token = r.query.next_page_token
        if not token or pages > 1000:
            break
    check("billing pages: the unpaged month row for row",
          rows == [b.SerializeToString() for b in whole.query.billing] and len(rows) >= 2 and
          totals == {len(rows)}, "%d paged rows, %d unpaged, totals %s" %
          (len(rows), len(whole.query.billing), totals))
    # BillingResult.tree_size (field 17): the tree the rows were read at,
    # the log's size when nothing is asked (nothing was committed since),
    # the same on every page, and the size asked when one is.
    trees = set()
    token = ""
    for _ in range(1000):
        r = cl.query(admin, pb.Query(billing=pb.BillingQuery(month=month, limit=1,
                                                              page_token=token)))
        if r.code != 0:
            break
        trees.add(r.query.tree_size)
        token = r.query.next_page_token
        if not token:
            break
    check("billing tree_size: the log's size, the same on every page",
          whole.query.tree_size == whole.head_sequence and trees == {whole.query.tree_size},
          "unpaged %d at head %d, pages %s" % (whole.query.tree_size, whole.head_sequence,
                                               sorted(trees)))
    older = max(1, whole.head_sequence - 1)
    r = cl.query(admin, pb.Query(billing=pb.BillingQuery(month=month, tree_size=older)))
    check("billing tree_size: the size asked",
          expect("billing at a tree size", r, 0).code == 0 and r.query.tree_size == older,
          "asked %d, got %d" % (older, r.query.tree_size))
    r = cl.query(admin, pb.Query(billing=pb.BillingQuery(month=month, page_token="x")))
    expect("billing page token without a limit: INVALID_ARGUMENT", r, 4)

    # Events, paged, as the auditor of all partners.
    print("events feed")
    entries, last = events_all(cl, auditor, 0, limit=2)
    head = cl.query(auditor, pb.Query(head=pb.HeadQuery())).head_sequence
    seqs = [e.event.sequence for e in entries]
    check("events: 1..head with no gaps (whole log, pages of 2)",
          seqs == list(range(1, len(seqs) + 1)) and last >= head and seqs[-1] >= head - 0,
          "%s head %d last %d" % (seqs[-5:], head, last))
    check("events: record decodes to event",
          all(pb.Event.FromString(e.record) == e.event for e in entries))
    ev_by_cmd = {}
    for e in entries:
        ev_by_cmd.setdefault((e.event.actor.principal_id, e.event.command_id), []).append(e)
    check("the retried purchase was appended once",
          len(ev_by_cmd.get((admin.id, "buy-" + tag), [])) == 1)
    check("the retried AddPrincipal was appended once",
          len(ev_by_cmd.get((op.id, "add-admin-" + tag), [])) == 1)
    check("the refused-then-resigned customer purchase was appended once",
          len(ev_by_cmd.get((cuser.id, "cu-buy-" + tag), [])) == 1)
    cu_ev = ev_by_cmd[(cuser.id, "cu-buy-" + tag)][0].event
    check("customer purchase: allowed_by names the grant", cu_ev.reservation_purchased.
          allowed_by.permission_sequence == grant_seq, str(cu_ev.reservation_purchased))
    check("customer purchase: actor is the customer user with its user name",
          cu_ev.actor.role == pb.ROLE_CUSTOMER_USER and cu_ev.actor.user == user)
    first = entries[0].event
    check("event 1: principal_added by ledgerd-init (ROLE_OPERATOR)",
          first.WhichOneof("body") == "principal_added" and
          first.actor.principal_id == "ledgerd-init" and first.actor.role == pb.ROLE_OPERATOR,
          "%s by %s (%s)" % (first.WhichOneof("body"), first.actor.principal_id,
                             pb.Role.Name(first.actor.role)))
    for e in entries:
        if e.event.command_hash and len(e.event.command_hash) != 32:
            check("command_hash is 32 bytes", False, str(e.event))
            break

    # Narrowed: the partner, the customer, one type, pages of 1.
    entries2, last2 = events_all(cl, auditor, 0, limit=1, partner_id=partner,
                                 customer_id=customer, types=["reservation_purchased"])
    fids = [e.event.reservation_purchased.reservation_id for e in entries2]
    check("filtered events: the three reservation purchases of the customer",
          len(fids) == 3 and fids[:2] == [cu_res.reservation_id, res.reservation_id] and
          all(e.event.customer_id == customer for e in entries2),
          str([e.event.sequence for e in entries2]))
    r = cl.query(auditor, pb.Query(events=pb.EventsQuery(customer_id=customer)))
    expect("events with customer_id but no partner_id (all-partner auditor): INVALID_ARGUMENT",
           r, 4)
    r = cl.query(auditor, pb.Query(events=pb.EventsQuery(after_sequence=head + 1000)))
    expect("events after the head: OK", r, 0)
    check("events after the head: no events, last_sequence = after_sequence",
          len(r.query.events) == 0 and r.query.last_sequence == head + 1000,
          str(r.query.last_sequence))
    r = cl.query(auditor, pb.Query(events=pb.EventsQuery(limit=10001)))
    expect("events limit 10001: INVALID_ARGUMENT", r, 4)
    r = cl.query(auditor, pb.Query(events=pb.EventsQuery(types=["no_such_event"])))
    expect("events with an unknown type: INVALID_ARGUMENT", r, 4)
    r = cl.query(auditor, pb.Query(events=pb.EventsQuery(limit=1, include_proofs=True)))
    expect("events with proofs", r, 0)
    if r.code == 0 and r.query.events:
        e = r.query.events[0]
        check("inclusion proof leaf hash = SHA-256(0x00 || record)",
              e.proof.leaf_hash == hashlib.sha256(b"\x00" + e.record).digest())
    r = cl.query(admin, pb.Query(events=pb.EventsQuery()))
    expect("admin agent events: FORBIDDEN (security.md)", r, 14)

    # Doorbell and catching up.
    print("doorbell")
    c = last
    drained = drain(bell)
    note("doorbells received so far (subscribed before any commit): %s" % drained)
    check("a doorbell was published for earlier commits", len(drained) > 0)
    r, _ = ok_batch(cl, admin, [command("sub2-" + tag, "purchase_subscription",
                                        pb.PurchaseSubscription(subscription_id=sub_other,
                                                                offer=pb.OFFER_OTHER),
                                        customer_id=customer)], "commit to ring the doorbell")
    committed = r.results[0].last_sequence
    got = None
    deadline = time.time() + 30 * SCALE
    while time.time() < deadline:
        try:
            raw = bell.recv()
        except NNError as e:
            if e.timed_out:
                break
            raise
        d = pb.Doorbell.FromString(raw)
        if d.head_sequence >= committed:
            got = d
            break
    check("doorbell with the new head arrives", got is not None and
          got.head_sequence == committed, str(got))
    if got is not None and got.head_sequence > c:
        new, c2 = events_all(cl, auditor, c, limit=500)
        check("catch-up after the doorbell returns the new event",
              [e.event.sequence for e in new] == list(range(c + 1, got.head_sequence + 1)) and
              new[-1].event.subscription_purchased.subscription_id == sub_other,
              str([e.event.sequence for e in new]))
        c = c2

    exchange(cl, admin, auditor, customer, partner, sub1, tag)
    probes(cl, op, admin, auditor, cuser, customer, partner, sub1, tag)
    raw_framing(req_url, req_url.replace("ledger.sock", "events.sock"), op, admin, customer, tag)
    errors(cl, op, admin, auditor, customer, tag)

    if daemon is not None:
        restart(cl, daemon, op, admin, customer, tag, req_url)


def exchange(cl, admin, auditor, customer, partner, sub1, tag):
    """ExchangeReservation of one reservation for two replacements of different
    scopes (events.md, ReservationExchanged; protocol.md, CommandResult ids)."""
    print("exchange")

    def reservation(sku, qty, scope, price, term=pb.TERM_P3Y):
        return pb.PurchaseReservation(
            billing_subscription_id=sub1, sku=sku, region="westeurope", quantity=qty,
            term=term, billing_plan=pb.BILLING_PLAN_UPFRONT, scope=scope,
            price=pb.Money(amount_minor=price, currency="USD"),
            retail_price=pb.Money(amount_minor=price + 10000, currency="USD"))

    def exchange_of(returned, refund, replacements):
        return pb.ExchangeReservation(reservation_ids=[returned],
                                      refund=pb.Money(amount_minor=refund, currency="USD"),
                                      replacements=replacements)

    shared = pb.Scope(kind=pb.SCOPE_KIND_SHARED)
    single = pb.Scope(kind=pb.SCOPE_KIND_SINGLE, target=sub1)
    r, _ = ok_batch(cl, admin, [command("xr-buy-" + tag, "purchase_reservation",
                                        reservation("Standard_D2s_v5", 1, shared, 100000,
                                                    term=pb.TERM_P1Y),
                                        customer_id=customer)], "a reservation to exchange")
    returned = r.results[0].reservation_id

    # The replacements together must commit at least what the returned one
    # still commits, which is at most its price (events.md, the rules).
    low = exchange_of(returned, 0, [reservation("Standard_E4s_v5", 1, shared, 1000),
                                    reservation("Standard_D4s_v5", 3, single, 1000)])
    r, _ = cl.batch(admin, [command("xr-low-" + tag, "exchange_reservation", low,
                                    customer_id=customer)])
    expect("exchange for replacements worth less: EXCHANGE_VALUE_TOO_LOW", r, 40, failed_index=0)
    bad = exchange_of(returned, 0, [reservation("Standard_E4s_v5", 1, shared, 60000),
                                    reservation("Standard_D4s_v5", 0, single, 50000)])
    r, _ = cl.batch(admin, [command("xr-bad-" + tag, "exchange_reservation", bad,
                                    customer_id=customer)])
    expect("exchange whose second replacement has quantity 0: INVALID_ARGUMENT", r, 4)
    note("the refusal of a second replacement: %r" % r.message)

    body = exchange_of(returned, 1000, [reservation("Standard_E4s_v5", 1, shared, 60000),
                                        reservation("Standard_D4s_v5", 3, single, 50000)])
    r, _ = ok_batch(cl, admin, [command("xr-" + tag, "exchange_reservation", body,
                                        customer_id=customer)],
                    "ExchangeReservation of one for two replacements")
    res = r.results[0]
    seq = res.last_sequence
    first, second = "res-%d" % seq, "res-%d-2" % seq
    orders = ["ord-%d" % seq, "ord-%d-2" % seq]
    check("exchange: one event; the first replacement's ids res-/ord-<last_sequence>",
          res.first_sequence == seq > 0 and res.reservation_id == first and
          res.order_id == orders[0], str(res))

    r = cl.query(admin, pb.Query(reservations=pb.ReservationsQuery(customer_id=customer)))
    expect("reservations after the exchange", r, 0)
    rows = {x.reservation_id: x for x in r.query.reservations}
    check("exchange: the returned reservation is exchanged",
          returned in rows and rows[returned].state == pb.RESERVATION_STATE_EXCHANGED,
          str(rows.get(returned)))
    check("exchange: both replacements active, each with its own order, quantity and scope",
          first in rows and second in rows and
          all(rows[i].state == pb.RESERVATION_STATE_ACTIVE and rows[i].sequence == seq and
              rows[i].purchaser == pb.PURCHASER_PARTNER for i in (first, second)) and
          [rows[first].order_id, rows[second].order_id] == orders and
          rows[first].quantity == 1 and rows[first].scope == shared and
          rows[second].quantity == 3 and rows[second].scope == single and
          rows[second].price.amount_minor == 50000,
          str([rows.get(first), rows.get(second)]))

    r = cl.query(auditor, pb.Query(partner_id=partner,
                                   events=pb.EventsQuery(after_sequence=seq - 1, limit=1)))
    expect("the exchange's event", r, 0)
    event = r.query.events[0].event if r.code == 0 and r.query.events else pb.Event()
    x = event.reservation_exchanged
    check("ReservationExchanged: schema version 2, the returned id, refund, two replacements",
          event.sequence == seq and event.WhichOneof("body") == "reservation_exchanged" and
          event.schema_version == 2 and list(x.returned_reservation_ids) == [returned] and
          x.refund.amount_minor == 1000 and
          1000 <= x.remaining_commitment.amount_minor <= 100000 and
          [p.reservation_id for p in x.replacements] == [first, second] and
          [p.order_id for p in x.replacements] == orders and
          [p.scope for p in x.replacements] == [shared, single] and
          all(p.purchaser == pb.PURCHASER_PARTNER for p in x.replacements), str(event))

    r = cl.query(admin, pb.Query(orders=pb.OrdersQuery(customer_id=customer)))
    expect("orders after the exchange", r, 0)
    kinds = [(o.order_id, o.kind) for o in r.query.orders if o.sequence == seq]
    check("orders: one of kind exchange per replacement",
          kinds == [(orders[0], "exchange"), (orders[1], "exchange")], str(kinds))

    r, _ = cl.batch(admin, [command("xr-" + tag, "exchange_reservation", body,
                                    customer_id=customer)])
    expect("the exchange again (the same command bytes): OK", r, 0)
    check("the exchange again: a duplicate with the same ids",
          r.results[0].duplicate and r.results[0].reservation_id == first, str(r.results[0]))


def events_all(cl, who, after, limit, partner_id="", **filters):
    """Pages the events query until last_sequence >= head (protocol.md, Paging)."""
    out = []
    c = after
    for _ in range(100000):
        r = cl.query(who, pb.Query(partner_id=partner_id,
                                   events=pb.EventsQuery(after_sequence=c, limit=limit,
                                                         **filters)))
        if r.code != 0:
            check("events page after %d" % c, False, "%s %r" % (code_name(r.code), r.message))
            return out, c
        prev = c
        for e in r.query.events:
            if e.event.sequence <= prev:
                check("events strictly increasing", False, str(e.event.sequence))
            prev = e.event.sequence
        if len(r.query.events) > limit:
            check("events page at most limit", False, str(len(r.query.events)))
        out += r.query.events
        if r.query.last_sequence < c:
            check("last_sequence does not go back", False)
            return out, c
        c = r.query.last_sequence
        if c >= r.head_sequence:
            return out, c
    return out, c


def drain(bell):
    seen = []
    while True:
        try:
            raw = bell.recv(NN_DONTWAIT)
        except NNError as e:
            if e.timed_out:
                return seen
            raise
        seen.append(pb.Doorbell.FromString(raw).head_sequence)


def raw_exchange(url, request_bytes, proto_mine=48, proto_peer=49, timeout=5.0):
    """The framing of protocol.md by hand, without nanomsg: returns (peer header, reply)."""
    import socket
    import struct
    if url.startswith("ipc://"):
        sk = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sk.settimeout(timeout * SCALE)
        sk.connect(url[len("ipc://"):])
        ipc = True
    else:
        host, port = url[len("tcp://"):].rsplit(":", 1)
        sk = socket.create_connection((host, int(port)), timeout * SCALE)
        ipc = False

    def readn(n):
        buf = b""
        while len(buf) < n:
            chunk = sk.recv(n - len(buf))
            if not chunk:
                raise EOFError("connection closed after %d of %d bytes" % (len(buf), n))
            buf += chunk
        return buf
    try:
        sk.sendall(b"\0SP\0" + struct.pack(">H", proto_mine) + b"\0\0")
        hdr = readn(8)
        if request_bytes is not None:  # (a SUB just reads one message)
            rid = struct.pack(">I", 0x80000000 | secrets.randbelow(1 << 31))
            msg = rid + request_bytes
            sk.sendall((b"\x01" if ipc else b"") + struct.pack(">Q", len(msg)) + msg)
        if ipc:
            t = readn(1)
            if t != b"\x01":
                raise ValueError("IPC message type %r" % t)
        n = struct.unpack(">Q", readn(8))[0]
        body = readn(n)
        if request_bytes is not None:
            if body[:4] != rid:
                raise ValueError("reply request id %s != %s" % (body[:4].hex(), rid.hex()))
            body = body[4:]
        return hdr, body
    finally:
        sk.close()


def raw_framing(req_url, ev_url, op, admin, customer, tag):
    print("framing by hand (no nanomsg)")
    s = Client.sign(op, pb.RequestBody(query=pb.Query(head=pb.HeadQuery())))
    hdr, body = raw_exchange(req_url, s.data)
    check("raw: daemon's header is 00 53 50 00 00 31 00 00 (REP 49)",
          hdr == bytes.fromhex("0053500000310000"), hdr.hex())
    r = pb.Reply.FromString(body)
    expect("raw: head query over hand-made framing", r, 0, request_nonce=s.nonce)
    # The doorbell by hand: connect as SUB (33), then make a commit.
    import threading
    result = {}

    def sub():
        try:
            result["v"] = raw_exchange(ev_url, None, proto_mine=33, proto_peer=32,
                                       timeout=40.0)
        except Exception as e:  # noqa: BLE001
            result["e"] = e
    th = threading.Thread(target=sub)
    th.start()
    # The subscriber is connected once the daemon has its header; until a
    # doorbell arrives, commit again (a poll with a deadline, not a sleep).
    c = Client(req_url)
    heads = set()
    try:
        deadline = time.time() + 30 * SCALE
        i = 0
        while th.is_alive() and time.time() < deadline:
            r, _ = c.batch(admin, [command("raw-bell-%s-%d" % (tag, i), "purchase_subscription",
                                           pb.PurchaseSubscription(
                                               subscription_id="s-raw-%s-%d" % (tag, i),
                                               offer=pb.OFFER_OTHER),
                                           customer_id=customer)])
            if r.code != 0:
                expect("raw: commit for the hand-made subscriber", r, 0)
                break
            heads.add(r.head_sequence)
            i += 1
            th.join(0.2)
    finally:
        c.close()
    th.join(30 * SCALE)
    if "v" in result:
        hdr, body = result["v"]
        check("raw: PUB header is 00 53 50 00 00 20 00 00 (PUB 32)",
              hdr == bytes.fromhex("0053500000200000"), hdr.hex())
        d = pb.Doorbell.FromString(body)
        check("raw: doorbell is one serialized Doorbell, no topic bytes",
              d.head_sequence in heads and body == d.SerializeToString(),
              body.hex())
    else:
        check("raw: hand-made subscriber got a doorbell", False, repr(result.get("e")))


def probes(cl, op, admin, auditor, cuser, customer, partner, sub1, tag):
    """Corners the document leaves open or states in one place only."""
    print("probes")
    vis = lambda cid, on: command(cid, "set_cost_visibility",
                                  pb.SetCostVisibility(retail_prices_visible=on),
                                  customer_id=customer)

    # Refusal memory: keyed by principal and nonce. MAC checked first?
    nonce = secrets.token_bytes(16)
    ref = cl.sign(admin, pb.RequestBody(batch=pb.CommandBatch(commands=[
        vis("probe-unch-" + tag, True)])), nonce=nonce)   # visibility is on: UNCHANGED
    r = cl.send(ref)
    expect("probe: a refused command (UNCHANGED)", r, 46)
    r = cl.send(cl.sign(admin, pb.RequestBody(batch=pb.CommandBatch(commands=[
        vis("probe-unch-" + tag, True)])), nonce=nonce, mac_override=lambda m: b"\0" * 32))
    expect("probe: same principal and nonce, bad MAC: BAD_SIGNATURE (MAC before memory)", r, 11)
    r = cl.send(cl.sign(admin, pb.RequestBody(batch=pb.CommandBatch(commands=[
        vis("probe-other-" + tag, False)])), nonce=nonce))
    expect("probe: a different command reusing a refused request's nonce is decided on its "
           "own: OK", r, 0)
    if r.code == 0:
        # put the visibility back on
        cl.batch(admin, [vis("probe-back-" + tag, True)])
    r = cl.send(cl.sign(admin, pb.RequestBody(query=pb.Query(
        reservations=pb.ReservationsQuery(customer_id=customer))), nonce=nonce))
    expect("probe: a query reusing a refused command request's nonce: OK", r, 0)

    # A refused batch whose command is FORBIDDEN at index 1.
    r, _ = cl.batch(admin, [vis("probe-f0-" + tag, False),
                            command("probe-f1-" + tag, "add_partner",
                                    pb.AddPartner(partner_id="zz-" + tag, name="Z"),
                                    partner_id="zz-" + tag)])
    expect("probe: FORBIDDEN at index 1: failed_index 1", r, 14, failed_index=1)

    # Enum values.
    r, _ = cl.batch(admin, [command("probe-enum-" + tag, "purchase_subscription",
                                    pb.PurchaseSubscription(subscription_id="s-enum-" + tag,
                                                            offer=99), customer_id=customer)])
    expect("probe: undeclared enum value: UNKNOWN_MESSAGE", r, 3)
    r, _ = cl.batch(admin, [command("probe-enum0-" + tag, "purchase_subscription",
                                    pb.PurchaseSubscription(subscription_id="s-enum-" + tag),
                                    customer_id=customer)])
    expect("probe: *_UNSPECIFIED enum: INVALID_ARGUMENT", r, 4)
    for pid, role, what in (("probe-sys-" + tag, pb.ROLE_SYSTEM, "role system"),
                            ("ledger:probe-" + tag, pb.ROLE_OPERATOR, "id ledger:..."),
                            ("ledgerd-init", pb.ROLE_OPERATOR, "id ledgerd-init (event 1's actor)")):
        r, _ = cl.batch(op, [command("probe-p-" + pid.replace(":", "-")[:40], "add_principal",
                                     pb.AddPrincipal(principal_id=pid, role=role))])
        expect("probe: AddPrincipal %s: INVALID_ARGUMENT (security.md)" % what, r, 4)

    # CommandResult.stream_version of a command of no customer.
    r, _ = cl.batch(op, [command("probe-partner-" + tag, "add_partner",
                                 pb.AddPartner(partner_id="q-" + tag, name="Q"),
                                 partner_id="q-" + tag)])
    expect("probe: AddPartner", r, 0)
    if r.code == 0:
        check("probe: AddPartner result: stream_version 0 (a command of no customer)",
              r.results[0].stream_version == 0, str(r.results[0]))

    # A customer user naming another partner, another customer.
    r, _ = cl.batch(cuser, [command("probe-cu-" + tag, "purchase_reservation",
                                    pb.PurchaseReservation(), partner_id="q-" + tag)])
    note("customer user naming another partner on an empty purchase: %s %r" % (
        code_name(r.code), r.message))
    r = cl.query(cuser, pb.Query(reservations=pb.ReservationsQuery(customer_id="other")))
    expect("probe: customer user reading another customer: PARTNER_MISMATCH", r, 15)

    # Empty MAC.
    r = cl.send(cl.sign(op, pb.RequestBody(query=pb.Query(head=pb.HeadQuery())),
                        mac_override=lambda m: b""))
    expect("probe: empty MAC: BAD_SIGNATURE", r, 11)

    # Events and tree_size.
    head = cl.query(auditor, pb.Query(head=pb.HeadQuery())).head_sequence
    r = cl.query(auditor, pb.Query(events=pb.EventsQuery(tree_size=head + 5)))
    expect("probe: events with tree_size past the head: NOT_FOUND", r, 69)
    r = cl.query(auditor, pb.Query(billing=pb.BillingQuery(month=time.strftime("%Y-%m"),
                                                            tree_size=head + 5),
                                   partner_id=partner))
    expect("probe: billing with tree_size past the log: INVALID_ARGUMENT", r, 4)
    r = cl.query(auditor, pb.Query(inclusion=pb.InclusionQuery(sequence=head + 5)))
    expect("probe: inclusion of a sequence past the head: NOT_FOUND", r, 69)
    t = max(1, head // 2)
    got, c = [], 0
    for _ in range(1000):
        r = cl.query(auditor, pb.Query(events=pb.EventsQuery(after_sequence=c, limit=3,
                                                              tree_size=t,
                                                              include_proofs=True)))
        if r.code != 0:
            check("probe: events with tree_size", False, code_name(r.code))
            break
        got += r.query.events
        c = r.query.last_sequence
        if c >= t:
            break
    seqs = [e.event.sequence for e in got]
    check("probe: paging with tree_size=T stops at T and proves against T",
          seqs == list(range(1, t + 1)) and all(e.proof.tree_size == t for e in got),
          "T=%d seqs=%s last=%d" % (t, seqs, c))
    if seqs != list(range(1, t + 1)):
        note("events with tree_size=%d return sequences %s (last_sequence %d)" % (t, seqs, c))

    # Over NN_RCVMAXSIZE: no reply; the daemon keeps serving.
    s2 = Client(cl.url, timeout_ms=3000)
    try:
        big = pb.CommandBatch(commands=[b"\0" * (1024 * 1024 + 70 * 1024)])
        try:
            r = s2.send(s2.sign(admin, pb.RequestBody(batch=big)))
            note("request 70 KiB over the limit: a reply %s" % code_name(r.code))
        except NNError as e:
            check("probe: request 70 KiB over the limit: no reply (timeout)", e.timed_out, str(e))
    finally:
        s2.close()
    expect("probe: daemon still answers", cl.query(op, pb.Query(head=pb.HeadQuery())), 0)


def errors(cl, op, admin, auditor, customer, tag):
    print("refusals of authentication and framing")
    head_q = pb.RequestBody(query=pb.Query(head=pb.HeadQuery()))

    def flip(mac):
        return bytes([mac[0] ^ 1]) + mac[1:]

    s = cl.sign(op, head_q, mac_override=flip)
    r = expect("bad MAC: BAD_SIGNATURE", cl.send(s), 11, failed_index=0)
    check("bad MAC: nonce echoed, head_sequence set", r.request_nonce == s.nonce and
          r.head_sequence > 0, str(r))
    r = expect("31-byte MAC: BAD_SIGNATURE", cl.send(cl.sign(op, head_q,
                                                             mac_override=lambda m: m[:31])), 11)
    # A MAC made with another principal's secret.
    s = Client.sign_body_bytes(Principal(op.id, admin.secret), head_q.SerializeToString())
    expect("MAC with another principal's secret: BAD_SIGNATURE", cl.send(s), 11)
    # A command with a bad MAC.
    r, _ = cl.batch(admin, [command("badmac-" + tag, "set_cost_visibility",
                                    pb.SetCostVisibility(retail_prices_visible=False),
                                    customer_id=customer)], mac_override=flip)
    expect("command with a bad MAC: BAD_SIGNATURE", r, 11)

    r = cl.send(cl.sign(op, head_q, ts_us=now_us() - 301_000_000))
    expect("timestamp 301 s old: STALE_REQUEST", r, 13)
    r = cl.send(cl.sign(op, head_q, ts_us=now_us() + 301_000_000))
    expect("timestamp 301 s ahead: STALE_REQUEST", r, 13)
    r = cl.send(cl.sign(op, head_q, ts_us=now_us() - 290_000_000))
    expect("timestamp 290 s old: accepted", r, 0)
    r = cl.send(cl.sign(op, head_q, ts_us=0))
    expect("timestamp 0: STALE_REQUEST", r, 13)
    r = cl.send(cl.sign(op, head_q, ts_us=-1))
    expect("negative timestamp: STALE_REQUEST", r, 13)
    # A stale request with a bad MAC: the MAC is checked first.
    r = cl.send(cl.sign(op, head_q, ts_us=now_us() - 3600_000_000, mac_override=flip))
    expect("stale and bad MAC: BAD_SIGNATURE (MAC first)", r, 11)

    s = cl.sign(op, head_q)
    expect("a query", cl.send(s), 0)
    expect("the same query bytes again (a replay): answered again", cl.send(s), 0)

    r = cl.send_raw(b"\xff\xff\xff garbage")
    expect("bytes that are not a Request: BAD_REQUEST", r, 1)
    check("undecodable request: empty request_nonce, head_sequence set",
          r.request_nonce == b"" and r.head_sequence > 0, str(r))
    r = cl.send_raw(b"")
    expect("empty message: BAD_REQUEST", r, 1)
    r = cl.send_raw(pb.Request(mac=b"\0" * 32).SerializeToString())
    expect("Request without signed: BAD_REQUEST", r, 1)
    r = cl.send_raw(pb.Request(signed=b"\x0a\x05ab", mac=b"\0" * 32).SerializeToString())
    expect("signed that does not decode: BAD_REQUEST", r, 1)
    s = cl.sign(op, head_q)
    r = cl.send_raw(s.data[:-5])
    expect("truncated request: BAD_REQUEST", r, 1)
    r = cl.send(Client.sign_body_bytes(op, b"\x12\x03\x92\x01", nonce=secrets.token_bytes(16)))
    expect("malformed body (truncated Query inside RequestBody): BAD_REQUEST", r, 1)
    r = cl.send(cl.sign(op, head_q, nonce=secrets.token_bytes(15)))
    expect("15-byte nonce: BAD_REQUEST", r, 1)
    r = cl.send(cl.sign(op, head_q, nonce=b""))
    expect("empty nonce: BAD_REQUEST", r, 1)
    r = cl.send(cl.sign(op, head_q, nonce=secrets.token_bytes(17)))
    expect("17-byte nonce: BAD_REQUEST", r, 1)
    check("17-byte nonce: request_nonce empty (longer than 16 bytes)", r.request_nonce == b"",
          str(r))
    # A string field holding a NUL byte does not decode (protocol.md,
    # Authentication): in SignedRequest.principal_id, before the principal is
    # looked up, and in a Command of a batch, which failed_index names.
    r = cl.send(Client.sign_body_bytes(op, head_q.SerializeToString(),
                                       principal_id=op.id + "\0x"))
    expect("principal_id holding a NUL byte: BAD_REQUEST", r, 1)
    nul_cmd = (fld_bytes(1, b"nul\0" + tag.encode()) + fld_bytes(4, customer.encode()) +
               pb.Command(set_cost_visibility=pb.SetCostVisibility(
                   retail_prices_visible=True)).SerializeToString())
    r, _ = cl.batch(admin, [command("ok-" + tag, "set_cost_visibility",
                                    pb.SetCostVisibility(retail_prices_visible=False),
                                    customer_id=customer), nul_cmd])
    expect("command_id holding a NUL byte: BAD_REQUEST, failed_index 1", r, 1, failed_index=1)
    r = cl.send(Client.sign_body_bytes(op, b""))
    expect("empty body: BAD_REQUEST", r, 1)
    # SignedRequest without field 4 at all.
    nonce = secrets.token_bytes(16)
    signed = (fld_bytes(1, op.id.encode()) + fld_varint(2, now_us()) + fld_bytes(3, nonce))
    r = cl.send_raw(pb.Request(signed=signed, mac=hmac.new(op.secret, signed, hashlib.sha256)
                               .digest()).SerializeToString())
    expect("SignedRequest without body: BAD_REQUEST", r, 1)
    r = cl.send(cl.sign(op, pb.RequestBody(query=pb.Query())))
    expect("query that sets no kind: BAD_REQUEST", r, 1)
    r = cl.send(cl.sign(op, pb.RequestBody(query=pb.Query(partner_id="x"))))
    expect("query with only partner_id: BAD_REQUEST", r, 1)
    r = cl.send(cl.sign(op, pb.RequestBody(batch=pb.CommandBatch())))
    expect("empty batch: BAD_REQUEST", r, 1)
    r = cl.send(Client.sign_body_bytes(op, fld_bytes(2, fld_bytes(99, b""))))
    expect("unknown query kind (field 99): UNKNOWN_MESSAGE", r, 3)
    r = cl.send(Client.sign_body_bytes(op, fld_bytes(3, b"")))
    expect("unknown body kind (field 3): UNKNOWN_MESSAGE", r, 3)
    r, _ = cl.batch(admin, [command("ok-" + tag, "set_cost_visibility",
                                    pb.SetCostVisibility(retail_prices_visible=False),
                                    customer_id=customer), b"\xff\xff"])
    expect("batch whose command 1 does not decode: BAD_REQUEST, failed_index 1", r, 1,
           failed_index=1)
    unknown_cmd = pb.Command(command_id="unk-" + tag, customer_id=customer).SerializeToString() \
        + fld_bytes(99, b"")
    r, _ = cl.batch(admin, [unknown_cmd])
    expect("command with an unknown body: UNKNOWN_MESSAGE", r, 3, failed_index=0)
    r, _ = cl.batch(admin, [pb.Command(command_id="none-" + tag,
                                       customer_id=customer).SerializeToString()])
    expect("command with no body: UNKNOWN_MESSAGE", r, 3)
    r = cl.send(cl.sign(Principal("nobody-" + tag, op.secret), head_q))
    expect("unknown principal: UNKNOWN_PRINCIPAL", r, 10)
    r = cl.send(cl.sign(Principal("bad id!", op.secret), head_q))
    expect("invalid principal id: UNKNOWN_PRINCIPAL", r, 10)
    r = cl.send(cl.sign(Principal("ledger:expiry", op.secret), head_q))
    expect("ledger:expiry principal: UNKNOWN_PRINCIPAL", r, 10)
    # Too large: over request_bytes_max (1 MiB) but within 64 KiB of it.
    big = pb.CommandBatch(commands=[b"\0" * (1024 * 1024 + 1000)])
    r = cl.send(cl.sign(admin, pb.RequestBody(batch=big)))
    expect("request over 1 MiB: TOO_LARGE", r, 2)
    # Batch too large: 1001 commands.
    cmds = [command("many-%d-%s" % (i, tag), "set_cost_visibility",
                    pb.SetCostVisibility(retail_prices_visible=bool(i % 2)),
                    customer_id=customer) for i in range(1001)]
    r, _ = cl.batch(admin, cmds)
    expect("batch of 1001 commands: BATCH_TOO_LARGE", r, 5)
    # Rotation (docs/protocol.md, RotatePrincipalSecret): the new secret once,
    # the old one refused from then on, the same principal id.
    rotate = command("rotate-aud-" + tag, "rotate_principal_secret",
                     pb.RotatePrincipalSecret(principal_id=auditor.id))
    r, _ = ok_batch(cl, op, [rotate], "RotatePrincipalSecret auditor")
    check("RotatePrincipalSecret returns a new 64-hex secret",
          re.fullmatch(r"[0-9a-f]{64}", r.results[0].secret_hex) is not None and
          bytes.fromhex(r.results[0].secret_hex) != auditor.secret)
    rotated = Principal(auditor.id, bytes.fromhex(r.results[0].secret_hex))
    rotated_head = r.head_sequence
    r = cl.query(auditor, pb.Query(head=pb.HeadQuery()))
    expect("the secret before the rotation: BAD_SIGNATURE", r, 11)
    r = cl.query(rotated, pb.Query(head=pb.HeadQuery()))
    expect("the secret of the rotation: OK", r, 0)
    r, _ = cl.batch(op, [rotate])
    expect("RotatePrincipalSecret retry: OK", r, 0)
    check("RotatePrincipalSecret retry: duplicate, no secret, head unchanged",
          r.results[0].duplicate and r.results[0].secret_hex == "" and
          r.head_sequence == rotated_head, str(r.results[0]))
    r, _ = cl.batch(op, [command("rotate-self-" + tag, "rotate_principal_secret",
                                 pb.RotatePrincipalSecret(principal_id=op.id))])
    expect("operator rotating its own secret: INVALID_ARGUMENT", r, 4)
    r, _ = cl.batch(op, [command("rotate-ghost-" + tag, "rotate_principal_secret",
                                 pb.RotatePrincipalSecret(principal_id="ghost-" + tag))])
    expect("rotating an unknown principal: PRINCIPAL_NOT_FOUND", r, 48)
    r, _ = cl.batch(rotated, [command("rotate-by-auditor-" + tag, "rotate_principal_secret",
                                      pb.RotatePrincipalSecret(principal_id=op.id))])
    expect("an auditor rotating a secret: FORBIDDEN", r, 14)
    auditor = rotated
    # Revocation.
    r, _ = cl.batch(op, [command("revoke-aud-" + tag, "revoke_principal",
                                 pb.RevokePrincipal(principal_id=auditor.id))])
    expect("RevokePrincipal auditor", r, 0)
    r = cl.query(auditor, pb.Query(head=pb.HeadQuery()))
    expect("revoked principal: PRINCIPAL_REVOKED", r, 12)
    r = cl.send(cl.sign(auditor, head_q, mac_override=flip))
    expect("revoked principal with a bad MAC: BAD_SIGNATURE (MAC before revocation)", r, 11)
    r, _ = cl.batch(op, [command("revoke-self-" + tag, "revoke_principal",
                                 pb.RevokePrincipal(principal_id=op.id))])
    expect("operator revoking itself: INVALID_ARGUMENT", r, 4)
    r, _ = cl.batch(op, [command("rotate-revoked-" + tag, "rotate_principal_secret",
                                 pb.RotatePrincipalSecret(principal_id=auditor.id))])
    expect("rotating a revoked principal's secret: INVALID_ARGUMENT", r, 4)


def restart(cl, daemon, op, admin, customer, tag, req_url):
    print("restart")
    pre = cl.sign(admin, pb.RequestBody(batch=pb.CommandBatch(commands=[
        command("after-restart-" + tag, "set_cost_visibility",
                pb.SetCostVisibility(retail_prices_visible=False), customer_id=customer)])))
    pre_q = cl.sign(admin, pb.RequestBody(query=pb.Query(
        reservations=pb.ReservationsQuery(customer_id=customer))))
    rc = daemon.stop()
    check("daemon exits 0 on SIGTERM (restart)", rc == 0, "rc=%s" % rc)
    daemon.start()
    cl2 = Client(req_url)
    try:
        r = cl2.send(pre)
        expect("command signed before the restart: STALE_REQUEST", r, 13)
        r = cl2.send(cl2.sign(admin, pb.RequestBody(batch=pb.CommandBatch(commands=[
            command("skew-" + tag, "set_cost_visibility",
                    pb.SetCostVisibility(retail_prices_visible=True), customer_id=customer)])),
            ts_us=now_us() - 3_000_000))
        expect("right after a start, a command signed 3 s before it: STALE_REQUEST", r, 13)
        r = cl2.send(pre_q)
        expect("query signed before the restart: answered", r, 0)
        r, _ = cl2.batch(admin, [pb.RequestBody.FromString(
            pb.SignedRequest.FromString(pre.signed).body.SerializeToString())
            .batch.commands[0]])
        expect("the same command re-signed after the restart: OK", r, 0)
        check("re-signed after restart: not a duplicate", not r.results[0].duplicate)
        r, _ = cl2.batch(admin, [command("vis-" + tag, "set_cost_visibility",
                                         pb.SetCostVisibility(retail_prices_visible=True),
                                         customer_id=customer)])
        expect("a command committed before the restart, retried after: OK", r, 0)
        check("... and answered as a duplicate", r.results[0].duplicate)
    finally:
        cl2.close()


def main():
    global pb
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ledgerd", required=True, help="the ledgerd binary")
    ap.add_argument("--proto", required=True, help="the repository's proto directory")
    ap.add_argument("--work", required=True,
                    help="a directory of the test's own (data directory, log, ledger_pb2.py)")
    add_protoc_option(ap)
    args = ap.parse_args()

    # A SIGTERM (e.g. from ctest) unwinds through the finally that stops the daemon.
    exit_on_sigterm()

    work = os.path.abspath(args.work)
    os.makedirs(work, exist_ok=True)
    if not os.access(args.ledgerd, os.X_OK):
        fail_setup("no ledgerd at %s" % args.ledgerd)
    pb = load_pb(os.path.join(os.path.abspath(args.proto), "ledger.proto"), work, args.protoc,
                 lambda m: m.Request(signed=b"x", mac=b"y"),
                 "give the repository's proto directory with --proto")
    data = os.path.join(work, "data")
    if len(os.path.join(data, "events.sock")) > 107:
        fail_setup("the work directory's path is too long for a Unix socket address "
                   "(ipc:// paths are at most 107 bytes): %s" % work)
    shutil.rmtree(data, ignore_errors=True)
    log_path = os.path.join(work, "ledgerd.log")
    if os.path.exists(log_path):
        os.unlink(log_path)
    daemon = Daemon(os.path.abspath(args.ledgerd), data, log_path)
    t0 = time.time()
    run_checks(lambda: run(args, daemon), daemon.stop)
    return summary(t0, "the daemon's log: %s" % log_path)


if __name__ == "__main__":
    sys.exit(main())
