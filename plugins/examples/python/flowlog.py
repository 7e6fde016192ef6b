#!/usr/bin/env python3
"""flowlog: an ifacetrace plugin written in Python. It writes a flow log for a
SIEM: one key=value line per flow (conversation), e.g.

  ts=2026-11-23T12:00:00.123Z end=2026-11-23T12:00:04.130Z flow_id=7 proto=icmp
  src=10.200.1.2 dst=10.200.2.2 sport=7 dport=7 pkts_fwd=5 pkts_rev=5
  bytes_fwd=490 bytes_rev=490 nat="SNAT 10.200.1.2→10.200.2.1" paths=2 final=true

(one line in the file). README.md beside this file documents the fields.

It speaks contract ifacetrace.plugin.v1 (../../proto/plugin.proto) over
hashicorp/go-plugin's gRPC protocol, implemented here without a go-plugin
library: check the magic cookie, serve gRPC on a unix socket, register the
health service ("plugin" is SERVING) and go-plugin's controller (Shutdown),
print the one handshake line on stdout. Nothing else ever goes to stdout; what
goes to stderr is shown to the user as a warning, so it says little.

Its Python dependencies are Debian's python3-grpcio, python3-grpc-tools and
python3-protobuf. The gRPC stubs are generated at start-up with
grpc_tools.protoc into a cache directory keyed by the protos' digest (see
load_stubs); none are checked in.
"""

import hashlib
import json
import os
import pwd
import shutil
import signal
import sys
import tempfile
import threading
import time

NAME = "flowlog"
VERSION = "0.1.0"

# From plugins/sdk/sdk.go (sdk.Handshake, sdk.MaxMessageSize).
COOKIE_KEY = "IFACETRACE_PLUGIN"
COOKIE_VALUE = "8d1f6c1e-ifacetrace-plugin-v1"
CORE_PROTOCOL_VERSION = 1  # go-plugin's own
APP_PROTOCOL_VERSION = 1   # ifacetrace.plugin.v1
MAX_MESSAGE_SIZE = 64 << 20

DEBIAN_PACKAGES = "python3-grpcio python3-grpc-tools python3-protobuf"

HERE = os.path.dirname(os.path.realpath(__file__))

# Where plugin.proto is looked for: beside this file (an installed copy), then
# in the source tree.
PLUGIN_PROTO_DIRS = [HERE, os.path.join(HERE, "..", "..", "proto")]
OWN_PROTOS = ["health.proto", "grpc_controller.proto"]


def warn(msg):
    """Writes msg to stderr, which ifacetrace shows as a warning."""
    sys.stderr.write(NAME + ": " + msg + "\n")
    sys.stderr.flush()


class StubError(Exception):
    pass


# ---------------------------------------------------------------------------
# Stubs, generated at run time.

def _own_dir(path):
    """path if it is absolute and (when it exists) belongs to us, else None.

    Under sudo a plugin runs as the invoking user with root's environment,
    whose HOME it must not write to (and cannot)."""
    if not path or not os.path.isabs(path):
        return None
    try:
        if os.stat(path).st_uid != os.geteuid():
            return None
    except FileNotFoundError:
        pass
    except OSError:
        return None
    return path


def cache_base():
    """The directory under which stubs are cached, or None."""
    base = _own_dir(os.environ.get("XDG_CACHE_HOME"))
    if base is None:
        home = _own_dir(os.environ.get("HOME"))
        if home is None:
            try:
                home = _own_dir(pwd.getpwuid(os.geteuid()).pw_dir)
            except KeyError:
                home = None
        base = os.path.join(home, ".cache") if home else None
    return os.path.join(base, "ifacetrace-flowlog") if base else None


def proto_sources():
    """(include dir, absolute path) of every .proto to compile."""
    plugin_proto = None
    for d in PLUGIN_PROTO_DIRS:
        p = os.path.normpath(os.path.join(d, "plugin.proto"))
        if os.path.isfile(p):
            plugin_proto = (os.path.dirname(p), p)
            break
    if plugin_proto is None:
        raise StubError("cannot find plugin.proto (contract ifacetrace.plugin.v1) in %s: "
                        "install it beside flowlog.py" % " or ".join(os.path.normpath(d) for d in PLUGIN_PROTO_DIRS))
    srcs = [plugin_proto]
    for name in OWN_PROTOS:
        p = os.path.join(HERE, name)
        if not os.path.isfile(p):
            raise StubError("cannot find %s beside %s" % (name, os.path.realpath(__file__)))
        srcs.append((HERE, p))
    return srcs


