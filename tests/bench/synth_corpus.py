#!/usr/bin/python3
"""Make the search-benchmark corpus TSV, from real papers or by synthesis.

The corpus format is shared by the C search benchmark and search_peers.py:
UTF-8, one paper per line, six tab-separated fields, no header:

    id \\t date (YYYY-MM-DD or empty) \\t title \\t authors (", "-joined)
       \\t categories (space-separated) \\t abstract

No field contains a tab, CR, LF or other control character.

usage:
    synth_corpus.py --from-jsonl DIR --out C.tsv
        Converts the arxiv-daily dump (DIR/YYYY-MM-DD.jsonl, records with
        id, title, authors[], categories[], summary) to the TSV. The date is
        the file name; files are read in date order and a later record for
        an id replaces the earlier one, so every id appears once.

    synth_corpus.py --scale N --in C.tsv --out BIG.tsv [--seed S]
        Writes exactly N papers: the papers of C.tsv first (cut at N if it
        has more), then synthetic copies of them, round-robin, with ids
        s0000001, s0000002, ... (arXiv ids never look like that), the
        original's sentences and title words shuffled, the same authors and
        categories, and a date drawn from the originals' date range. The
        output depends only on C.tsv, N and the seed.
"""

import argparse
import datetime
import json
import os
import random
import re
import sys
import time

# Everything a line-and-tab reader could trip over, including the separators
# Python's str.splitlines() honours but C's line readers do not. A run of them
# becomes one space so wrapped arXiv abstracts do not grow double spaces.
_CONTROL_RUN = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]+")

# A sentence ends at ., ! or ? followed by whitespace. Abbreviations such as
# "e.g. the" split too; for synthesis that only makes the shuffle finer.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")

FIELDS = 6


def clean(text):
    """A field value safe for the TSV: control characters become spaces."""
    if text is None:
        return ""
    return _CONTROL_RUN.sub(" ", str(text)).strip()


def die(msg):
    print(f"synth_corpus.py: {msg}", file=sys.stderr)
    sys.exit(1)


def from_jsonl(src_dir, out_path):
    names = sorted(n for n in os.listdir(src_dir) if n.endswith(".jsonl"))
    if not names:
        die(f"no *.jsonl files in {src_dir}")
    papers = {}
    records = 0
    for name in names:
        date = name[: -len(".jsonl")]
        try:
            datetime.date.fromisoformat(date)
        except ValueError:
            date = ""  # not a dated daily file: keep the papers, undated
        path = os.path.join(src_dir, name)
        with open(path, encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    r = json.loads(line)
                except json.JSONDecodeError as e:
                    die(f"{path}:{lineno}: bad JSON: {e}")
                pid = clean(r.get("id"))
                if not pid:
                    continue
                records += 1
                authors = r.get("authors") or []
                cats = r.get("categories") or []
                if isinstance(authors, str):
                    authors = [authors]
                if isinstance(cats, str):
                    cats = cats.split()
                # Re-inserting moves a replaced paper to its latest date, so
                # the output stays in date order.
                papers.pop(pid, None)
                papers[pid] = (
                    pid,
                    date,
                    clean(r.get("title")),
                    ", ".join(a for a in map(clean, authors) if a),
                    " ".join(c for c in map(clean, cats) if c),
                    clean(r.get("summary")),
                )
    with open(out_path, "w", encoding="utf-8", newline="\n") as out:
        for p in papers.values():
            out.write("\t".join(p))
            out.write("\n")
    print(f"{out_path}: {len(papers)} papers from {records} records in "
          f"{len(names)} files", file=sys.stderr)


def read_tsv(path):
    """The papers of a corpus TSV as 6-tuples of str."""
    papers = []
    # newline="\n": only LF ends a line, as for the C reader.
    with open(path, encoding="utf-8", newline="\n") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line:
                continue
            fields = line.split("\t")
            if len(fields) != FIELDS:
                die(f"{path}:{lineno}: {len(fields)} fields, expected {FIELDS}")
            papers.append(tuple(fields))
    return papers


def scale(in_path, out_path, n, seed):
    t0 = time.perf_counter()
    originals = read_tsv(in_path)
    if not originals:
        die(f"{in_path}: no papers")
    ids = {p[0] for p in originals}
    dates = sorted(p[1] for p in originals if p[1])
    if dates:
        first = datetime.date.fromisoformat(dates[0]).toordinal()
        last = datetime.date.fromisoformat(dates[-1]).toordinal()

    copies = max(0, n - len(originals))
    width = max(7, len(str(copies)))
    # Split each original once, not once per copy: at 1M papers the regex
    # split would otherwise dominate.
    parts = [(p[2].split(), _SENTENCE_END.split(p[5])) for p in originals]
    rng = random.Random(seed)
    shuffle = rng.shuffle

    with open(out_path, "w", encoding="utf-8", newline="\n") as out:
        write = out.write
        for p in originals[:n]:
            write("\t".join(p))
            write("\n")
        for k in range(copies):
            i = k % len(originals)
            src = originals[i]
            words, sentences = parts[i]
            words = words[:]
            sentences = sentences[:]
            shuffle(words)
            shuffle(sentences)
            pid = f"s{k + 1:0{width}d}"
            if pid in ids:
                die(f"synthetic id {pid} collides with a paper in {in_path}")
            if dates:
                date = datetime.date.fromordinal(rng.randint(first, last)).isoformat()
            else:
                date = ""
            write(f"{pid}\t{date}\t{' '.join(words)}\t{src[3]}\t{src[4]}\t"
                  f"{' '.join(sentences)}\n")
    print(f"{out_path}: {min(n, len(originals))} originals + {copies} synthetic "
          f"papers in {time.perf_counter() - t0:.1f} s", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--from-jsonl", metavar="DIR",
                      help="convert DIR/YYYY-MM-DD.jsonl files to the TSV")
    mode.add_argument("--scale", type=int, metavar="N",
                      help="synthesise a corpus of exactly N papers from --in")
    ap.add_argument("--in", dest="in_path", metavar="C.tsv",
                    help="source corpus for --scale")
    ap.add_argument("--out", required=True, metavar="OUT.tsv")
    ap.add_argument("--seed", type=int, default=1, help="for --scale (default 1)")
    args = ap.parse_args()

    if args.from_jsonl:
        if not os.path.isdir(args.from_jsonl):
            die(f"{args.from_jsonl}: not a directory")
        from_jsonl(args.from_jsonl, args.out)
    else:
        if not args.in_path:
            die("--scale needs --in C.tsv")
        if args.scale < 1:
            die("--scale N needs N >= 1")
        scale(args.in_path, args.out, args.scale, args.seed)


if __name__ == "__main__":
    main()
