#!/usr/bin/env python3
"""A paperbus client and subscriber in Python, written from proto/PROTOCOL.md alone.

Nothing here was learnt from the C sources: every frame, default and error
code comes from PROTOCOL.md, which is the point of this file -- it shows that
the document is enough for another language to join the bus. It needs only
pyzmq and msgpack (Debian: python3-zmq, python3-msgpack).

As a module:

    from paperbus_client import Client, Subscriber

    with Client() as client:
        status, body = client.call("bus.status", {"workers": True})
        body = client.request("bus.status", {})   # raises ErrorReply on error

    with Subscriber(["paper.ingested"]) as sub:
        for topic, seq, body in sub.events(timeout_ms=5000):
            ...

As a command:

    paperbus_client.py call METHOD [JSON]
    paperbus_client.py subscribe TOPIC [--count N] [--timeout-ms MS]

Endpoints come from PAPERBUS_BUS_REQUESTS and PAPERBUS_BUS_EVENTS_OUT, with
the defaults of PROTOCOL.md's endpoint table.
"""

import argparse
import json
import logging
import os
import re
import sys
import time

import msgpack
import zmq

log = logging.getLogger("paperbus")

# ---- Constants from PROTOCOL.md ----

# "Endpoints": the bus binds, we connect.
DEFAULT_REQUESTS = "tcp://127.0.0.1:5555"  # ROUTER; we connect a DEALER
DEFAULT_EVENTS_OUT = "tcp://127.0.0.1:5557"  # XPUB; we connect a SUB
DEFAULT_HEARTBEAT_MS = 500  # PAPERBUS_HEARTBEAT_MS
DEFAULT_BUS_WAIT_MS = 3000  # PAPERBUS_BUS_WAIT_MS: how long the bus waits for a worker

# "Requests": frame 0 of every request and reply.
CLIENT_HEADER = b"PBC1"

# "Events": topics are 1..128 bytes of [a-z0-9_.-]; after the topic come a
# NUL and the seq as 8 bytes big-endian.
TOPIC_RE = re.compile(rb"[a-z0-9_.-]{1,128}")
SEQ_BYTES = 8
HEARTBEAT_TOPIC = "bus.heartbeat"
MISSED_HEARTBEATS = 3  # "stops receiving it for 3 intervals"

# "Error codes": code -> wire name. Used when an error reply's body cannot be
# decoded, so that an error still has a name.
ERROR_NAMES = {
    1: "malformed",
    2: "missing_field",
    3: "wrong_type",
    4: "invalid_utf8",
    5: "too_large",
    6: "invalid",
    7: "not_found",
    8: "conflict",
    9: "unknown_service",
    10: "no_worker",
    11: "timeout",
    12: "worker_died",
    13: "unknown_command",
    14: "unsupported_version",
    15: "unavailable",
    16: "rate_limited",
    17: "internal",
}


# ---- Errors ----


class PaperbusError(Exception):
    """Base class of every error this module raises."""


class NoReply(PaperbusError, TimeoutError):
    """No reply came within the deadline, on any attempt (the bus may be down)."""


class ProtocolError(PaperbusError):
    """The bus sent something PROTOCOL.md does not allow."""


class ErrorReply(PaperbusError):
    """A reply whose status is not 0; carries the decoded error_reply body."""

    def __init__(self, method, code, name, message):
        self.method = method
        self.code = code
        self.name = name
        self.message = message
        super().__init__(f"{method}: {name} ({code}): {message}")

    @classmethod
    def from_reply(cls, method, status, body):
        """Build the error from a reply's status and its error_reply body.

        The status frame is authoritative for the code; the body's name and
        message are used when they have the documented types.
        """
        name = ERROR_NAMES.get(status, f"error {status}")
        message = ""
        if isinstance(body, dict):
            if isinstance(body.get("name"), str) and body["name"]:
                name = body["name"]
            if isinstance(body.get("message"), str):
                message = body["message"]
        return cls(method, status, name, message)


# ---- Helpers ----


def _env(name, default):
    """An endpoint or setting from the environment; empty means the default."""
    return os.environ.get(name) or default


def _env_int(name, default):
    value = os.environ.get(name)
    try:
        return int(value) if value else default
    except ValueError:
        raise PaperbusError(f"{name}={value!r} is not an integer") from None