def stubs_key(srcs):
    """A digest of everything the generated code depends on."""
    import google.protobuf
    import grpc
    h = hashlib.sha256()
    try:
        from importlib.metadata import version
        tools = version("grpcio-tools")
    except Exception:  # not every packaging records it
        tools = "?"
    h.update(("%s|%s|%s|%d.%d\n" % (tools, google.protobuf.__version__, grpc.__version__,
                                    sys.version_info[0], sys.version_info[1])).encode())
    for _, path in srcs:
        with open(path, "rb") as f:
            h.update(os.path.basename(path).encode() + b"\n" + f.read() + b"\n")
    return h.hexdigest()[:16]


def generate(srcs, out):
    """Runs grpc_tools.protoc on srcs, writing the modules into out."""
    from grpc_tools import protoc
    includes = []
    for inc, _ in srcs:
        if inc not in includes:
            includes.append(inc)
    args = ["grpc_tools.protoc"] + ["-I" + i for i in includes] + [
        "--python_out=" + out, "--grpc_python_out=" + out] + [p for _, p in srcs]
    if protoc.main(args) != 0:  # protoc has said why on stderr
        raise StubError("grpc_tools.protoc failed on %s" % ", ".join(p for _, p in srcs))


def load_stubs(cleanup):
    """Generates the stubs if needed and imports them.

    They go to $XDG_CACHE_HOME/ifacetrace-flowlog/KEY (~/.cache by default),
    KEY a digest of the protos and the tool versions: a changed proto gets a
    new directory, never a stale one. A directory appears complete or not at
    all (generated aside, then renamed), so plugins starting together do not
    trip over each other. Without a usable cache directory they are generated
    into a temporary one, removed at exit (cleanup collects it)."""
    srcs = proto_sources()
    key = stubs_key(srcs)
    out = None
    base = cache_base()
    if base is not None:
        target = os.path.join(base, key)
        if os.path.isfile(os.path.join(target, "plugin_pb2_grpc.py")):
            out = target
        else:
            try:
                os.makedirs(base, mode=0o700, exist_ok=True)
                tmp = tempfile.mkdtemp(prefix=".new-", dir=base)
                try:
                    generate(srcs, tmp)
                    os.chmod(tmp, 0o755)
                    os.rename(tmp, target)
                except OSError:
                    shutil.rmtree(tmp, ignore_errors=True)
                    if not os.path.isfile(os.path.join(target, "plugin_pb2_grpc.py")):
                        raise
                out = target  # ours, or another process's that won the race
            except OSError:
                out = None
    if out is None:
        out = tempfile.mkdtemp(prefix="ifacetrace-flowlog-stubs-")
        cleanup.append(out)
        generate(srcs, out)
    sys.path.insert(0, out)
    import importlib
    return {m: importlib.import_module(m) for m in (
        "plugin_pb2", "plugin_pb2_grpc", "health_pb2", "health_pb2_grpc",
        "grpc_controller_pb2", "grpc_controller_pb2_grpc")}


# ---------------------------------------------------------------------------
# The flow log itself.

