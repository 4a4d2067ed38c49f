#!/usr/bin/python3
"""A development and test SMTP server that keeps every message it accepts.

Each accepted message is stored as DIR/<UTC yyyymmddThhmmss.ffffff>-<NNNNNN>.eml
(NNNNNN counts the messages stored since start), holding exactly the message
bytes received after DATA (dot-unstuffed, line endings as sent, nothing added).
Files are written atomically: NAME.eml.tmp is written and fsynced, then renamed.

Every transaction outcome can be appended to a JSON-lines log (--log), one
object per line, flushed at once:

  {"time": "2024-05-01T12:00:00.123456Z", "stage": "RCPT" or "DATA",
   "mail_from": "a@example.org", "rcpt": ["b@example.org"], "code": 250,
   "file": "NAME.eml" or null, "message_id": "<id@host>" or null,
   "tls": false, "auth_user": "user" or null}

A "RCPT" line is written for each refused recipient (rcpt holds that one
address); a "DATA" line for each completed DATA (rcpt holds the accepted
recipients). Replies the SMTP library produces on its own (syntax errors,
552 too much data, ...) are not logged.

Failure injection for tests:
  --temporary-failures N   the first N DATA transactions of the server's life
                           get "451 4.3.0 Temporary failure, try again later"
  --reject-rcpt REGEX      matching recipients get "550 5.1.1 Mailbox unavailable"
  --temporary-rcpt REGEX   matching recipients get "451 4.2.0 Mailbox busy, try
                           again later" (--reject-rcpt wins if both match)
  --delay-ms N             wait N ms before answering DATA; the message is
                           already stored then, so a client killed during the
                           wait leaves a message it never saw acknowledged

SIZE (10 MB), 8BITMIME and SMTPUTF8 are offered. Lines longer than 998 octets
are stored rather than refused, so a test can detect them in the stored file.
STARTTLS is offered with --tls-cert/--tls-key (and required before MAIL with
--require-tls). --auth USER:PASSWORD requires AUTH PLAIN or LOGIN, over TLS
when TLS is configured, in plain text otherwise; without --auth no AUTH is
advertised. An error inside a session (a failed TLS handshake, a failed write)
is reported on stderr in one line and answered "451 4.3.0 Internal error".
Port 0 picks a free port; --ready-file receives the port actually used once
the server listens.

The server runs until SIGTERM or SIGINT, then exits 0.

usage: mailcatcher.py [--host H] [--port P] [--dir DIR] [--log FILE]
                      [--temporary-failures N] [--reject-rcpt REGEX]
                      [--temporary-rcpt REGEX] [--delay-ms N]
                      [--tls-cert FILE --tls-key FILE [--require-tls]]
                      [--auth USER:PASSWORD] [--ready-file FILE]
"""
import argparse
import asyncio
import json
import logging
import os
import re
import signal
import ssl
import sys
import warnings
from datetime import datetime, timezone
from email import policy
from email.parser import BytesHeaderParser
from pathlib import Path

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

logger = logging.getLogger("mailcatcher")

DATA_SIZE_LIMIT = 10 * 1024 * 1024
SERVER_NAME = "mailcatcher"

RCPT_REJECTED = "550 5.1.1 Mailbox unavailable"
RCPT_BUSY = "451 4.2.0 Mailbox busy, try again later"
DATA_TEMPFAIL = "451 4.3.0 Temporary failure, try again later"


class CatcherSMTP(SMTP):
    """An aiosmtpd session that stores over-long lines instead of refusing them.

    aiosmtpd answers "500 Line too long" to a DATA line over 1001 octets; a
    catcher should keep such a message so the test can see what was sent.
    """

    line_length_limit = DATA_SIZE_LIMIT