def _unpack_map(data):
    """Decode one MessagePack map, as every body is. Raises ProtocolError."""
    try:
        body = msgpack.unpackb(data, raw=False)
    except Exception as exc:  # msgpack raises several unrelated types
        raise ProtocolError(f"body is not MessagePack: {exc}") from None
    if not isinstance(body, dict):
        raise ProtocolError(f"body is a {type(body).__name__}, not a map")
    return body


def _apply_curve(sock):
    """Encrypt the connection when PAPERBUS_CURVE_PUBLIC_KEY holds the bus's key.

    PROTOCOL.md ("Security"): everyone but the bus gets the bus's public key
    (Z85) and sets CURVE_SERVERKEY, CURVE_PUBLICKEY and CURVE_SECRETKEY. The
    bus does no client authentication yet, so a fresh key pair of our own
    will do. "off" (what `paperctl config` shows when unset) means no CURVE.
    """
    server_key = os.environ.get("PAPERBUS_CURVE_PUBLIC_KEY", "")
    if server_key in ("", "off"):
        return
    public, secret = zmq.curve_keypair()
    sock.curve_serverkey = server_key.encode("ascii")
    sock.curve_publickey = public
    sock.curve_secretkey = secret


# ---- Requests ----


class Client:
    """Calls services through the bus: a DEALER on the request endpoint.

    Each call gets a fresh request id (8 bytes big-endian, as in PROTOCOL.md's
    worked example). Replies whose id is not the awaited one are ignored.
    On a deadline the client follows the Lazy Pirate recipe: close the
    socket, open a new one and send the same request again, up to `retries`
    more times. That is safe because every paperbus write is idempotent.

    The default deadline is above the bus's own wait for a worker
    (PAPERBUS_BUS_WAIT_MS, 3 s), so that a `no_worker` answer arrives before
    the client gives up on the attempt.
    """

    def __init__(self, endpoint=None, timeout_ms=5000, retries=2, context=None):
        self.endpoint = endpoint or _env("PAPERBUS_BUS_REQUESTS", DEFAULT_REQUESTS)
        self.timeout_ms = timeout_ms
        self.retries = retries
        self._context = context or zmq.Context.instance()
        self._next_id = 1
        self._sock = None
        self._connect()

    def _connect(self):
        self._sock = self._context.socket(zmq.DEALER)
        self._sock.linger = 0  # a request we gave up on must not hold up close()
        _apply_curve(self._sock)
        self._sock.connect(self.endpoint)

    def close(self):
        """Close the socket; the client cannot be used afterwards."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def call(self, method, body=None, timeout_ms=None, retries=None):
        """Send one request and return (status, body) of its reply.

        status is 0 on success, and body is then the reply message; else
        status is an error code and body the error_reply map (see
        ErrorReply.from_reply). Raises NoReply when no attempt got a reply
        within timeout_ms, and ProtocolError on a reply the protocol forbids.
        """
        if self._sock is None:
            raise PaperbusError("client is closed")
        timeout_ms = self.timeout_ms if timeout_ms is None else timeout_ms
        retries = self.retries if retries is None else retries

        request_id = self._next_id.to_bytes(8, "big")
        self._next_id += 1
        frames = [
            CLIENT_HEADER,
            method.encode("utf-8"),
            request_id,
            msgpack.packb(body if body is not None else {}, use_bin_type=True),
        ]

        for attempt in range(1 + retries):
            if attempt > 0:
                log.warning("%s: no reply in %d ms; reconnecting (attempt %d of %d)",
                            method, timeout_ms, attempt + 1, 1 + retries)
                self._sock.close()
                self._connect()
            self._sock.send_multipart(frames)
            reply = self._await_reply(request_id, timeout_ms)
            if reply is not None:
                return reply
        raise NoReply(f"{method}: no reply from {self.endpoint} in {1 + retries} "
                      f"attempt(s) of {timeout_ms} ms")

    def request(self, method, body=None, timeout_ms=None, retries=None):
        """Like call(), but return only the reply body and raise ErrorReply on an error."""
        status, reply = self.call(method, body, timeout_ms, retries)
        if status != 0:
            raise ErrorReply.from_reply(method, status, reply)
        return reply

    def _await_reply(self, request_id, timeout_ms):
        """Wait for the reply with this id; None when the deadline passes first."""
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            left_ms = int((deadline - time.monotonic()) * 1000)
            if left_ms <= 0 or not self._sock.poll(left_ms, zmq.POLLIN):
                return None
            frames = self._sock.recv_multipart()
            # PBC1, request id, status, body. Anything else cannot be matched
            # to a request, so it is skipped like a stale reply.
            if len(frames) != 4 or frames[0] != CLIENT_HEADER:
                log.warning("ignoring a reply of %d frame(s) that is not PBC1", len(frames))
                continue
            _, reply_id, status, body = frames
            if reply_id != request_id:
                continue  # a late reply to an earlier request
            if not re.fullmatch(rb"[0-9]+", status):
                raise ProtocolError(f"status frame {status!r} is not ASCII decimal")
            return int(status), _unpack_map(body)


# ---- Events ----


def parse_event(frame):
    """Split one event frame into (topic, seq, body).

    The frame is the topic, a NUL, the seq as 8 bytes big-endian, then the
    MessagePack body. Raises ProtocolError if it is not shaped that way.
    """
    nul = frame.find(b"\0")
    if nul < 0:
        raise ProtocolError("event has no NUL after its topic")
    topic = frame[:nul]
    if not TOPIC_RE.fullmatch(topic):
        raise ProtocolError(f"event topic {topic!r} is not 1..128 bytes of [a-z0-9_.-]")
    rest = frame[nul + 1:]
    if len(rest) < SEQ_BYTES:
        raise ProtocolError("event is too short for its 8-byte seq")
    seq = int.from_bytes(rest[:SEQ_BYTES], "big")
    return topic.decode("ascii"), seq, _unpack_map(rest[SEQ_BYTES:])


class Subscriber:
    """Receives events of exact topics: a SUB on the events-out endpoint.

    Each topic is subscribed with its NUL, so `paper` does not also bring
    `paper.ingested`. The subscriber also listens to `bus.heartbeat` and,
    as PROTOCOL.md asks, opens a new SUB socket when it has heard nothing
    for 3 heartbeat intervals, so that a restarted bus learns its
    subscriptions again. Heartbeats are only yielded when asked for.

    ZeroMQ may drop events; a caller that needs every one compares each
    seq with the last it saw for that topic and reads any gap from the
    event_log table in PostgreSQL (seq 0 is an event that is not logged).
    """

    def __init__(self, topics, endpoint=None, heartbeat_ms=None, context=None):
        self.endpoint = endpoint or _env("PAPERBUS_BUS_EVENTS_OUT", DEFAULT_EVENTS_OUT)
        self.topics = list(topics)
        for topic in self.topics:
            if not TOPIC_RE.fullmatch(topic.encode("ascii", "replace")):
                raise PaperbusError(f"topic {topic!r} is not 1..128 bytes of [a-z0-9_.-]")
        if heartbeat_ms is None:
            heartbeat_ms = _env_int("PAPERBUS_HEARTBEAT_MS", DEFAULT_HEARTBEAT_MS)
        self.heartbeat_ms = heartbeat_ms
        self._context = context or zmq.Context.instance()
        self._sock = None
        self._connect()

    def _connect(self):
        self._sock = self._context.socket(zmq.SUB)
        self._sock.linger = 0
        _apply_curve(self._sock)
        for topic in set(self.topics) | {HEARTBEAT_TOPIC}:
            self._sock.subscribe(topic.encode("ascii") + b"\0")
        self._sock.connect(self.endpoint)
        self._last_heard = time.monotonic()

    def close(self):
        """Close the socket; the subscriber cannot be used afterwards."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def receive(self, timeout_ms=None):
        """Return the next event as (topic, seq, body), or None after timeout_ms.

        timeout_ms None waits for ever. Malformed frames are logged and skipped.
        """
        if self._sock is None:
            raise PaperbusError("subscriber is closed")
        deadline = None if timeout_ms is None else time.monotonic() + timeout_ms / 1000
        silence_limit = MISSED_HEARTBEATS * self.heartbeat_ms / 1000
        while True:
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                return None
            if now - self._last_heard > silence_limit:
                log.warning("no %s for %d ms; reopening the SUB socket",
                            HEARTBEAT_TOPIC, MISSED_HEARTBEATS * self.heartbeat_ms)
                self._sock.close()
                self._connect()
                now = self._last_heard
            # Wake up for whichever comes first: the caller's deadline or the
            # moment the bus would count as silent.
            wake = self._last_heard + silence_limit
            if deadline is not None:
                wake = min(wake, deadline)
            if not self._sock.poll(max(1, int((wake - now) * 1000)), zmq.POLLIN):
                continue
            frames = self._sock.recv_multipart()
            self._last_heard = time.monotonic()  # any message is a sign of life
            if len(frames) != 1:
                log.warning("ignoring an event of %d frames (events are one frame)", len(frames))
                continue
            try:
                topic, seq, body = parse_event(frames[0])
            except ProtocolError as exc:
                log.warning("ignoring a malformed event: %s", exc)
                continue
            if topic == HEARTBEAT_TOPIC and HEARTBEAT_TOPIC not in self.topics:
                continue
            return topic, seq, body

    def events(self, timeout_ms=None):
        """Yield (topic, seq, body) for ever; raise TimeoutError after timeout_ms without one."""
        while True:
            event = self.receive(timeout_ms)
            if event is None:
                raise TimeoutError(f"no event in {timeout_ms} ms")
            yield event