def timestamp(ns):
    """RFC 3339 in UTC with milliseconds: 2026-11-23T12:00:00.123Z."""
    s, rem = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s)) + ".%03dZ" % (rem // 1_000_000)


def value(v):
    """A value as written: bare when it is a plain word, else double-quoted
    with JSON escapes (\\" \\\\ \\n \\uXXXX)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    s = str(v)
    if s and all(c.isprintable() and c not in ' "=\\' for c in s):
        return s
    return json.dumps(s, ensure_ascii=False)


def flow_line(f):
    """One flow as a line, without the newline."""
    t = f.tuple
    fields = [
        ("ts", timestamp(f.first_unix_nano)),
        ("end", timestamp(f.last_unix_nano)),
        ("flow_id", f.id),
        ("proto", t.proto),
        ("src", t.src),
        ("dst", t.dst),
        ("sport", t.sport),
        ("dport", t.dport),
        ("pkts_fwd", f.packets_forward),
        ("pkts_rev", f.packets_reverse),
        ("bytes_fwd", f.bytes_forward),
        ("bytes_rev", f.bytes_reverse),
        ("nat", "; ".join(f.nat)),
        ("paths", len(f.paths)),
        ("final", f.final),
    ]
    return " ".join(k + "=" + value(v) for k, v in fields)


class PluginError(Exception):
    """An error for the user: its text is the gRPC status message."""


class FlowLog:
    def __init__(self):
        self.lock = threading.Lock()
        self.path = None
        self.file = None
        self.flows = 0

    def configure(self, options):
        warnings = ["flowlog: unknown option %s ignored" % k for k in sorted(options) if k != "path"]
        path = options.get("path", "")
        if not path:
            raise PluginError("flowlog: option path is required (e.g. --plugin flowlog:path=flows.log)")
        path = os.path.abspath(path)
        with self.lock:
            self._close()
            try:
                self.file = open(path, "w", encoding="utf-8", newline="\n")
            except OSError as e:
                raise PluginError("flowlog: cannot create %s: %s (choose a file in a writable directory)"
                                  % (path, e.strerror or e))
            self.path, self.flows = path, 0
        return warnings

    def consume(self, batch):
        """Writes the batch's flows; returns warnings for the user."""
        with self.lock:
            if self.file is None:
                raise PluginError("flowlog: batch %d before Configure" % batch.seq)
            try:
                for f in batch.flows:
                    self.file.write(flow_line(f) + "\n")
                    self.flows += 1
            except OSError as e:
                raise PluginError("flowlog: batch %d: write %s: %s" % (batch.seq, self.path, e.strerror or e))
            if batch.HasField("stats"):
                return self._losses(batch.stats)
        return []

    def _losses(self, st):
        """A warning when the capture lost packets: the flow counts are then
        lower bounds, which a SIEM's user should know."""
        drops = sum(s.drops for s in st.sockets)
        evicted = st.correlation.evicted_traces
        if drops == 0 and evicted == 0:
            return []
        return ["flowlog: the capture lost packets (%d kernel drops, %d traces evicted): "
                "the packet and byte counts in %s are lower bounds" % (drops, evicted, self.path)]

    def finish(self):
        with self.lock:
            if self.file is None:
                return [], {}
            try:
                self.file.flush()
                os.fsync(self.file.fileno())
                self.file.close()
            except OSError as e:
                raise PluginError("flowlog: finish %s: %s" % (self.path, e.strerror or e))
            finally:
                self.file = None
            return [self.path], {"flows": self.flows}

    def _close(self):
        if self.file is not None:
            try:
                self.file.close()
            except OSError:
                pass
            self.file = None

    def close(self):
        with self.lock:
            self._close()


# ---------------------------------------------------------------------------
# gRPC services and go-plugin's protocol.

def services(grpc, stubs, flowlog, stop):
    """The servicer classes, built on the generated base classes."""
    pb, pb_grpc = stubs["plugin_pb2"], stubs["plugin_pb2_grpc"]
    health_pb2, health_grpc = stubs["health_pb2"], stubs["health_pb2_grpc"]
    ctl_pb2, ctl_grpc = stubs["grpc_controller_pb2"], stubs["grpc_controller_pb2_grpc"]

    def abort(context, code, e):
        context.abort(code, str(e))

    class Plugin(pb_grpc.PluginServicer):
        def Describe(self, request, context):
            return pb.PluginInfo(
                name=NAME, version=VERSION,
                description="writes a flow log for a SIEM: one key=value line per flow",
                wants=pb.Subscriptions(flows=True, stats=True),
                options=[pb.OptionSpec(name="path", type="path", help="file to write", required=True)],
                lossless=True)

        def Configure(self, request, context):
            try:
                warnings = flowlog.configure(dict(request.options))
            except PluginError as e:
                abort(context, grpc.StatusCode.INVALID_ARGUMENT, e)
            return pb.ConfigureResponse(warnings=warnings)

        def Consume(self, request_iterator, context):
            for batch in request_iterator:
                try:
                    warnings = flowlog.consume(batch)
                except PluginError as e:
                    abort(context, grpc.StatusCode.FAILED_PRECONDITION, e)
                yield pb.Report(warnings=warnings, counters={"flows": flowlog.flows}, consumed_seq=batch.seq)

        def Finish(self, request, context):
            try:
                files, counters = flowlog.finish()
            except PluginError as e:
                abort(context, grpc.StatusCode.INTERNAL, e)
            return pb.FinishResponse(files=files, counters=counters)

    class Health(health_grpc.HealthServicer):
        def Check(self, request, context):
            if request.service not in ("", "plugin"):
                context.abort(grpc.StatusCode.NOT_FOUND, "unknown service " + request.service)
            return health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING)

    class Controller(ctl_grpc.GRPCControllerServicer):
        def Shutdown(self, request, context):
            stop.set()  # the main thread stops the server once this answer is out
            return ctl_pb2.Empty()

    return [
        (pb_grpc.add_PluginServicer_to_server, Plugin()),
        (health_grpc.add_HealthServicer_to_server, Health()),
        (ctl_grpc.add_GRPCControllerServicer_to_server, Controller()),
    ]


