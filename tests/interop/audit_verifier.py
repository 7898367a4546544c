#!/usr/bin/python3
"""An independent audit verifier of ledgerd: an offline verifier and proof
checker in Python written from docs/verification.md alone (and the files it
points to: proto/ledger.proto, docs/store.md for the data directory's layout,
docs/cli.md for ledgerctl's JSON output), never from the daemon's, the
client's or the tools' source. If a check here fails while the C tests pass,
either the ledger or the document is wrong: the document must stay enough for
an auditor's verifier in another language.

How it works: SHA-256 from hashlib, Ed25519 from python3-cryptography (with
the extra refusals of verification.md 6.3 written out here: a non-canonical
S, a small-order R or public key, a public key that does not decode), the
data directory read with python3-lmdb read-only and without locking
(MDB_NOLOCK, verification.md 6.2), records and heads decoded with the classes
that protoc generates from proto/ledger.proto (into the work directory on
every run). The ledger's own programs only make the inputs: ledger-fixture
writes reproducible backups, ledgerd serves a live ledger, ledgerctl fetches
heads and proofs as JSON, and ledger-verify is compared with this verifier.

What it checks (each check prints "ok" or "FAIL"):
  - the document's worked examples, read out of docs/verification.md and
    recomputed: the three records' leaf hashes, nodes and roots, the empty
    root, the Certificate Transparency reference vectors, the signed head's
    64 bytes and its Ed25519 signature with the RFC 8032 test key, the
    inclusion examples (records 1 and 3 of 3, leaf 5 of 8) and consistency
    examples (2 to 3, 1 to 3, 6 to 8) step by step, their paths against
    RFC 6962's PATH and PROOF, and every hash the document abbreviates;
  - the verification algorithms of section 4 against RFC 6962's PATH and
    PROOF on every tree of up to 33 leaves, and that each mutation fails;
  - offline, on backups written by ledger-fixture (2, 3, 7, 8, 9 and 3001
    records), by the daemon (1 record, and the whole live history), the
    repository's fixtures (older view layouts) and a live data directory,
    while its daemon serves and after it stopped: sequences dense from 1,
    each record's own sequence, each leaf hash against `leaf`, the root by
    the compact method of section 2 and by RFC 6962's MTH, every stored
    `merkle` node and nothing more, the 0xFF size key, and head.pb: its
    signature over the 64 bytes of section 3 and its root against the
    root of its tree_size records;
  - against a live daemon (`ledgerd init`, then ledgerctl: partners, `demo`):
    the head-signing key pinned from head.key as section 6.1 says and
    compared with `head --public-key`; heads saved with `head --save` at
    sizes 1, 2, 3 and the whole history; `events --proofs --tree-size M` for
    several M (every record, its sequence, its leaf hash and its inclusion
    proof against the root of M); `proof --seq N --tree-size M`;
    `consistency --from M --to N` for pairs of sizes, each path equal to
    RFC 6962's PROOF and verified against signed or recomputed roots; the
    root recomputed from the records of `events` equal to the head's;
  - that this verifier refuses tampering: a flipped byte in a record, a
    flipped bit in any inclusion or consistency path element, a wrong tree
    size or sequence, a path cut short or lengthened, a head whose
    signature, root, size or time was changed, another key, a small-order
    key with the trivial signature, a non-canonical S;
  - that ledger-verify and this verifier agree (exit status, and the first
    bad sequence they name) on every directory above and on tampered copies:
    a byte of one record flipped inside data.mdb; a record rewritten with its
    leaf hash; a record rewritten with its leaf hash and the whole stored
    tree derived again, which only a saved head tells; the log emptied with
    its leaf hashes and tree, which no ledger is (section 6.3).

Usage:
  audit_verifier.py --build-dir DIR --work DIR [--source-dir DIR] [--protoc PATH]

--build-dir is the build directory (daemon/ledgerd, client/ledgerctl,
tools/ledger-verify, tools/ledger-fixture), --source-dir the repository
(default: two levels above this file; docs/, proto/ and tests/fixtures/ are
read from it), --work a directory the test owns: it is emptied on every run
and holds the generated ledger_pb2.py, the fixtures, the live data directory
and the daemon's log. The daemon is always stopped (SIGTERM, then SIGKILL
after a deadline). Exit status 0 only when every check passed.

The ok/FAIL bookkeeping, protoc's generation and import, the timeout scale
and the daemon's start and stop are interop_harness.py's, beside this file,
shared with protocol_client.py: helpers that know nothing of the ledger's
hashes, proofs or files, so everything checked here still comes from
verification.md alone.
"""
import argparse
import ctypes
import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import time


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import interop_harness  # noqa: E402
from interop_harness import (  # noqa: E402
    SCALE, add_protoc_option, check, exit_on_sigterm, fail_setup, load_pb, note, run_checks,
    summary)


# ---------------------------------------------------------------------------
# Libraries beyond the standard library's (protobuf: interop_harness.load_pb).


def load_libs():
    global lmdb, Ed25519PublicKey, Ed25519PrivateKey, InvalidSignature
    try:
        import lmdb as _lmdb
        lmdb = _lmdb
    except ImportError as e:
        fail_setup("%s cannot import lmdb (%s): install Debian's python3-lmdb "
                   "(scripts/deps.sh) and run this with /usr/bin/python3" % (sys.executable, e))
    try:
        from cryptography.exceptions import InvalidSignature as _inv
        from cryptography.hazmat.primitives.asymmetric.ed25519 import (
            Ed25519PrivateKey as _priv, Ed25519PublicKey as _pub)
        Ed25519PublicKey, Ed25519PrivateKey, InvalidSignature = _pub, _priv, _inv
    except ImportError as e:
        fail_setup("%s cannot import cryptography's Ed25519 (%s): install Debian's "
                   "python3-cryptography (scripts/deps.sh)" % (sys.executable, e))


pb = None  # set in main(): the classes protoc generates from proto/ledger.proto
lmdb = None
Ed25519PublicKey = Ed25519PrivateKey = InvalidSignature = None


# ---------------------------------------------------------------------------
# Section 2: leaf hashes, node hashes, the tree.


def HASH(data=b""):
    return hashlib.sha256(data).digest()


def leaf_hash(record):
    return HASH(b"\x00" + record)


def node_hash(left, right):
    return HASH(b"\x01" + left + right)


def split_point(n):
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


class Tree:
    """RFC 6962 section 2.1 by its recursive definitions, over a list of leaf
    hashes: MTH, PATH (2.1.1) and PROOF (2.1.2). The reference the verifier's
    algorithms are compared with; kept for small trees."""

    def __init__(self, leaves):
        self.d = list(leaves)
        self.memo = {}

    def mth(self, lo=0, hi=None):
        hi = len(self.d) if hi is None else hi
        key = (lo, hi)
        if key in self.memo:
            return self.memo[key]
        n = hi - lo
        if n == 0:
            h = HASH()
        elif n == 1:
            h = self.d[lo]
        else:
            k = split_point(n)
            h = node_hash(self.mth(lo, lo + k), self.mth(lo + k, hi))
        self.memo[key] = h
        return h

    def path(self, m, lo=0, hi=None):
        hi = len(self.d) if hi is None else hi
        n = hi - lo
        if n <= 1:
            return []
        k = split_point(n)
        if m < k:
            return self.path(m, lo, lo + k) + [self.mth(lo + k, hi)]
        return self.path(m - k, lo + k, hi) + [self.mth(lo, lo + k)]

    def proof(self, m, n):
        return self._subproof(m, 0, n, True)

    def _subproof(self, m, lo, hi, b):
        n = hi - lo
        if m == n:
            return [] if b else [self.mth(lo, hi)]
        k = split_point(n)
        if m <= k:
            return self._subproof(m, lo, lo + k, b) + [self.mth(lo + k, hi)]
        return self._subproof(m - k, lo + k, hi, False) + [self.mth(lo, lo + k)]

    def subtrees(self):
        """Every MTH(D[a:b]), for the document's abbreviated hashes."""
        return {self.mth(a, b) for a in range(len(self.d)) for b in range(a + 1, len(self.d) + 1)}


class Compact:
    """The compact method of section 2: one hash per set bit of the size.
    Also lists each interior node it completes, as (level, index), which is
    the key of that node in the `merkle` database (section 6.2)."""

    def __init__(self):
        self.stack = []
        self.size = 0

    def append(self, leaf, completed=None):
        h = leaf
        bits = self.size
        level = 0
        while bits & 1:
            h = node_hash(self.stack.pop(), h)
            bits >>= 1
            level += 1
            if completed is not None:
                completed.append((level, self.size >> level, h))
        self.stack.append(h)
        self.size += 1

    def root(self):
        if self.size == 0:
            return HASH()
        h = self.stack[-1]
        for i in range(len(self.stack) - 2, -1, -1):
            h = node_hash(self.stack[i], h)
        return h


def compact_root(leaves):
    c = Compact()
    for leaf in leaves:
        c.append(leaf)
    return c.root()


def prefix_roots(leaves):
    """roots[n] = the root of the first n leaves, n = 0 .. len(leaves)."""
    c = Compact()
    roots = [c.root()]
    for leaf in leaves:
        c.append(leaf)
        roots.append(c.root())
    return roots