# ---- Command line ----


def _json_default(value):
    """JSON has no bytes; MessagePack bin values are printed as hex strings."""
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    raise TypeError(f"cannot show {type(value).__name__} as JSON")


def _to_json(value):
    return json.dumps(value, ensure_ascii=False, default=_json_default)


def _cmd_call(args):
    try:
        body = json.loads(args.json)
    except json.JSONDecodeError as exc:
        print(f"paperbus_client: the body is not JSON: {exc}", file=sys.stderr)
        return 2
    if not isinstance(body, dict):
        print("paperbus_client: the body must be a JSON object", file=sys.stderr)
        return 2
    with Client(timeout_ms=args.timeout_ms, retries=args.retries) as client:
        try:
            status, reply = client.call(args.method, body)
        except PaperbusError as exc:
            print(f"paperbus_client: {exc}", file=sys.stderr)
            return 1
    if status != 0:
        print(f"paperbus_client: {ErrorReply.from_reply(args.method, status, reply)}",
              file=sys.stderr)
        return 1
    print(_to_json(reply))
    return 0


def _cmd_subscribe(args):
    last_seq = None
    with Subscriber([args.topic]) as sub:
        for received in range(args.count or sys.maxsize):
            event = sub.receive(args.timeout_ms)
            if event is None:
                print(f"paperbus_client: no {args.topic} event in {args.timeout_ms} ms "
                      f"({received} received)", file=sys.stderr)
                return 1
            topic, seq, body = event
            # A hole in the seqs means events were dropped (see PROTOCOL.md).
            if seq and last_seq and seq != last_seq + 1:
                log.warning("%s: seq %d follows %d; the missing ones are in event_log",
                            topic, seq, last_seq)
            if seq:
                last_seq = seq
            print(f"{topic} {seq} {_to_json(body)}", flush=True)
    return 0