def main():
    if os.environ.get(COOKIE_KEY) != COOKIE_VALUE:
        sys.stderr.write(
            "flowlog is an ifacetrace plugin: ifacetrace starts it, e.g.\n"
            "  ifacetrace --plugin flowlog:path=flows.log ...\n"
            "(with this file's directory on IFACETRACE_PLUGIN_PATH, or the path of\n"
            "ifacetrace-plugin-flowlog instead of flowlog). It is not meant to be run by hand.\n")
        return 1

    # stdout carries the handshake line and nothing else: keep it aside and
    # point fd 1 at stderr, so that a stray print (ours or a library's)
    # cannot corrupt it.
    handshake = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    try:
        import grpc
        import grpc_tools.protoc  # noqa: F401 (checked here for a clear message)
        import google.protobuf  # noqa: F401
    except ImportError as e:
        warn("%s: %s needs Debian's %s (apt-get install %s), or the same modules for this "
             "interpreter" % (e, sys.executable, DEBIAN_PACKAGES, DEBIAN_PACKAGES))
        return 1

    cleanup = []
    flowlog = FlowLog()
    try:
        try:
            stubs = load_stubs(cleanup)
        except StubError as e:
            warn(str(e))
            return 1

        from concurrent import futures
        stop = threading.Event()
        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="grpc"),
            options=[("grpc.max_receive_message_length", MAX_MESSAGE_SIZE),
                     ("grpc.max_send_message_length", MAX_MESSAGE_SIZE)])
        for add, servicer in services(grpc, stubs, flowlog, stop):
            add(servicer, server)

        # A fresh directory of our own (0700) for the socket, inside the one
        # the host gave (PLUGIN_UNIX_SOCKET_DIR), if any.
        sock_dir = tempfile.mkdtemp(prefix="flowlog-", dir=os.environ.get("PLUGIN_UNIX_SOCKET_DIR") or None)
        cleanup.append(sock_dir)
        sock = os.path.join(sock_dir, "plugin.sock")
        if server.add_insecure_port("unix:" + sock) == 0:
            warn("cannot listen on unix socket %s" % sock)
            return 1
        server.start()

        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, lambda *_: stop.set())

        handshake.write("%d|%d|unix|%s|grpc\n" % (CORE_PROTOCOL_VERSION, APP_PROTOCOL_VERSION, sock))
        handshake.flush()
        handshake.close()

        # Until the controller's Shutdown, a signal, or the parent's end
        # (no plugin outlives ifacetrace: if its parent changes, it is gone).
        parent = os.getppid()
        code = 0
        while not stop.wait(0.25):
            if os.getppid() != parent:
                code = 3
                break
        server.stop(grace=1).wait()
        return code
    finally:
        flowlog.close()
        for d in cleanup:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    code = main()
    sys.stderr.flush()
    # gRPC's threads could hold up a normal interpreter exit.
    os._exit(code)
