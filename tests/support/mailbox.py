#!/usr/bin/python3
"""Describe the .eml files of a directory (e.g. one mailcatcher.py writes) as JSON.

usage: mailbox.py DIR [--wait N] [--timeout-ms T]

Prints a JSON list on stdout, one object per DIR/*.eml file, sorted by file
name (other files, such as the catcher's *.eml.tmp, are skipped; a missing
DIR counts as empty). Messages are parsed with the email package's real MIME
parser under email.policy.default:

  file           the file name
  headers        {lower-case name: [decoded values (RFC 2047 and folding undone)]}
  raw_headers    {lower-case name: [values as in the file, folding kept]}
  content_type   the message's own content type, e.g. "multipart/alternative"
  parts          one object per leaf MIME part, in order:
                 {"content_type", "charset" (or null), "transfer_encoding"
                  (lower-case, "7bit" when absent), "disposition" ("inline",
                  "attachment" or null), "filename" (or null), "size" (octets
                  after transfer decoding), "text" (text/* parts: decoded,
                  CRLF turned into LF; null for other parts)}
  links          every http(s) URL, in order, duplicates kept: found by regex
                 in text/plain parts, from <a href> in text/html parts
  html_has_remote_images
                 true if an HTML part has an <img>, <link> or <script> whose
                 src/href starts with http or //, or a CSS url(http...) or url(//...)
  defects        every defect the parser found, as "DefectClass: detail"
                 (header defects are prefixed "header NAME: "); a text part
                 in an unknown charset adds "UnknownCharset: NAME" and is
                 read as UTF-8
  line_too_long  true if a line of the file exceeds 998 octets, CRLF excluded
  bare_lf        true if the file has an LF not preceded by CR

--wait N polls every 50 ms until DIR holds at least N .eml files or
--timeout-ms (default 10000) passes, then prints whatever is there.
Exits 0 on success, 2 on a usage error.
"""
import argparse
import json
import re
import sys
import time
from email import policy
from email.parser import BytesParser
from html.parser import HTMLParser
from pathlib import Path

POLL_INTERVAL = 0.05
MAX_LINE_OCTETS = 998

LINK_URL = re.compile(r"^https?://", re.IGNORECASE)
TEXT_URL = re.compile(r"https?://[^\s<>\"]+", re.IGNORECASE)
TRAILING_PUNCTUATION = ".,;:!?)]}'"
REMOTE_REF = re.compile(r"^\s*(https?:|//)", re.IGNORECASE)
REMOTE_CSS_URL = re.compile(r"url\(\s*['\"]?\s*(https?:|//)", re.IGNORECASE)
BARE_LF = re.compile(rb"(?<!\r)\n")


class HtmlScanner(HTMLParser):
    """Collects <a href> http(s) links and notices remote resources."""

    def __init__(self):
        super().__init__()
        self.links = []
        self.remote_resources = False

    def handle_starttag(self, tag, attrs):
        # html.parser hands over attribute values with entities unescaped.
        for name, value in attrs:
            if value is None:
                continue
            if tag == "a" and name == "href" and LINK_URL.match(value.strip()):
                self.links.append(value.strip())
            if (tag in ("img", "link", "script") and name in ("src", "href")
                    and REMOTE_REF.match(value)):
                self.remote_resources = True
            if name == "style" and REMOTE_CSS_URL.search(value):
                self.remote_resources = True

    def handle_data(self, data):
        # Text inside <style> blocks arrives here.
        if REMOTE_CSS_URL.search(data):
            self.remote_resources = True


def text_links(text):
    return [url.rstrip(TRAILING_PUNCTUATION) for url in TEXT_URL.findall(text)]


def raw_value(value):
    """A raw header value as text: the parser keeps undecodable bytes as
    surrogate escapes, which are turned back into bytes and read as UTF-8."""
    return value.encode("ascii", "surrogateescape").decode("utf-8", "replace")


def describe_defect(defect):
    detail = str(defect)
    name = type(defect).__name__
    return f"{name}: {detail}" if detail else name


def describe_part(part, defects):
    """A leaf MIME part; decoding it lets the parser record its defects."""
    payload = part.get_payload(decode=True)
    text = None
    if part.get_content_maintype() == "text":
        charset = part.get_content_charset("us-ascii")
        try:
            text = payload.decode(charset, "replace")
        except LookupError:
            defects.append(f"UnknownCharset: {charset}")
            text = payload.decode("utf-8", "replace")
        text = text.replace("\r\n", "\n")
    return {
        "content_type": part.get_content_type(),
        "charset": part.get_content_charset(),
        "transfer_encoding": str(part.get("Content-Transfer-Encoding", "7bit")).strip().lower(),
        "disposition": part.get_content_disposition(),
        "filename": part.get_filename(),
        "size": len(payload),
        "text": text,
    }


def describe(path):
    raw = path.read_bytes()
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    defects = []
    headers = {}
    for name, value in msg.items():
        headers.setdefault(name.lower(), []).append(str(value))
        defects += [f"header {name}: {describe_defect(d)}" for d in value.defects]
    raw_headers = {}
    for name, value in msg.raw_items():
        raw_headers.setdefault(name.lower(), []).append(raw_value(value))

    parts, links, remote = [], [], False
    for part in msg.walk():
        if not part.is_multipart():
            info = describe_part(part, defects)
            parts.append(info)
            if info["content_type"] == "text/plain":
                links += text_links(info["text"])
            elif info["content_type"] == "text/html":
                scanner = HtmlScanner()
                scanner.feed(info["text"])
                scanner.close()
                links += scanner.links
                remote = remote or scanner.remote_resources
        defects += [describe_defect(d) for d in part.defects]

    return {
        "file": path.name,
        "headers": headers,
        "raw_headers": raw_headers,
        "content_type": msg.get_content_type(),
        "parts": parts,
        "links": links,
        "html_has_remote_images": remote,
        "defects": defects,
        "line_too_long": any(len(line.removesuffix(b"\r")) > MAX_LINE_OCTETS
                             for line in raw.split(b"\n")),
        "bare_lf": BARE_LF.search(raw) is not None,
    }


def eml_files(directory):
    if not directory.is_dir():
        return []
    return sorted((p for p in directory.iterdir() if p.name.endswith(".eml")),
                  key=lambda p: p.name)


def wait_for(directory, count, timeout):
    deadline = time.monotonic() + timeout
    while len(eml_files(directory)) < count and time.monotonic() < deadline:
        time.sleep(POLL_INTERVAL)


def non_negative_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}")
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0: {text}")
    return value


def main():
    parser = argparse.ArgumentParser(
        description="Describe the .eml files of a directory as JSON.")
    parser.add_argument("dir", type=Path, metavar="DIR")
    parser.add_argument("--wait", type=non_negative_int, default=0, metavar="N",
                        help="wait until at least N .eml files exist")
    parser.add_argument("--timeout-ms", type=non_negative_int, default=10000,
                        metavar="T", help="give up waiting after T ms (default 10000)")
    args = parser.parse_args()
    if args.dir.exists() and not args.dir.is_dir():
        parser.error(f"not a directory: {args.dir}")
    wait_for(args.dir, args.wait, args.timeout_ms / 1000)
    messages = [describe(path) for path in eml_files(args.dir)]
    # Lone surrogates cannot be encoded; backslashreplace turns them into
    # \udcXX escapes, which JSON reads back as the same characters.
    output = json.dumps(messages, indent=2, ensure_ascii=False) + "\n"
    sys.stdout.buffer.write(output.encode("utf-8", "backslashreplace"))


if __name__ == "__main__":
    main()