def write_atomically(path, data):
    """Write data to path via an fsynced PATH.tmp and a rename."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def utc_now():
    return datetime.now(timezone.utc)


def message_id_of(content):
    """The first Message-ID header of raw message bytes as sent (unfolded), or None."""
    headers = BytesHeaderParser(policy=policy.default).parsebytes(content)
    for name, value in headers.raw_items():
        if name.lower() == "message-id":
            # The parser keeps non-ASCII bytes as surrogate escapes.
            text = value.encode("ascii", "surrogateescape").decode("utf-8", "replace")
            return " ".join(text.split())
    return None


class Catcher:
    """aiosmtpd handler: applies the failure rules, stores and logs messages."""

    def __init__(self, maildir, log, temporary_failures, reject_rcpt,
                 temporary_rcpt, delay_ms, offer_auth):
        self.maildir = maildir
        self.log = log
        self.temporary_failures = temporary_failures
        self.reject_rcpt = reject_rcpt
        self.temporary_rcpt = temporary_rcpt
        self.delay = delay_ms / 1000
        # Not named auth_*: aiosmtpd takes handler attributes named so for
        # AUTH mechanisms.
        self.offer_auth = offer_auth
        self.data_transactions = 0
        self.stored = 0

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        # With an EHLO hook aiosmtpd leaves recording the client name to us.
        session.host_name = hostname
        if self.offer_auth:
            return responses
        return [line for line in responses if not line.startswith("250-AUTH")]

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        # With a RCPT hook aiosmtpd leaves recording the recipient to us.
        for pattern, status in ((self.reject_rcpt, RCPT_REJECTED),
                                (self.temporary_rcpt, RCPT_BUSY)):
            if pattern is not None and pattern.search(address):
                self.write_log("RCPT", session, envelope.mail_from, [address], status)
                return status
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        content = envelope.original_content
        self.data_transactions += 1
        if self.data_transactions <= self.temporary_failures:
            status, name = DATA_TEMPFAIL, None
        else:
            name = self.store(content)
            status = f"250 2.0.0 OK stored as {name}"
        self.write_log("DATA", session, envelope.mail_from, envelope.rcpt_tos,
                       status, name, message_id_of(content))
        await asyncio.sleep(self.delay)
        return status

    async def handle_exception(self, error):
        # Replaces aiosmtpd's traceback (e.g. for a failed TLS handshake) with
        # one line, and answers 451 rather than 500: the failure is ours.
        cause = error.__cause__ or error
        logger.warning("session error: %r", cause)
        return f"451 4.3.0 Internal error: {type(cause).__name__}"

    def store(self, content):
        self.stored += 1
        name = f"{utc_now():%Y%m%dT%H%M%S.%f}-{self.stored:06d}.eml"
        write_atomically(self.maildir / name, content)
        return name

    def write_log(self, stage, session, mail_from, rcpt, status,
                  name=None, message_id=None):
        if self.log is None:
            return
        auth = session.auth_data
        record = {
            "time": f"{utc_now():%Y-%m-%dT%H:%M:%S.%fZ}",
            "stage": stage,
            "mail_from": mail_from,
            "rcpt": list(rcpt),
            "code": int(status[:3]),
            "file": name,
            "message_id": message_id,
            "tls": session.ssl is not None,
            "auth_user": (None if auth is None
                          else auth.login.decode("utf-8", "replace")),
        }
        self.log.write(json.dumps(record) + "\n")
        self.log.flush()


def make_authenticator(user, password):
    """An aiosmtpd authenticator accepting exactly user/password."""
    expected = LoginPassword(user.encode(), password.encode())

    def authenticate(server, session, envelope, mechanism, auth_data):
        if auth_data == expected:
            return AuthResult(success=True, auth_data=auth_data)
        # handled=False makes aiosmtpd answer 535; its default (True) sends nothing.
        return AuthResult(success=False, handled=False)

    return authenticate


def non_negative_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}")
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0: {text}")
    return value


def regex(text):
    try:
        return re.compile(text, re.IGNORECASE)
    except re.error as e:
        raise argparse.ArgumentTypeError(f"bad regular expression {text!r}: {e}")


def credentials(text):
    user, sep, password = text.partition(":")
    if not sep or not user:
        raise argparse.ArgumentTypeError("expected USER:PASSWORD")
    return user, password


def parse_args():
    parser = argparse.ArgumentParser(
        description="Development SMTP server that stores every message as .eml.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=non_negative_int, default=2525,
                        help="0 picks a free port (default 2525)")
    parser.add_argument("--dir", type=Path, default=Path("var/mail"),
                        help="where .eml files go, created if missing (default var/mail)")
    parser.add_argument("--log", type=Path,
                        help="append one JSON object per transaction outcome")
    parser.add_argument("--temporary-failures", type=non_negative_int, default=0,
                        metavar="N", help="answer the first N DATA with 451")
    parser.add_argument("--reject-rcpt", type=regex, metavar="REGEX",
                        help="answer RCPT TO for matching addresses with 550")
    parser.add_argument("--temporary-rcpt", type=regex, metavar="REGEX",
                        help="answer RCPT TO for matching addresses with 451")
    parser.add_argument("--delay-ms", type=non_negative_int, default=0, metavar="N",
                        help="wait N ms before answering DATA")
    parser.add_argument("--tls-cert", type=Path, metavar="FILE")
    parser.add_argument("--tls-key", type=Path, metavar="FILE")
    parser.add_argument("--require-tls", action="store_true",
                        help="refuse MAIL before STARTTLS")
    parser.add_argument("--auth", type=credentials, metavar="USER:PASSWORD",
                        help="require AUTH PLAIN/LOGIN with these credentials")
    parser.add_argument("--ready-file", type=Path, metavar="FILE",
                        help="write the listening port here once ready")
    args = parser.parse_args()
    if (args.tls_cert is None) != (args.tls_key is None):
        parser.error("--tls-cert and --tls-key go together")
    if args.require_tls and args.tls_cert is None:
        parser.error("--require-tls needs --tls-cert and --tls-key")
    return args


def tls_context(cert, key):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except OSError as e:  # ssl.SSLError included, whose text names no file
        raise OSError(f"cannot load --tls-cert {cert} / --tls-key {key}: {e}") from e
    return context


async def serve(args, tls, log):
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    handler = Catcher(args.dir, log, args.temporary_failures, args.reject_rcpt,
                      args.temporary_rcpt, args.delay_ms, args.auth is not None)
    auth = {}
    if args.auth is not None:
        auth = {"auth_required": True,
                "authenticator": make_authenticator(*args.auth)}

    def new_session():
        return CatcherSMTP(handler, hostname=SERVER_NAME,
                           data_size_limit=DATA_SIZE_LIMIT, enable_SMTPUTF8=True,
                           tls_context=tls, require_starttls=args.require_tls,
                           auth_require_tls=tls is not None, loop=loop, **auth)

    server = await loop.create_server(new_session, host=args.host, port=args.port)
    port = server.sockets[0].getsockname()[1]
    if args.ready_file is not None:
        write_atomically(args.ready_file, f"{port}\n".encode())
    print(f"mailcatcher: listening on {args.host}:{port}, writing {args.dir}", flush=True)
    await stop.wait()
    server.close()
    await server.wait_closed()


def main():
    args = parse_args()
    logging.basicConfig(format="%(name)s: %(levelname)s: %(message)s")
    # aiosmtpd warns on every connection when AUTH is allowed without TLS,
    # which is the point of --auth without --tls-cert; keep only its errors.
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
    log = None
    try:
        tls = None if args.tls_cert is None else tls_context(args.tls_cert, args.tls_key)
        args.dir.mkdir(parents=True, exist_ok=True)
        if args.log is not None:
            log = open(args.log, "a", encoding="utf-8")
        asyncio.run(serve(args, tls, log))
    except OSError as e:  # setup failures: files, certificate, address in use
        sys.exit(f"mailcatcher: {e}")
    finally:
        if log is not None:
            log.close()


if __name__ == "__main__":
    main()