def main(argv=None):
    """Run the command line; returns the exit status."""
    parser = argparse.ArgumentParser(
        description="Talk to a paperbus bus (see proto/PROTOCOL.md).",
        epilog="Endpoints: PAPERBUS_BUS_REQUESTS (default %s), "
               "PAPERBUS_BUS_EVENTS_OUT (default %s)." % (DEFAULT_REQUESTS, DEFAULT_EVENTS_OUT))
    commands = parser.add_subparsers(dest="command", required=True)

    call = commands.add_parser("call", help="call METHOD; print the reply body as JSON")
    call.add_argument("method", help="service.operation, e.g. bus.status")
    call.add_argument("json", nargs="?", default="{}", help="request body (a JSON object)")
    call.add_argument("--timeout-ms", type=int, default=5000,
                      help="deadline of each attempt (default 5000)")
    call.add_argument("--retries", type=int, default=2,
                      help="attempts after the first one (default 2)")
    call.set_defaults(run=_cmd_call)

    sub = commands.add_parser("subscribe", help="print TOPIC's events: TOPIC SEQ JSON")
    sub.add_argument("topic", help="exact topic, e.g. paper.ingested")
    sub.add_argument("--count", type=int, default=0,
                     help="exit 0 after this many events (default: never)")
    sub.add_argument("--timeout-ms", type=int, default=None,
                     help="exit 1 if this long passes without an event (default: wait for ever)")
    sub.set_defaults(run=_cmd_subscribe)

    args = parser.parse_args(argv)
    logging.basicConfig(format="paperbus_client: %(message)s", level=logging.WARNING)
    try:
        return args.run(args)
    except PaperbusError as exc:
        print(f"paperbus_client: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