# ---------------------------------------------------------------------------
# Section 4: verifying proofs, as the document writes the algorithms out.
# A trace (a list) receives one tuple per path element:
# (fn before, sn before, r or fr after, sr after or None, fn after, sn after).

INCLUSION_PATH_MAX = 64
CONSISTENCY_PATH_MAX = 128


def verify_inclusion(leaf, s, tree_size, path, root, trace=None):
    if s == 0 or s > tree_size:
        return False
    if len(path) > INCLUSION_PATH_MAX or any(len(p) != 32 for p in path):
        return False
    fn = s - 1
    sn = tree_size - 1
    r = leaf
    for p in path:
        if sn == 0:
            return False
        before = (fn, sn)
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
        if trace is not None:
            trace.append((before[0], before[1], r, None, fn, sn))
    return sn == 0 and r == root


def is_power_of_two(n):
    return n > 0 and n & (n - 1) == 0


def verify_consistency(from_size, to_size, from_root, to_root, path, trace=None):
    if from_size == 0 or from_size > to_size:
        return False
    if len(path) > CONSISTENCY_PATH_MAX or any(len(c) != 32 for c in path):
        return False
    if from_size == to_size:
        return len(path) == 0 and from_root == to_root
    if not path:
        return False
    if is_power_of_two(from_size):
        path = [from_root] + list(path)
    fn = from_size - 1
    sn = to_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = path[0]
    sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        before = (fn, sn)
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
        if trace is not None:
            trace.append((before[0], before[1], fr, sr, fn, sn))
    return sn == 0 and fr == from_root and sr == to_root


def check_inclusion_entry(record, proof, head_size, head_root):
    """An events line's or `proof`'s record and inclusion proof (ledgerctl's
    JSON, docs/cli.md), against a head (size, root) whose signature was
    checked. The sizes come from the head: the path alone does not tell trees
    of a similar shape apart (record 1's path in the trees of 3 and of 4
    records has the same length), so the proof's own tree_size must be the
    head's, and its leaf hash is recomputed from the record."""
    seq = proof["sequence"]
    path = [bytes.fromhex(x) for x in proof["path"]]
    leaf = leaf_hash(record)
    try:
        named = pb.Event.FromString(record).sequence
    except Exception:  # noqa: BLE001
        return False
    return (named == seq and proof["tree_size"] == head_size and
            bytes.fromhex(proof["leaf_hash"]) == leaf and
            verify_inclusion(leaf, seq, head_size, path, head_root))


def check_consistency_entry(proof, old, new):
    """A `consistency` proof (JSON) between two trusted (size, root) pairs."""
    path = [bytes.fromhex(x) for x in proof["path"]]
    return (proof["from_size"] == old[0] and proof["to_size"] == new[0] and
            verify_consistency(old[0], new[0], old[1], new[1], path))


# ---------------------------------------------------------------------------
# Section 3: signed tree heads; Ed25519 as libsodium checks it (section 6.3).

HEAD_TAG = b"ledger.v1.head\x00\x00"


def head_bytes(tree_size, root, timestamp_us):
    return HEAD_TAG + struct.pack(">Q", tree_size) + root + struct.pack(">q", timestamp_us)


