"""Process and bookkeeping helpers shared by the interop tests
(protocol_client.py and audit_verifier.py): the ok/FAIL checks, notes and
their summary, a setup failure, the timeout scale, protobuf classes
generated with protoc and imported, a daemon started in the background,
waited for and stopped, the scenario run under a SIGTERM handler.

It carries no knowledge of the protocol, of the ledger or of the tree: what a
daemon is ready on, which .proto to compile and which message to probe it
with are the caller's. So each test still stands for its document alone:
what it checks is written in it, from its document, and nothing here
decides a check.

The tests import it as a module beside them (they put their own directory
on sys.path) and run under `python3 -B`, which leaves no __pycache__ behind.
"""
import ctypes
import importlib
import os
import shutil
import signal
import subprocess
import sys
import time
import traceback


# ---------------------------------------------------------------------------
# Checks.

FAILED = []
PASSED = []
NOTES = []


def check(name, cond, detail=""):
    if cond:
        PASSED.append(name)
        print("  ok   %s" % name)
    else:
        FAILED.append((name, detail))
        print("  FAIL %s %s" % (name, detail))
    return cond


def note(text):
    NOTES.append(text)
    print("  note %s" % text)


def fail_setup(msg):
    print("SETUP FAILED: " + msg)
    print("\n0 passed, 1 failed")
    sys.exit(1)


def exit_on_sigterm():
    """A SIGTERM (e.g. from ctest) unwinds through the finally clauses that
    stop the daemons, instead of killing the test where it stands."""
    def on_term(signum, frame):
        raise SystemExit("terminated by signal %d" % signum)
    signal.signal(signal.SIGTERM, on_term)


def run_checks(scenario, cleanup=None):
    """Runs scenario(); an exception it raises is printed and counted as a
    failure, and cleanup() runs in any case."""
    try:
        scenario()
    except BaseException:  # noqa: BLE001
        traceback.print_exc()
        FAILED.append(("the scenario stopped on an exception (above)", ""))
    finally:
        if cleanup is not None:
            cleanup()


def summary(t0, on_failure=None):
    """Prints the failures, the notes, on_failure (a line, when anything
    failed), the time since t0 and the counts; returns the exit status."""
    print()
    for name, detail in FAILED:
        print("FAILED: %s %s" % (name, detail))
    for n in NOTES:
        print("NOTE: %s" % n)
    if FAILED and on_failure:
        print(on_failure)
    print("%.1f s" % (time.time() - t0))
    print("%d passed, %d failed" % (len(PASSED), len(FAILED)))
    return 1 if FAILED else 0


def _timeout_scale():
    """$LEDGER_TEST_TIMEOUT_SCALE (1 to 1000; scripts/valgrind.sh sets it)
    stretches every deadline, as it does for the C tests (tests/test_util.h)."""
    try:
        scale = int(os.environ.get("LEDGER_TEST_TIMEOUT_SCALE", "1"))
    except ValueError:
        scale = 1
    return scale if 1 <= scale <= 1000 else 1


SCALE = _timeout_scale()


# ---------------------------------------------------------------------------
# Protobuf classes: generated with protoc on every run.


def add_protoc_option(ap):
    ap.add_argument("--protoc", default="/usr/bin/protoc",
                    help="protoc of the same release as the python protobuf runtime "
                         "(default: Debian's, /usr/bin/protoc)")


def load_pb(proto_file, work, protoc, probe, missing_hint):
    """Generates NAME_pb2.py into work from proto_file (NAME.proto) and
    imports it. probe(module) makes a message that must survive a round
    trip; missing_hint says where the .proto comes from when it is not
    there."""
    if not os.path.isfile(proto_file):
        fail_setup("no %s (%s)" % (proto_file, missing_hint))
    if not (os.path.isfile(protoc) and os.access(protoc, os.X_OK)):
        fail_setup("no protoc at %s: install Debian's protobuf-compiler (scripts/deps.sh)" %
                   protoc)
    try:
        import google.protobuf
    except ImportError as e:
        fail_setup("%s cannot import google.protobuf (%s): install Debian's python3-protobuf "
                   "(scripts/deps.sh) and run this with /usr/bin/python3" % (sys.executable, e))
    name = os.path.splitext(os.path.basename(proto_file))[0] + "_pb2"
    out = os.path.join(work, name + ".py")
    if os.path.exists(out):
        os.unlink(out)
    shutil.rmtree(os.path.join(work, "__pycache__"), ignore_errors=True)
    try:
        subprocess.run([protoc, "-I", os.path.dirname(proto_file), "--python_out=" + work,
                        proto_file], check=True,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    except subprocess.CalledProcessError as e:
        fail_setup("%s failed on %s:\n%s" % (protoc, proto_file, e.stdout))
    version = subprocess.run([protoc, "--version"], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True).stdout.strip()
    sys.path.insert(0, work)
    try:
        module = importlib.import_module(name)
        # A round trip, so that a generated module the runtime cannot really
        # use (a protoc newer than python3-protobuf) fails here, clearly.
        message = probe(module)
        if type(message).FromString(message.SerializeToString()) != message:
            raise RuntimeError("a %s does not survive a round trip" % type(message).__name__)
    except Exception as e:  # noqa: BLE001
        fail_setup("the module generated by %s (%s) does not work with python protobuf %s "
                   "(%s): %s: protoc and python3-protobuf must come from the same release" %
                   (protoc, version, google.protobuf.__version__,
                    os.path.dirname(google.protobuf.__file__), e))
    print("protobuf: %s, python runtime %s" % (version, google.protobuf.__version__))
    # protoc 3.21.12 goes with the python runtime 4.21.12: the same release.
    if version.split(".")[-2:] != google.protobuf.__version__.split(".")[-2:]:
        note("protoc (%s) and the python runtime (%s) are of different releases" %
             (version, google.protobuf.__version__))
    return module


# ---------------------------------------------------------------------------
# A daemon in the background.


def _die_with_parent():
    """In the child before exec: SIGKILL it when this test process dies (so a
    test killed by ctest's timeout leaves no daemon behind)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)   # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001
        pass


class Daemon:
    """A program run in the background, its output appended to log_path,
    killed if this process dies, stopped with SIGTERM and then SIGKILL. The
    test says how it is started and when it is ready."""
    START_SECONDS = 60   # generous: sanitizer builds start slower
    STOP_SECONDS = 30

    def __init__(self, log_path):
        self.log_path = log_path
        self.proc = None
        self.name = None

    def spawn(self, argv, ready, not_ready, env=None):
        """Starts argv and polls ready() until it returns True, or the
        program exits, or START_SECONDS (scaled) pass: then RuntimeError,
        "NAME <not_ready> in N s (<what ready() last returned>); see LOG"."""
        self.name = os.path.basename(argv[0])
        with open(self.log_path, "a") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                         env=env, preexec_fn=_die_with_parent)
        deadline = time.time() + self.START_SECONDS * SCALE
        while True:
            why = ready()
            if why is True:
                return
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited with %s; see %s" % (self.name, self.proc.returncode,
                                                                  self.log_path))
            if time.time() > deadline:
                raise RuntimeError("%s %s in %d s%s; see %s" %
                                   (self.name, not_ready, self.START_SECONDS * SCALE,
                                    " (%s)" % why if why else "", self.log_path))
            time.sleep(0.05)

    def stop(self):
        """SIGTERM, then SIGKILL after a deadline; returns the exit status."""
        if self.proc is None:
            return None
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(self.STOP_SECONDS * SCALE)
        except subprocess.TimeoutExpired:
            print("  %s did not exit %d s after SIGTERM: SIGKILL" % (self.name, self.STOP_SECONDS))
            proc.kill()
            proc.wait()
            return "killed after SIGTERM timed out"