# Edwards25519 (RFC 8032 section 5.1), only to decode points and tell small
# orders, which cryptography's verify does not refuse.
P25519 = 2 ** 255 - 19
L25519 = 2 ** 252 + 27742317777372353535851937790883648493
D25519 = -121665 * pow(121666, P25519 - 2, P25519) % P25519
SQRT_M1 = pow(2, (P25519 - 1) // 4, P25519)


def point_decode(s):
    """RFC 8032 5.1.3; None when s is not a canonical encoding of a point."""
    if len(s) != 32:
        return None
    y = int.from_bytes(s, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    if y >= P25519:
        return None
    x2 = (y * y - 1) * pow(D25519 * y * y + 1, P25519 - 2, P25519) % P25519
    if x2 == 0:
        if sign:
            return None
        x = 0
    else:
        x = pow(x2, (P25519 + 3) // 8, P25519)
        if (x * x - x2) % P25519:
            x = x * SQRT_M1 % P25519
        if (x * x - x2) % P25519:
            return None
        if x & 1 != sign:
            x = P25519 - x
    return (x, y, 1, x * y % P25519)


def point_add(a, b):
    """RFC 8032 5.1.4, extended coordinates."""
    p = P25519
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    A = (y1 - x1) * (y2 - x2) % p
    B = (y1 + x1) * (y2 + x2) % p
    C = 2 * t1 * t2 * D25519 % p
    Dd = 2 * z1 * z2 % p
    E, F, G, H = B - A, Dd - C, Dd + C, B + A
    return (E * F % p, G * H % p, F * G % p, E * H % p)


def small_order(pt):
    q = pt
    for _ in range(3):
        q = point_add(q, q)
    return q[0] % P25519 == 0 and (q[1] - q[2]) % P25519 == 0


def ed25519_verify(public_key, signature, message):
    """(ok, reason): pure Ed25519 (RFC 8032 5.1.7) with libsodium's refusals."""
    if len(public_key) != 32 or len(signature) != 64:
        return False, "public key %d bytes, signature %d bytes" % (len(public_key), len(signature))
    if int.from_bytes(signature[32:], "little") >= L25519:
        return False, "non-canonical S"
    a = point_decode(public_key)
    if a is None:
        return False, "the public key does not decode (or is not canonical)"
    if small_order(a):
        return False, "the public key has a small order"
    r = point_decode(signature[:32])
    if r is not None and small_order(r):
        return False, "R has a small order"
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except InvalidSignature:
        return False, "the signature does not verify"
    return True, "verified"


def verify_head(head, pinned=None):
    """(ok, reason) for a SignedHead message, section 3's three steps."""
    if len(head.root_hash) != 32 or len(head.signature) != 64 or len(head.public_key) != 32:
        return False, "field lengths root %d, signature %d, key %d" % (
            len(head.root_hash), len(head.signature), len(head.public_key))
    if pinned is not None and head.public_key != pinned:
        return False, "signed by key %s, not the pinned %s" % (head.public_key.hex(),
                                                                pinned.hex())
    return ed25519_verify(head.public_key, head.signature,
                          head_bytes(head.tree_size, head.root_hash, head.timestamp_us))


# ---------------------------------------------------------------------------
# Section 6.2: a data directory or a backup, offline.


def u64(b):
    return struct.unpack(">Q", b)[0]


def be64(n):
    return struct.pack(">Q", n)


class Verdict:
    def __init__(self):
        self.problems = []        # (sequence or None, text), in the order found
        self.size = 0
        self.root = None
        self.layout = None
        self.records = []         # kept when asked for

    def bad(self, seq, text):
        self.problems.append((seq, text))

    @property
    def ok(self):
        return not self.problems

    @property
    def first_bad(self):
        """The sequence the first problem found names, in the walk's order."""
        seqs = [s for s, _ in self.problems if s is not None]
        return seqs[0] if seqs else None

    def __str__(self):
        if self.ok:
            return "%d records, root %s" % (self.size, self.root.hex())
        return "; ".join(("at %d: %s" % (s, t)) if s is not None else t
                         for s, t in self.problems[:3])


def open_env(directory, lock):
    """Read-only, room for the named databases, MDB_NOLOCK unless lock."""
    return lmdb.open(directory, readonly=True, lock=lock, max_dbs=32, subdir=True,
                     create=False)


def verify_directory(directory, head_file=None, pinned=None, lock=False, keep_records=False):
    v = Verdict()
    env = open_env(directory, lock)
    try:
        with env.begin(buffers=False) as txn:
            dbs = {}
            for name in (b"log", b"leaf", b"merkle", b"meta"):
                try:
                    dbs[name] = env.open_db(name, txn=txn, create=False)
                except lmdb.NotFoundError:
                    v.bad(None, "no database %s" % name.decode())
                    return v
            fmt = txn.get(b"format", db=dbs[b"meta"])
            if fmt is None or len(fmt) != 8 or u64(fmt) != 1:
                v.bad(None, "meta format is %r, not u64 BE 1" % fmt)
            views = txn.get(b"views", db=dbs[b"meta"])
            # docs/store.md: no "views" entry is layout 1, written before the
            # entry existed; 0 is a rebuild that has not finished.
            v.layout = 1 if views is None else u64(views)
            leaves = txn.cursor(db=dbs[b"leaf"])
            leaves.first()
            compact = Compact()
            completed = []
            expected_nodes = set()
            roots_at = {}
            want_root_at = set()
            head = None
            if head_file is not None:
                head = pb.SignedHead.FromString(open(head_file, "rb").read())
                want_root_at.add(head.tree_size)
            if 0 in want_root_at:
                roots_at[0] = compact.root()
            s = 0
            for key, record in txn.cursor(db=dbs[b"log"]):
                s += 1
                if len(key) != 8 or u64(key) != s:
                    v.bad(s, "sequences are not dense: expected %d, found key %s" %
                          (s, key.hex()))
                    break
                try:
                    ev = pb.Event.FromString(record)
                    if ev.sequence != s:
                        v.bad(s, "the record names sequence %d" % ev.sequence)
                except Exception as e:  # noqa: BLE001
                    v.bad(s, "the record does not decode: %s" % e)
                lh = leaf_hash(record)
                lkey, lval = (leaves.key(), leaves.value()) if leaves.key() else (None, None)
                if lkey != be64(s):
                    v.bad(s, "no leaf hash under sequence %d" % s)
                elif lval != lh:
                    v.bad(s, "the leaf hash does not match the record")
                leaves.next()
                if keep_records:
                    v.records.append(record)
                del completed[:]
                compact.append(lh, completed)
                # Each node the compact method completes at this record must be
                # stored and equal (section 6.2), lowest level first; it is
                # named by the first record it covers.
                for level, index, h in completed:
                    key = bytes([level]) + be64(index)
                    expected_nodes.add(key)
                    if v.layout == 0:
                        continue
                    stored = txn.get(key, db=dbs[b"merkle"])
                    first = (index << level) + 1
                    if stored is None:
                        v.bad(first, "the stored tree lacks the node over sequences %d..%d" %
                              (first, s))
                    elif stored != h:
                        v.bad(first, "the stored node over sequences %d..%d does not match "
                              "the records" % (first, s))
                if s in want_root_at:
                    roots_at[s] = compact.root()
            v.size = s
            v.root = compact.root()
            # After the walk, a cut log is told by (in this order) the saved
            # head, the leaf hashes, the stored tree's size key (section 6.3).
            if head is not None:
                check_saved_head(v, head, pinned, roots_at, s)
            # ledgerd init records the first operator as sequence 1 in the
            # transaction that makes the ledger: no ledger is empty.
            if s == 0:
                v.bad(1, "the log holds no records: it was emptied")
            if leaves.key():
                v.bad(s + 1, "a leaf hash beyond the log, under %s" % leaves.key().hex())
            check_merkle(v, txn, dbs[b"merkle"], dbs[b"leaf"], expected_nodes, s)
    finally:
        env.close()
    return v


def check_merkle(v, txn, merkle_db, leaf_db, expected, size):
    """What the walk cannot see: entries the records do not make, and the size
    key. Named at the last record."""
    if v.layout == 0:
        note("layout 0 (a rebuild did not finish): the stored tree may be partial, not compared")
        return
    stored_size = None
    for key, value in txn.cursor(db=merkle_db):
        if key == b"\xff":
            stored_size = u64(value) if len(value) == 8 else -1
        elif len(key) == 9 and key[0] == 0 and v.layout == 1:
            # Layout 1 repeated the leaf hashes as level 0 (docs/store.md).
            index = u64(key[1:])
            if index >= size or txn.get(be64(index + 1), db=leaf_db) != value:
                v.bad(size, "the stored level-0 node %d is not a leaf hash" % index)
        elif key not in expected:
            v.bad(size, "the stored tree holds an entry the records do not make: %s" %
                  key.hex())
    if stored_size != size:
        v.bad(size + 1 if stored_size is not None and stored_size > size else size,
              "the stored tree's size key says %s, the log has %d records" % (stored_size, size))


def check_saved_head(v, head, pinned, roots_at, size):
    ok, why = verify_head(head, pinned)
    if not ok:
        v.bad(None, "the saved head does not verify: %s" % why)
    if head.tree_size > size:
        v.bad(size + 1, "history truncated: the head covers %d records, the log has %d" %
              (head.tree_size, size))
    elif roots_at.get(head.tree_size) != head.root_hash:
        v.bad(head.tree_size, "history rewritten: the root of the first %d records is not the "
              "head's" % head.tree_size)


# ---------------------------------------------------------------------------
# The document, read.


def read_doc(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def section(text, title):
    """The text under the heading containing title, up to the next heading of
    the same or a higher level."""
    lines = text.split("\n")
    start = level = None
    for i, line in enumerate(lines):
        m = re.match(r"(#+) ", line)
        if not m:
            continue
        if start is None:
            if title in line:
                start, level = i, len(m.group(1))
        elif len(m.group(1)) <= level:
            return "\n".join(lines[start:i])
    if start is None:
        raise KeyError("no heading %r in the document" % title)
    return "\n".join(lines[start:])


def table_rows(text):
    """Markdown table rows as lists of cells (escaped pipes kept in cells)."""
    rows = []
    for line in text.split("\n"):
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        if all(re.fullmatch(r"-+", c) for c in cells):
            continue
        rows.append(cells)
    return rows


def hexes(text):
    return [bytes.fromhex(h) for h in re.findall(r"\b[0-9a-f]{64}\b", text)]


def code_blocks(text):
    return re.findall(r"```\n(.*?)```", text, re.S)


def matches(cell, value):
    """A cell holding a full hash or one abbreviated as `01234567…cdef`."""
    cell = cell.strip("` ")
    m = re.search(r"([0-9a-f]{8})…([0-9a-f]{4})", cell)
    if m:
        return value.hex().startswith(m.group(1)) and value.hex().endswith(m.group(2))
    full = re.findall(r"[0-9a-f]{64}", cell)
    return bool(full) and bytes.fromhex(full[-1]) == value


def pair(cell):
    a, b = [int(x) for x in re.findall(r"\d+", cell)]
    return a, b


# ---------------------------------------------------------------------------
# 1. The worked examples of docs/verification.md.


def worked_examples(doc):
    print("the worked examples of docs/verification.md")
    known = set()          # every hash the script computed, for abbreviations

    # Section 2: the three records.
    s2 = section(doc, "## 2. Leaf hashes")
    ex3 = section(s2, "### Worked example: three records")
    three, vectors_text = ex3.split("Implementations can also be checked", 1)
    m = re.search(r"root of the empty tree is\s+`([0-9a-f]{64})`", s2)
    check("section 2: the empty tree's root is HASH() of the empty string",
          m is not None and bytes.fromhex(m.group(1)) == HASH() == Compact().root(),
          m and m.group(1))
    records, leaves = [], []
    for row in table_rows(three):
        if re.fullmatch(r"\d", row[0]) and len(row) == 3 and re.fullmatch(r"`[0-9a-f]+`", row[1]):
            rec = bytes.fromhex(row[1].strip("`"))
            records.append(rec)
            leaves.append(bytes.fromhex(row[2].strip("`")))
            ev = pb.Event.FromString(rec)
            check("section 2: record %d (%s) decodes to an Event with sequence %d" %
                  (len(records), rec.hex(), len(records)), ev.sequence == len(records),
                  str(ev))
            check("section 2: L_%d = HASH(00 || record %d)" % (len(records), len(records)),
                  leaf_hash(rec) == leaves[-1], leaf_hash(rec).hex())
    check("section 2: three records in the example's table", len(records) == 3, str(records))
    tree3 = Tree([leaf_hash(r) for r in records])
    known |= tree3.subtrees() | {HASH()}
    L1, L2, L3 = tree3.d
    N12 = node_hash(L1, L2)
    R = {0: HASH(), 1: L1, 2: N12, 3: node_hash(N12, L3)}
    root_rows = [r for r in table_rows(three) if len(r) == 2 and re.fullmatch(r"\d", r[0])]
    check("section 2: roots of sizes 0..3 in the table",
          [int(r[0]) for r in root_rows] == [0, 1, 2, 3], str(root_rows))
    for size, cell in root_rows:
        size = int(size)
        check("section 2: root of size %d, by MTH and by the compact method" % size,
              matches(cell, tree3.mth(0, size)) and matches(cell, compact_root(tree3.d[:size]))
              and matches(cell, R[size]), cell)
    m = re.search(r"For example `L_1` is SHA-256 of the three bytes `([0-9a-f ]+)`", three)
    check("section 2: L_1 is SHA-256 of the bytes the text names",
          m is not None and HASH(bytes.fromhex(m.group(1).replace(" ", ""))) == L1)

    # The Certificate Transparency reference vectors.
    m = re.search(r"leaf inputs(.*?)give the roots", vectors_text, re.S)
    inputs = [b"" if x == '""' else bytes.fromhex(x)
              for x in re.findall(r"`([0-9a-f]*|\"\")`", m.group(1))] if m else []
    check("section 2: eight reference inputs", len(inputs) == 8, str(inputs))
    ref = Tree([leaf_hash(x) for x in inputs])
    known |= ref.subtrees()
    ref_rows = [r for r in table_rows(vectors_text) if len(r) == 2 and r[0].isdigit()]
    check("section 2: reference roots of sizes 1..8 in the table",
          [int(r[0]) for r in ref_rows] == list(range(1, 9)), str(ref_rows))
    for size, cell in ref_rows:
        size = int(size)
        check("section 2: reference root of size %d, by MTH and by the compact method" % size,
              matches(cell, ref.mth(0, size)) and matches(cell, compact_root(ref.d[:size])), cell)

    # Section 3: the signed head.
    s3 = section(doc, "## 3. Signed tree heads")
    tag = re.search(r"`([0-9a-f]{32})`", s3)
    check("section 3: the domain tag's hex is \"ledger.v1.head\" and two 0x00",
          tag is not None and bytes.fromhex(tag.group(1)) == HEAD_TAG, tag and tag.group(1))
    ex = section(s3, "### Worked example")
    m = re.search(r"`timestamp_us` = (\d+) = `0x([0-9a-f]{16})`", ex)
    ts = int(m.group(1)) if m else 0
    check("section 3: timestamp_us in decimal and hex agree, and is 2026-01-01T00:00:00Z",
          m is not None and ts == int(m.group(2), 16) and
          time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts // 1_000_000)) ==
          "2026-01-01T00:00:00Z" and ts % 1_000_000 == 0, m and m.group(0))
    blocks = code_blocks(ex)
    signed = bytes.fromhex("".join(line.split()[0] for line in blocks[0].strip().split("\n")))
    mine = head_bytes(3, R[3], ts)
    check("section 3: the 64 signed bytes of the example", signed == mine and len(mine) == 64,
          "doc %s, computed %s" % (signed.hex(), mine.hex()))
    seed = re.search(r"secret seed\s+`([0-9a-f]{64})`", ex)
    pub = re.search(r"public key\s+`([0-9a-f]{64})`", ex)
    sig = bytes.fromhex("".join(blocks[1].split()))
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(seed.group(1)))
    from cryptography.hazmat.primitives import serialization
    raw_pub = key.public_key().public_bytes(serialization.Encoding.Raw,
                                            serialization.PublicFormat.Raw)
    check("section 3: the RFC 8032 TEST 1 seed gives the public key printed",
          raw_pub.hex() == pub.group(1), raw_pub.hex())
    check("section 3: the example's signature, signed again (Ed25519 is deterministic)",
          key.sign(mine) == sig, key.sign(mine).hex())
    h = pb.SignedHead(tree_size=3, root_hash=R[3], timestamp_us=ts, signature=sig,
                      public_key=raw_pub)
    check("section 3: the example head verifies, pinned to the test key",
          verify_head(h, raw_pub) == (True, "verified"), str(verify_head(h, raw_pub)))

    # Section 4.1: inclusion.
    s41 = section(doc, "### 4.1 Inclusion")
    names = {"L_1": L1, "L_2": L2, "L_3": L3, "N12": N12, "R1": R[1], "R2": R[2], "R3": R[3]}

    ex = section(s41, "#### Worked example: record 1 in the tree of size 3")
    m = re.search(r"Path `\[([^\]]*)\]`", ex)
    path = [names[x.strip()] for x in m.group(1).split(",")]
    check("4.1 record 1 of 3: the path is RFC 6962's PATH(0, D[0:3])", path == tree3.path(0))
    trace = []
    ok = verify_inclusion(L1, 1, 3, path, R[3], trace)
    steps = [r for r in table_rows(ex) if r[0].isdigit()]
    same = len(steps) == len(trace) and all(
        pair(row[1].replace("→", " ")) == (t[0], t[4]) and
        pair(row[2].replace("→", " ")) == (t[1], t[5]) and matches(row[5], t[2])
        for row, t in zip(steps, trace))
    check("4.1 record 1 of 3: verified, each step as the table shows", ok and same,
          "trace %s" % [(t[0], t[1], t[2].hex()[:8], t[4], t[5]) for t in trace])

    ex = section(s41, "#### Worked example: record 3 in the tree of size 3")
    path = hexes(re.search(r"`\[([0-9a-f]{64})\]`", ex).group(1))
    trace = []
    ok = verify_inclusion(L3, 3, 3, path, R[3], trace)
    # The prose: start fn = 2, sn = 2; one element; ends fn = 0, sn = 0, r = R3.
    check("4.1 record 3 of 3: path [N12] = PATH(2, D[0:3]), verified from fn = sn = 2 to 0, 0",
          path == [N12] == tree3.path(2) and ok and trace == [(2, 2, R[3], None, 0, 0)],
          str(trace))

    ex = section(s41, "#### Worked example: a deeper path")
    m = re.search(r"\(`([0-9a-f]+)`, leaf hash\s+`([0-9a-f]{64})`\)", ex)
    check("4.1 leaf 5 of 8: the input is the sixth reference input and its leaf hash",
          m is not None and bytes.fromhex(m.group(1)) == inputs[5] and
          bytes.fromhex(m.group(2)) == ref.d[5], m and m.group(0))
    path = hexes(re.search(r"path\s+`\[(.*?)\]`", ex, re.S).group(1))
    check("4.1 leaf 5 of 8: the path is PATH(5, D[0:8])", path == ref.path(5),
          str([p.hex() for p in ref.path(5)]))
    trace = []
    ok = verify_inclusion(ref.d[5], 6, 8, path, ref.mth(), trace)
    steps = [r for r in table_rows(ex) if r[0].isdigit()]
    same = len(steps) == len(trace) and all(
        pair(row[1]) == (t[0], t[1]) and matches(row[3], t[2]) and pair(row[4]) == (t[4], t[5])
        for row, t in zip(steps, trace))
    check("4.1 leaf 5 of 8: verified, each step as the table shows", ok and same,
          str([(t[0], t[1], t[2].hex(), t[4], t[5]) for t in trace]))

    # Section 4.2: consistency.
    s42 = section(doc, "### 4.2 Consistency")
    ex = section(s42, "#### Worked example: from size 2 to size 3")
    path = hexes(re.search(r"`\[([0-9a-f]{64})\]`", ex).group(1))
    trace = []
    ok = verify_consistency(2, 3, R[2], R[3], path, trace)
    check("4.2 from 2 to 3: path [L_3] = PROOF(2, D[0:3]), verified (sr = R3, fn, sn 0, 0)",
          path == [L3] == tree3.proof(2, 3) and ok and trace == [(0, 1, R[2], R[3], 0, 0)],
          str(trace))

    ex = section(s42, "#### Worked example: from size 1 to size 3")
    m = re.search(r"Path `\[([^\]]*)\]`", ex)
    path = [names[x.strip()] for x in m.group(1).split(",")]
    trace = []
    ok = verify_consistency(1, 3, R[1], R[3], path, trace)
    steps = [r for r in table_rows(ex) if r[0].startswith("`")]
    same = len(steps) == len(trace) and all(
        names[row[0].strip("`")] == c and pair(row[1]) == (t[0], t[1]) and
        matches(row[3], t[3]) and pair(row[4]) == (t[4], t[5]) and t[2] == L1
        for row, t, c in zip(steps, trace, path))
    check("4.2 from 1 to 3: path [L_2, L_3] = PROOF(1, D[0:3]), verified as the table shows",
          path == tree3.proof(1, 3) and ok and same, str(trace))

    ex = section(s42, "#### Worked example: from size 6 to size 8")
    fr = re.search(r"`from_root`\s+\(size 6\) =\s+`([0-9a-f]{64})`", ex)
    to = re.search(r"`to_root`\s+\(size 8\) = `([0-9a-f]{64})`", ex)
    check("4.2 from 6 to 8: from_root and to_root are the reference roots of 6 and 8",
          fr is not None and to is not None and bytes.fromhex(fr.group(1)) == ref.mth(0, 6)
          and bytes.fromhex(to.group(1)) == ref.mth())
    path = hexes(re.search(r"path\s+`\[(.*?)\]`", ex, re.S).group(1))
    check("4.2 from 6 to 8: the path is PROOF(6, D[0:8])", path == ref.proof(6, 8),
          str([p.hex() for p in ref.proof(6, 8)]))
    trace = []
    ok = verify_consistency(6, 8, ref.mth(0, 6), ref.mth(), path, trace)
    steps = [r for r in table_rows(ex) if r[0].startswith("`")]
    same = len(steps) == len(trace) and all(
        matches(row[0], c) and pair(row[1]) == (t[0], t[1]) and matches(row[3], t[2]) and
        matches(row[4], t[3]) and pair(row[5]) == (t[4], t[5])
        for row, t, c in zip(steps, trace, path[1:]))
    check("4.2 from 6 to 8: verified, each step as the table shows", ok and same,
          str([(t[0], t[1], t[2].hex()[:8], t[3].hex()[:8], t[4], t[5]) for t in trace]))

    # Every hash sections 2 and 4 print, whole or abbreviated, is one computed here.
    s4 = section(doc, "## 4. Proofs")
    text = s2 + s4
    whole = set(re.findall(r"\b[0-9a-f]{64}\b", text))
    unknown = [h for h in whole if bytes.fromhex(h) not in known]
    check("sections 2 and 4: each of the %d hashes printed whole is one computed here" %
          len(whole), not unknown, str(unknown))
    short = set(re.findall(r"[0-9a-f]{8}…[0-9a-f]{4}", text))
    unknown = [a for a in short if not any(matches(a, k) for k in known)]
    check("sections 2 and 4: each of the %d abbreviated hashes is one computed here" %
          len(short), not unknown, str(unknown))


# ---------------------------------------------------------------------------
# The algorithms of section 4 against RFC 6962 on small trees.


def flip(b, bit=0):
    return bytes([b[0] ^ (1 << bit)]) + b[1:]


def algorithms_self_test():
    print("section 4's algorithms against RFC 6962's PATH and PROOF, trees of 1..33 leaves")
    bad_incl, bad_cons, refused, mutations = [], [], 0, 0
    leaves = [leaf_hash(b"record %d" % i) for i in range(34)]
    for n in range(1, 34):
        t = Tree(leaves[:n])
        root = t.mth()
        for m in range(n):
            p = t.path(m)
            if not verify_inclusion(t.d[m], m + 1, n, p, root):
                bad_incl.append((m + 1, n))
            # Another tree size is tried with that tree's root: the same root
            # under another size may verify (the head binds the two).
            if not verify_inclusion(t.d[m], m + 1, n + 1, p, Tree(leaves[:n + 1]).mth()):
                refused += 1
            else:
                bad_incl.append(("size + 1", m + 1, n))
            mutations += 1
            tries = [(t.d[m], m + 2, n, p) if m + 2 <= n else None,
                     (flip(t.d[m]), m + 1, n, p), (t.d[m], m + 1, n, p + [root])]
            tries += [(t.d[m], m + 1, n, p[:i] + [flip(p[i], 5)] + p[i + 1:])
                      for i in range(len(p))]
            if p:
                tries.append((t.d[m], m + 1, n, p[:-1]))
            for tr in tries:
                if tr is None:
                    continue
                mutations += 1
                if verify_inclusion(tr[0], tr[1], tr[2], tr[3], root):
                    bad_incl.append(("mutation", m + 1, n))
                else:
                    refused += 1
        for m in range(1, n + 1):
            p = t.proof(m, n)
            old = t.mth(0, m)
            if not verify_consistency(m, n, old, root, p):
                bad_cons.append((m, n))
            tries = [p[:i] + [flip(p[i], 3)] + p[i + 1:] for i in range(len(p))]
            if p:
                tries += [p[:-1], p[1:]]
            tries.append(p + [root])
            for tp in tries:
                mutations += 1
                if verify_consistency(m, n, old, root, tp):
                    bad_cons.append(("mutation", m, n))
                else:
                    refused += 1
            if m < n:
                mutations += 2
                refused += not verify_consistency(m, n, flip(old), root, p)
                refused += not verify_consistency(m, n, old, flip(root), p)
    check("every inclusion proof of every tree of 1..33 leaves verifies; every mutation fails",
          not bad_incl, str(bad_incl[:5]))
    check("every consistency proof between sizes 1 <= m <= n <= 33 verifies; every mutation "
          "fails", not bad_cons, str(bad_cons[:5]))
    check("%d mutated proofs refused of %d" % (refused, mutations), refused == mutations)
    check("from_size 0 never verifies, nor from_size > to_size",
          not verify_consistency(0, 3, HASH(), Tree(leaves[:3]).mth(), []) and
          not verify_consistency(4, 3, Tree(leaves[:4]).mth(), Tree(leaves[:3]).mth(), []))
    big = [leaf_hash(b"x")] * 65
    check("an inclusion path of 65 hashes is refused", not verify_inclusion(
        leaf_hash(b"x"), 1, 2 ** 63, big, HASH()))
    check("a consistency path of 129 hashes is refused", not verify_consistency(
        3, 2 ** 64 - 1, HASH(), HASH(), [HASH()] * 129))


# ---------------------------------------------------------------------------
# Running the ledger's programs.


def clean_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    if "LEDGER_TEST_TIMEOUT_SCALE" in os.environ:
        env["LEDGER_TEST_TIMEOUT_SCALE"] = os.environ["LEDGER_TEST_TIMEOUT_SCALE"]
    return env


def run(cmd, timeout=120, cwd=None):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=timeout * SCALE, env=clean_env(), cwd=cwd,
                       stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout, p.stderr


class Tools:
    def __init__(self, build):
        self.ledgerd = os.path.join(build, "daemon", "ledgerd")
        self.ledgerctl = os.path.join(build, "client", "ledgerctl")
        self.verify = os.path.join(build, "tools", "ledger-verify")
        self.fixture = os.path.join(build, "tools", "ledger-fixture")
        for p in (self.ledgerd, self.ledgerctl, self.verify, self.fixture):
            if not os.access(p, os.X_OK):
                fail_setup("no %s: build the project first (cmake --build BUILD)" % p)

    def ledger_verify(self, directory, head=True, pinned=None, views=True):
        cmd = [self.verify]
        if head:
            cmd += ["--head", os.path.join(directory, "head.pb")]
        if pinned is not None:
            cmd += ["--public-key", pinned.hex()]
        if not views:
            cmd.append("--no-views")
        rc, out, err = run(cmd + [directory])
        m = re.search(r"FAILED at sequence (\d+)", out + err)
        return rc, (int(m.group(1)) if m else None), (out + err).strip()


class Daemon(interop_harness.Daemon):
    """ledgerd on a data directory, run without the caller's LEDGER_* settings;
    stop() is interop_harness's."""

    def __init__(self, tools, data, log_path):
        super().__init__(log_path)
        self.tools = tools
        self.data = data

    def start(self, ctl):
        # Ready when a head query is answered; polled until a deadline.
        def ready():
            rc, out, err = ctl.run("operator", "head", timeout_ms=2000, retries=0, check=False)
            return rc == 0 or err.strip()
        self.spawn([self.tools.ledgerd, "--data", self.data], ready,
                   "did not answer a head query", env=clean_env())


class Ctl:
    """ledgerctl with the global options of docs/cli.md, JSON output."""

    def __init__(self, tools, socket, keys):
        self.tools = tools
        self.socket = socket
        self.keys = keys      # principal -> key file

    def run(self, principal, *args, timeout_ms=30000, retries=2, check=True):
        cmd = [self.tools.ledgerctl, "--socket", self.socket, "--principal", principal,
               "--key-file", self.keys[principal], "--output", "json",
               "--timeout-ms", str(timeout_ms * SCALE), "--retries", str(retries)] + list(args)
        rc, out, err = run(cmd)
        if check and rc != 0:
            raise RuntimeError("%s: exit %d: %s" % (" ".join(cmd[9:]), rc, err.strip()))
        return rc, out, err

    def json(self, principal, *args):
        return json.loads(self.run(principal, *args)[1])

    def lines(self, principal, *args):
        return [json.loads(line) for line in self.run(principal, *args)[1].splitlines()
                if line.strip()]


# ---------------------------------------------------------------------------
# 2. Offline: backups and data directories.


def offline(name, directory, tools, pinned=None, lock=False, head=True, expect_size=None,
            agree=True, keep_records=False):
    """Verifies a directory with this verifier and, when agree, compares the
    verdict with ledger-verify's; returns the verdict."""
    head_file = os.path.join(directory, "head.pb") if head else None
    v = verify_directory(directory, head_file, pinned, lock=lock, keep_records=keep_records)
    what = "%s: %d records" % (name, v.size)
    if head_file:
        h = pb.SignedHead.FromString(open(head_file, "rb").read())
        what += ", head.pb of size %d %s" % (h.tree_size,
                                               "pinned" if pinned else "by its own key")
    check("offline %s verifies (layout %s)" % (what, v.layout), v.ok, str(v))
    if expect_size is not None:
        check("offline %s: %d records as expected" % (name, expect_size),
              v.size == expect_size, str(v.size))
    if agree:
        rc, seq, out = tools.ledger_verify(directory, head=head, pinned=pinned)
        check("ledger-verify agrees on %s (exit 0)" % name, rc == 0 and v.ok, out)
        if rc == 0:
            m = re.search(r"root ([0-9a-f]{64})", out)
            check("ledger-verify names the same root for %s" % name,
                  m is not None and bytes.fromhex(m.group(1)) == v.root, out)
    return v


def mth_check(name, directory):
    """The root by RFC 6962's recursive MTH as well as the compact method."""
    v = verify_directory(directory, keep_records=True)
    t = Tree([leaf_hash(r) for r in v.records])
    check("offline %s: RFC 6962's MTH and the compact method give one root" % name,
          t.mth() == v.root, "%s vs %s" % (t.mth().hex(), v.root.hex()))


def fixtures(tools, source, work):
    print("offline: backups written by ledger-fixture and the repository's fixtures")
    out = os.path.join(work, "fixtures")
    os.makedirs(out)
    dirs = {}
    for events in (1, 2, 6, 7, 8, 3000):
        d = os.path.join(out, "events-%d" % events)
        rc, o, e = run([tools.fixture, "--quiet", "--events", str(events), d])
        if not check("ledger-fixture --events %d writes a backup" % events, rc == 0, e):
            continue
        dirs[events + 1] = d
        offline("fixture of %d records" % (events + 1), d, tools, expect_size=events + 1)
    for size in (2, 9, 3001):
        if size in dirs:
            mth_check("fixture of %d records" % size, dirs[size])
    keys = {pb.SignedHead.FromString(open(os.path.join(d, "head.pb"), "rb").read()).public_key
            for d in dirs.values()}
    note("the %d fixtures' heads are signed by %d keys, none kept (a backup carries no "
         "head-signing key): each head is checked by the key it names" % (len(dirs), len(keys)))
    for fx in ("schema-v1", "schema-v2"):
        src = os.path.join(source, "tests", "fixtures", fx)
        if not check("the repository's fixture %s is there" % fx, os.path.isdir(src), src):
            continue
        d = os.path.join(out, fx)
        shutil.copytree(src, d)
        v = offline("the repository's fixture %s" % fx, d, tools, agree=False)
        # A layout 1 store repeats the leaf hashes as level 0 of `merkle`
        # (docs/store.md): both verifiers check them as nodes.
        rc, seq, msg = tools.ledger_verify(d, views=False)
        check("ledger-verify --no-views agrees on %s (layout %s, exit 0)" % (fx, v.layout),
              v.ok and rc == 0, msg)
    return dirs


# ---------------------------------------------------------------------------
# 3. Proofs from a live daemon.


def proofs_live(tools, work):
    print("a live daemon: heads, inclusion and consistency proofs through ledgerctl")
    live = os.path.join(work, "live")
    data = os.path.join(live, "data")
    os.makedirs(live)
    if len(os.path.join(data, "events.sock")) > 107:
        fail_setup("the work directory's path is too long for a Unix socket address "
                   "(ipc:// paths are at most 107 bytes): %s" % work)
    rc, out, err = run([tools.ledgerd, "init", "--data", data])
    check("ledgerd init", rc == 0, out + err)
    keys = {"operator": os.path.join(data, "operator.key")}
    ctl = Ctl(tools, "ipc://%s/ledger.sock" % data, keys)
    daemon = Daemon(tools, data, os.path.join(live, "ledgerd.log"))
    result = {"live": live, "data": data}
    try:
        daemon.start(ctl)
        # 6.1: the public key, pinned from head.key: the first line's 128 hex
        # digits are the seed then the public key.
        with open(os.path.join(data, "head.key")) as f:
            first = f.readline().strip()
        check("head.key: the first line is 128 hex digits", re.fullmatch(r"[0-9a-f]{128}", first)
              is not None, repr(first[:20]))
        pinned = bytes.fromhex(first[64:128])
        seed = bytes.fromhex(first[:64])
        from cryptography.hazmat.primitives import serialization
        derived = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        check("head.key: the public key is the one its seed gives", derived == pinned)
        got = ctl.json("operator", "head", "--public-key")
        check("head --public-key prints the key pinned from head.key",
              got.get("public_key") == pinned.hex(), str(got))
        result["pinned"] = pinned

        heads = {}

        def save(principal, tag):
            path = os.path.join(live, "head-%s.pb" % tag)
            j = ctl.json(principal, "head", "--save", path)
            h = pb.SignedHead.FromString(open(path, "rb").read())
            ok, why = verify_head(h, pinned)
            check("head --save at size %d: the file is a SignedHead that verifies (pinned), "
                  "the JSON the same head" % h.tree_size,
                  ok and j["head"]["tree_size"] == h.tree_size and
                  j["head"]["root_hash"] == h.root_hash.hex() and
                  j["head"]["signature"] == h.signature.hex() and
                  j["head"]["timestamp_us"] == h.timestamp_us, why + " " + str(j))
            heads[h.tree_size] = h
            return h

        save("operator", "init")
        b1 = os.path.join(live, "backup-1")
        j = ctl.json("operator", "backup", "--out", b1)
        check("backup of the initialized ledger (1 record)", j["head"]["tree_size"] == 1, str(j))
        result["backup-1"] = b1
        for p in ("audit-a", "audit-b"):
            ctl.json("operator", "partner", "add", "--partner", p, "--name", "Audit " + p)
            save("operator", p)
        keys_dir = os.path.join(live, "keys")
        j = ctl.json("operator", "demo", "--keys-dir", keys_dir)
        n = j["demo"]["last_sequence"]
        check("demo loads its world (%d events)" % n, n > 20, str(j))
        keys["auditor"] = os.path.join(keys_dir, "auditor.key")
        head = save("auditor", "demo")
        check("the head after the demo covers its last sequence", head.tree_size == n,
              str(head.tree_size))
        bn = os.path.join(live, "backup-%d" % n)
        ctl.json("operator", "backup", "--out", bn)
        result["backup-n"], result["n"] = bn, n

        # The records, from the events query, against the head's tree.
        lines = ctl.lines("auditor", "events", "--proofs", "--tree-size", str(n))
        records = [bytes.fromhex(e["record"]) for e in lines]
        check("events --proofs --tree-size %d: sequences 1..%d" % (n, n),
              [e["sequence"] for e in lines] == list(range(1, n + 1)))
        leaves = [leaf_hash(r) for r in records]
        roots = prefix_roots(leaves)
        tree = Tree(leaves)
        check("the root computed from the events' records is the signed head's",
              roots[n] == head.root_hash == tree.mth(), roots[n].hex())
        for size, h in sorted(heads.items()):
            check("the root of the first %d records is the one signed when the log had %d" %
                  (size, size), roots[size] == h.root_hash)
        decoded = [pb.Event.FromString(r) for r in records]
        check("record 1 is the first operator's PrincipalAdded (section 6.3)",
              decoded[0].WhichOneof("body") == "principal_added" and
              decoded[0].principal_added.principal_id == "operator", str(decoded[0]))
        check("each record decodes to an Event naming its own sequence, and the JSON "
              "event says the same",
              all(d.sequence == s and e["sequence"] == s and e["type"] == d.WhichOneof("body")
                  for s, (d, e) in enumerate(zip(decoded, lines), 1)))
        result["records"] = records

        sizes = sorted({1, 2, 3, 7, 8, 9, 16, 17, n - 1, n})
        for m in sizes:
            got = lines if m == n else ctl.lines("auditor", "events", "--proofs",
                                                 "--tree-size", str(m))
            bad = []
            root = heads[m].root_hash if m in heads else roots[m]
            for s, e in enumerate(got, 1):
                rec = bytes.fromhex(e["record"])
                path = [bytes.fromhex(x) for x in e["proof"]["path"]]
                if not (rec == records[s - 1] and e["sequence"] == s and
                        path == tree.path(s - 1, 0, m) and
                        check_inclusion_entry(rec, e["proof"], m, root)):
                    bad.append(s)
            check("events --proofs --tree-size %d: %d records, each leaf hash recomputed and "
                  "each proof verified against the root of %d%s" %
                  (m, m, m, " (signed)" if m in heads else ""),
                  len(got) == m and not bad, "bad %s" % bad)

        cases = sorted({(1, 1), (1, 2), (2, 3), (3, 3), (5, 7), (7, 8), (8, 9), (9, 9),
                        (1, n), (n // 2, n), (n - 1, n), (n, n), (4, 17), (16, 17)})
        bad = []
        for s, m in cases:
            j = ctl.json("auditor", "proof", "--seq", str(s), "--tree-size", str(m),
                         "--public-key", pinned.hex())
            inc = j["inclusion"]
            root = heads[m].root_hash if m in heads else roots[m]
            if not (inc["sequence"] == s and j.get("verified") is True and
                    check_inclusion_entry(records[s - 1], inc, m, root)):
                bad.append((s, m, j))
        check("proof --seq N --tree-size M for %d pairs: each verified here" % len(cases),
              not bad, str(bad[:2]))
        result["inclusion"] = ctl.json("auditor", "proof", "--seq", "5", "--tree-size",
                                       str(n))["inclusion"]

        pairs = sorted({(1, 2), (1, 3), (2, 3), (3, 7), (7, 8), (8, 9), (1, n), (2, n),
                        (3, n), (4, n), (6, n), (9, n), (16, n), (17, n), (n - 1, n), (n, n),
                        (5, 17), (6, 8), (3, 3)})
        bad = []
        for m, k in pairs:
            j = ctl.json("auditor", "consistency", "--from", str(m), "--to", str(k),
                         "--public-key", pinned.hex())
            c = j["consistency"]
            path = [bytes.fromhex(x) for x in c["path"]]
            old = heads[m].root_hash if m in heads else roots[m]
            new = heads[k].root_hash if k in heads else roots[k]
            if not (j.get("verified") is True and path == tree.proof(m, k) and
                    check_consistency_entry(c, (m, old), (k, new))):
                bad.append((m, k, j))
        check("consistency --from M --to N for %d pairs: each path RFC 6962's PROOF, "
              "verified here (signed roots where heads were saved)" % len(pairs),
              not bad, str(bad[:2]))
        result["consistency"] = ctl.json("auditor", "consistency", "--from", "3", "--to",
                                         str(n))["consistency"]
        signed_pairs = [(a, b) for a in heads for b in heads if a < b]
        check("each saved head extends every earlier one (%d pairs of signed heads)" %
              len(signed_pairs), all(verify_consistency(
                  a, b, heads[a].root_hash, heads[b].root_hash, tree.proof(a, b))
                  for a, b in signed_pairs))
        rc, out, err = ctl.run("auditor", "consistency", "--from", "0", "--to", "3",
                               check=False)
        check("consistency --from 0 is refused before anything is sent (USAGE, exit 2)",
              rc == 2 and "USAGE" in err, err)
        rc, out, err = ctl.run("auditor", "consistency", "--from", "3", "--to", str(n + 5),
                               check=False)
        check("consistency --to past the head: NOT_FOUND (exit 1)",
              rc == 1 and "NOT_FOUND" in err, err)

        # Plain `events --proofs`: against the head of the moment.
        plain = ctl.lines("auditor", "events", "--proofs")
        check("events --proofs (no --tree-size): the same records, proofs against the head",
              [bytes.fromhex(e["record"]) for e in plain] == records and
              all(check_inclusion_entry(bytes.fromhex(e["record"]), e["proof"], n,
                                        head.root_hash) for e in plain))

        # The data directory while its daemon serves: read under its lock.
        v = verify_directory(data, lock=True)
        check("offline, the live data directory while the daemon serves (under its lock): "
              "%d records, the head's root" % v.size,
              v.ok and v.size == n and v.root == head.root_hash, str(v))
        result["heads"] = heads
    finally:
        rc = daemon.stop()
    check("the daemon exits 0 on SIGTERM", rc == 0, "rc=%s; see %s" % (rc, daemon.log_path))
    return result


def offline_live(tools, live):
    print("offline: the daemon's backups and its data directory")
    offline("the backup of 1 record", live["backup-1"], tools, pinned=live["pinned"],
            expect_size=1)
    offline("the backup of %d records" % live["n"], live["backup-n"], tools,
            pinned=live["pinned"], expect_size=live["n"])
    v = verify_directory(live["data"], None, live["pinned"], lock=False)
    check("offline, the stopped data directory (MDB_NOLOCK): %d records" % live["n"],
          v.ok and v.size == live["n"], str(v))
    shutil.copy(os.path.join(live["live"], "head-init.pb"), os.path.join(live["data"],
                                                                          "head.pb"))
    offline("the data directory with the head saved at size 1", live["data"], tools,
            pinned=live["pinned"])
    os.unlink(os.path.join(live["data"], "head.pb"))
    check("offline reading wrote no lock.mdb into a backup",
          not os.path.exists(os.path.join(live["backup-n"], "lock.mdb")))


# ---------------------------------------------------------------------------
# 4. Tampering, refused by this verifier.


def tampering(live):
    print("tampering: refused by this verifier")
    pinned, heads, n = live["pinned"], live["heads"], live["n"]
    head = heads[n]
    records = live["records"]
    leaves = [leaf_hash(r) for r in records]
    inc = live["inclusion"]
    s, m = inc["sequence"], inc["tree_size"]
    path = [bytes.fromhex(x) for x in inc["path"]]
    root = head.root_hash
    check("the untouched inclusion proof of record %d verifies" % s,
          verify_inclusion(leaves[s - 1], s, m, path, root))
    rec = bytearray(records[s - 1])
    rec[len(rec) // 2] ^= 0x01
    check("a record with one byte flipped: its leaf hash fails the inclusion proof",
          not verify_inclusion(leaf_hash(bytes(rec)), s, m, path, root))
    changed = records[:s - 1] + [bytes(rec)] + records[s:]
    check("... and the root of the records is no longer the signed one",
          compact_root([leaf_hash(r) for r in changed]) != root)
    check("every path element with one bit flipped fails (%d elements)" % len(path),
          all(not verify_inclusion(leaves[s - 1], s, m,
                                   path[:i] + [flip(path[i], 7)] + path[i + 1:], root)
              for i in range(len(path))))
    roots = prefix_roots(leaves)
    check("the proof against the root of another tree size fails (M - 1, M - 2, the "
          "signed heads of 1, 2, 3)",
          all(not verify_inclusion(leaves[s - 1], s, t, path, roots[t])
              for t in (m - 1, m - 2)) and
          all(not verify_inclusion(leaves[s - 1], s, t, path, heads[t].root_hash)
              for t in (1, 2, 3) if t >= s))
    check("the proof as given verifies against the head (checks of the JSON)",
          check_inclusion_entry(records[s - 1], inc, m, root))
    for field, value in (("tree_size", m - 1), ("tree_size", m + 1), ("sequence", s + 1),
                         ("leaf_hash", leaves[s].hex())):
        t = dict(inc)
        t[field] = value
        check("a proof whose %s is changed to %s is refused" % (field, value),
              not check_inclusion_entry(records[s - 1], t, m, root))
    check("another record with this proof is refused",
          not check_inclusion_entry(records[s], inc, m, root))
    check("a wrong sequence fails (s - 1, s + 1, 0, M + 1)",
          all(not verify_inclusion(leaves[s - 1], t, m, path, root)
              for t in (s - 1, s + 1, 0, m + 1)))
    check("an inclusion path cut short or lengthened fails",
          not verify_inclusion(leaves[s - 1], s, m, path[:-1], root) and
          not verify_inclusion(leaves[s - 1], s, m, path + [root], root))
    check("another record's leaf hash with this proof fails",
          not verify_inclusion(leaves[s], s, m, path, root))

    c = live["consistency"]
    a, b = c["from_size"], c["to_size"]
    cpath = [bytes.fromhex(x) for x in c["path"]]
    old, new = heads[a].root_hash, heads[b].root_hash
    check("the untouched consistency proof %d -> %d verifies (signed roots)" % (a, b),
          verify_consistency(a, b, old, new, cpath))
    check("a consistency path without its last element fails",
          not verify_consistency(a, b, old, new, cpath[:-1]))
    check("a consistency path without its first element fails",
          not verify_consistency(a, b, old, new, cpath[1:]))
    check("a consistency path with an element added fails",
          not verify_consistency(a, b, old, new, cpath + [new]))
    check("every consistency path element with one bit flipped fails",
          all(not verify_consistency(a, b, old, new, cpath[:i] + [flip(cpath[i], 1)] +
                                     cpath[i + 1:]) for i in range(len(cpath))))
    check("the path against the roots of other sizes fails (from + 1, from - 1, to - 1), and "
          "swapped roots fail",
          not verify_consistency(a + 1, b, roots[a + 1], new, cpath) and
          not verify_consistency(a - 1, b, roots[a - 1], new, cpath) and
          not verify_consistency(a, b - 1, old, roots[b - 1], cpath) and
          not verify_consistency(a, b, new, old, cpath))
    check("the proof as given verifies between the two signed heads (checks of the JSON)",
          check_consistency_entry(c, (a, old), (b, new)))
    for field, value in (("from_size", a + 1), ("to_size", b - 1)):
        t = dict(c)
        t[field] = value
        check("a consistency proof whose %s is changed to %s is refused" % (field, value),
              not check_consistency_entry(t, (a, old), (b, new)))
    other = compact_root(leaves[:a - 1] + [leaf_hash(b"rewritten")])
    check("a rewritten old tree (another root of size %d) fails" % a,
          not verify_consistency(a, b, other, new, cpath))

    ok, why = verify_head(head, pinned)
    check("the saved head verifies, pinned", ok, why)

    def altered(**kw):
        h = pb.SignedHead()
        h.CopyFrom(head)
        for k, val in kw.items():
            setattr(h, k, val)
        return h
    sig = head.signature
    cases = {
        "a signature byte flipped": altered(signature=sig[:10] + bytes([sig[10] ^ 4]) +
                                            sig[11:]),
        "the last signature bit flipped": altered(signature=sig[:63] + bytes([sig[63] ^ 1])),
        "a root byte flipped": altered(root_hash=flip(head.root_hash)),
        "tree_size + 1": altered(tree_size=head.tree_size + 1),
        "timestamp_us + 1": altered(timestamp_us=head.timestamp_us + 1),
        "a 31-byte root": altered(root_hash=head.root_hash[:31]),
        "a 63-byte signature": altered(signature=sig[:63]),
    }
    for what, h in cases.items():
        check("a head with %s is refused" % what, not verify_head(h, pinned)[0],
              str(verify_head(h, pinned)))
    other_key = Ed25519PrivateKey.from_private_bytes(b"\x07" * 32)
    from cryptography.hazmat.primitives import serialization
    other_pub = other_key.public_key().public_bytes(serialization.Encoding.Raw,
                                                   serialization.PublicFormat.Raw)
    forged = altered(public_key=other_pub, signature=other_key.sign(
        head_bytes(head.tree_size, head.root_hash, head.timestamp_us)))
    check("a head validly signed by another key is refused when the key is pinned",
          not verify_head(forged, pinned)[0] and verify_head(forged)[0])
    # The identity point as the key, and the signature R = identity, S = 0:
    # [S]B = R + [k]A holds for every message, so only a small-order check
    # refuses it (verification.md 6.3: as libsodium does).
    identity = b"\x01" + b"\x00" * 31
    trivial = altered(public_key=identity, signature=identity + b"\x00" * 32)
    check("a small-order key with the trivial signature is refused (unpinned)",
          verify_head(trivial) == (False, "the public key has a small order"),
          str(verify_head(trivial)))
    s_int = int.from_bytes(sig[32:], "little") + L25519
    if s_int < 2 ** 256:
        nc = altered(signature=sig[:32] + s_int.to_bytes(32, "little"))
        check("the head's signature with S + L (non-canonical) is refused",
              verify_head(nc, pinned) == (False, "non-canonical S"), str(verify_head(nc, pinned)))
    signature_edge_cases(head)


def small_r_signature(seed, message):
    """A signature whose R is the identity, by the key of seed: S = k * a, so
    that [S]B = R + [k]A holds without the cofactor (RFC 8032 5.1.5, 5.1.7)."""
    digest = hashlib.sha512(seed).digest()
    a = bytearray(digest[:32])
    a[0] &= 248
    a[31] &= 127
    a[31] |= 64
    a = int.from_bytes(a, "little")
    from cryptography.hazmat.primitives import serialization
    pub = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    r = b"\x01" + b"\x00" * 31
    k = int.from_bytes(hashlib.sha512(r + pub + message).digest(), "little") % L25519
    return pub, r + (k * a % L25519).to_bytes(32, "little")


def signature_edge_cases(head):
    """Section 6.3: signatures are checked as libsodium's
    crypto_sign_verify_detached checks them. Each case here is judged by this
    verifier, by cryptography's Ed25519 alone, and by libsodium (through
    ctypes, when it loads)."""
    msg = head_bytes(head.tree_size, head.root_hash, head.timestamp_us)
    seed = b"\x09" * 32
    key = Ed25519PrivateKey.from_private_bytes(seed)
    pub, small_r = small_r_signature(seed, msg)
    good = key.sign(msg)
    identity = b"\x01" + b"\x00" * 31
    p_plus_1 = (P25519 + 1).to_bytes(32, "little")            # 1, not reduced
    cases = [
        ("a genuine signature", pub, good, True),
        ("a signature with a bit flipped", pub, flip(good), False),
        ("S + L", pub, good[:32] + (int.from_bytes(good[32:], "little") + L25519)
         .to_bytes(32, "little"), False),
        ("R of small order (the identity), S = k * a", pub, small_r, False),
        ("the identity as the key, R = identity, S = 0", identity, identity + b"\x00" * 32,
         False),
        ("the identity encoded as y = p + 1 as the key, R = identity, S = 0", p_plus_1,
         identity + b"\x00" * 32, False),
    ]
    try:
        sodium = ctypes.CDLL("libsodium.so.23")
        if sodium.sodium_init() < 0:
            sodium = None
    except OSError:
        sodium = None
    for what, pk, sg, want in cases:
        mine = ed25519_verify(pk, sg, msg)[0]
        try:
            Ed25519PublicKey.from_public_bytes(pk).verify(sg, msg)
            plain = True
        except (InvalidSignature, ValueError):
            plain = False
        detail = "this verifier %s, cryptography alone %s" % (mine, plain)
        agree = True
        if sodium is not None:
            lib = sodium.crypto_sign_verify_detached(sg, msg, ctypes.c_ulonglong(len(msg)),
                                                     pk) == 0
            detail += ", libsodium %s" % lib
            agree = lib == mine
        check("Ed25519 as libsodium checks it: %s is %s" %
              (what, "accepted" if want else "refused"), mine == want and agree, detail)
        if plain != want:
            note("cryptography's Ed25519 alone accepts %s: this verifier's own check refuses it"
                 % what)
    if sodium is None:
        note("libsodium.so.23 did not load: the signature cases were not compared with it")


# ---------------------------------------------------------------------------
# 5. Tampered copies: this verifier and ledger-verify agree.


def rewrite(directory, changes):
    """Puts (db, key, value) into a copy, with python-lmdb, no lock file."""
    env = lmdb.open(directory, readonly=False, lock=False, max_dbs=32, subdir=True,
                    create=False)
    try:
        with env.begin(write=True) as txn:
            for db, key, value in changes:
                txn.put(key, value, db=env.open_db(db, txn=txn, create=False))
    finally:
        env.close()


def agree_tampered(name, directory, tools, want_seq, pinned=None, head=True, views=True,
                   refuse=True):
    v = verify_directory(directory, os.path.join(directory, "head.pb") if head else None,
                         pinned)
    rc, seq, msg = tools.ledger_verify(directory, head=head, pinned=pinned, views=views)
    opts = ("" if head else " without --head") + ("" if views else " --no-views")
    if refuse:
        check("%s: this verifier refuses it, first bad sequence %s" % (name, want_seq),
              not v.ok and v.first_bad == want_seq, str(v))
        check("%s: ledger-verify%s refuses it too (exit 1), at sequence %s" %
              (name, opts, want_seq), rc == 1 and seq == want_seq, msg)
    else:
        check("%s: this verifier and ledger-verify%s both accept it" % (name, opts),
              v.ok and rc == 0, "%s / %s" % (v, msg))
    return v


def tampered_copies(tools, dirs, work):
    print("tampered copies: this verifier and ledger-verify agree")
    src = dirs.get(3001)
    if src is None:
        check("the fixture of 3001 records exists", False)
        return
    base = verify_directory(src, keep_records=True)
    records = base.records
    s = 1500
    rec = records[s - 1]
    ev = pb.Event.FromString(rec)

    # (a) One byte of one record flipped inside data.mdb, in place.
    d = os.path.join(work, "tampered-byte")
    shutil.copytree(src, d)
    path = os.path.join(d, "data.mdb")
    with open(path, "rb") as f:
        blob = bytearray(f.read())
    at = blob.find(rec)
    check("record %d's %d bytes occur exactly once in data.mdb" % (s, len(rec)),
          at >= 0 and blob.find(rec, at + 1) < 0, "at %d" % at)
    # A byte inside the command id, so that the record still decodes and names
    # its sequence: only its hash tells.
    cid = ev.command_id.encode()
    off = rec.find(cid)
    check("the record holds its command id %r" % ev.command_id, off > 0)
    blob[at + off + len(cid) - 1] ^= 0x01
    with open(path, "wb") as f:
        f.write(blob)
    v = verify_directory(d, keep_records=True)
    check("the copy's record %d differs from the original in one byte and still decodes" % s,
          sum(x != y for x, y in zip(v.records[s - 1], rec)) == 1 and
          pb.Event.FromString(v.records[s - 1]).sequence == s)
    agree_tampered("a byte of record %d flipped in data.mdb" % s, d, tools, s)
    agree_tampered("a byte of record %d flipped in data.mdb" % s, d, tools, s, views=False)
    agree_tampered("a byte of record %d flipped in data.mdb" % s, d, tools, s, head=False,
                   views=False)

    # (b) The record rewritten together with its leaf hash: the stored node
    # over it tells (the lowest stored node over sequence s: level 1).
    d = os.path.join(work, "tampered-leaf")
    shutil.copytree(src, d)
    new = bytearray(rec)
    new[off + len(cid) - 1] ^= 0x01
    new = bytes(new)
    rewrite(d, [(b"log", be64(s), new), (b"leaf", be64(s), leaf_hash(new))])
    first = (s - 1) // 2 * 2 + 1
    agree_tampered("record %d rewritten with its leaf hash" % s, d, tools, first, head=False,
                   views=False)

    # (c) ... and the whole stored tree derived again: nothing in the
    # directory contradicts it; only the head saved before tells.
    d = os.path.join(work, "tampered-tree")
    shutil.copytree(src, d)
    changed = records[:s - 1] + [new] + records[s:]
    c = Compact()
    nodes = []
    for r in changed:
        c.append(leaf_hash(r), nodes)
    rewrite(d, [(b"log", be64(s), new), (b"leaf", be64(s), leaf_hash(new))] +
            [(b"merkle", bytes([lv]) + be64(ix), h) for lv, ix, h in nodes])
    agree_tampered("record %d rewritten, its leaf hash and the stored tree derived again" % s,
                   d, tools, None, head=False, views=False, refuse=False)
    hs = pb.SignedHead.FromString(open(os.path.join(d, "head.pb"), "rb").read()).tree_size
    agree_tampered("the same with the backup's head.pb", d, tools, hs, views=False)

    # (d) The log cut back: the last record and its leaf hash deleted.
    d = os.path.join(work, "tampered-cut")
    shutil.copytree(src, d)
    env = lmdb.open(d, readonly=False, lock=False, max_dbs=32, subdir=True, create=False)
    with env.begin(write=True) as txn:
        for db in (b"log", b"leaf"):
            txn.delete(be64(len(records)), db=env.open_db(db, txn=txn, create=False))
    env.close()
    agree_tampered("the last record and its leaf hash deleted", d, tools, len(records),
                   views=False)

    # (e) The log emptied with its leaf hashes and its tree: nothing left in
    # them counts what was lost, but no ledger is empty (sequence 1 is its
    # first operator); the saved head counts it too.
    d = os.path.join(work, "tampered-emptied")
    shutil.copytree(src, d)
    env = lmdb.open(d, readonly=False, lock=False, max_dbs=32, subdir=True, create=False)
    with env.begin(write=True) as txn:
        for db in (b"log", b"leaf", b"merkle"):
            txn.drop(env.open_db(db, txn=txn, create=False), delete=False)
    env.close()
    agree_tampered("the log, its leaf hashes and its tree emptied", d, tools, 1, head=False,
                   views=False)
    agree_tampered("the log, its leaf hashes and its tree emptied", d, tools, 1, views=False)


# ---------------------------------------------------------------------------


def main():
    global pb
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", required=True,
                    help="the build directory (daemon/ledgerd, client/ledgerctl, "
                         "tools/ledger-verify, tools/ledger-fixture)")
    ap.add_argument("--source-dir",
                    default=os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")),
                    help="the repository (docs/, proto/, tests/fixtures/)")
    ap.add_argument("--work", required=True, help="a directory of the test's own, emptied")
    add_protoc_option(ap)
    args = ap.parse_args()

    exit_on_sigterm()

    work = os.path.abspath(args.work)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    source = os.path.abspath(args.source_dir)
    tools = Tools(os.path.abspath(args.build_dir))
    pb = load_pb(os.path.join(source, "proto", "ledger.proto"), work, args.protoc,
                 lambda m: m.SignedHead(tree_size=3, root_hash=b"r" * 32),
                 "give the repository with --source-dir")
    load_libs()
    doc = read_doc(os.path.join(source, "docs", "verification.md"))
    t0 = time.time()

    def scenario():
        worked_examples(doc)
        algorithms_self_test()
        dirs = fixtures(tools, source, work)
        live = proofs_live(tools, work)
        offline_live(tools, live)
        tampering(live)
        tampered_copies(tools, dirs, work)
    run_checks(scenario)
    return summary(t0)


if __name__ == "__main__":
    sys.exit(main())
