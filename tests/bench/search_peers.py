#!/usr/bin/python3
"""Measure PostgreSQL full-text search, SQLite FTS5 and Xapian on a corpus.

The peer half of the search benchmark: the C benchmark measures paperbus's own
engine, this script measures the established engines on the same corpus and
queries, and both sets of figures are reported side by side.

Run it with the Debian interpreter, /usr/bin/python3, which has the xapian,
psycopg2 and sqlite3 (with FTS5) modules:

    /usr/bin/python3 tests/bench/search_peers.py --corpus C.tsv \\
        --queries Q.txt --engines pg,sqlite,xapian \\
        [--pg-url postgresql://USER@HOST:PORT/DB] [--pg-table bench_fts] \\
        [--runs 5] [--threads 1,2] [--qps-passes 3] \\
        [--xapian-flush-threshold N] [--workdir DIR] --out results.json

Inputs. The corpus is the TSV written by synth_corpus.py (id, date, title,
authors, categories, abstract; tab-separated, one paper a line). The query
file has one query a line; blank lines are skipped.

Queries. Every engine gets the same words: the runs of letters and digits of
the query line ("post-training" is "post", "training"), combined as a ranked
OR and cut at the top 10:
  pg      to_tsquery('english', 'w1 | w2 | ...') over
          setweight(title,'A') || setweight(authors,'B') || setweight(abstract,'D'),
          GIN index, ORDER BY ts_rank_cd; stop words are dropped by PostgreSQL.
  sqlite  FTS5, porter unicode61 tokenizer, MATCH '"w1" OR "w2" ...',
          ORDER BY bm25(f, 0, 3, 2, 1) (title 3, authors 2, abstract 1).
  xapian  glass database, title indexed with wdf 3, authors 2, abstract 1,
          QueryParser with the English stemmer, STEM_SOME, OP_OR; BM25Weight.

Measurements, per engine:
  build     wall seconds from the start of loading to a queryable, committed
            index (PG: COPY into a temporary table, CREATE TABLE AS SELECT of the
            tsvectors, primary key, GIN index, ANALYZE; SQLite: one insert
            transaction plus 'optimize'; Xapian: add_document for every paper
            and one commit), and the index size on disk.
  latency   every query once to warm up, then --runs passes over all queries,
            each query timed alone (the engine call and fetching the 10 ids);
            p50 and p99 (nearest rank) of each pass, then the median over
            passes. The Python call overhead is included: python_overhead_ms
            is the median time of the same loop around a search that does
            nothing.
  qps       for each --threads count, that many threads, each with its own
            connection or Database, each making --qps-passes passes over the
            query list (starting at different queries); queries done / wall.
  top10     the ids each query returned in the warm-up pass, for the C side's
            overlap check; Xapian also reports matches (its estimate of the
            total number of matching papers).

Output (--out; progress goes to stderr, nothing to stdout):
  {"corpus": {"papers": N, "raw_text_bytes": B},
   "queries": Q, "runs": R, "note": "...",
   "engines": {"xapian": {"semantics": "...", "build_s": s, "papers_per_s": r,
                          "index_bytes": b, "p50_ms": x, "p99_ms": y,
                          "runs_p50_ms": [...], "runs_p99_ms": [...],
                          "qps": {"1": q1, "2": q2}, "qps_passes": P,
                          "python_overhead_ms": o, "config": {...},
                          "top10": {"query": ["id", ...], ...},
                          "matches": {"query": n, ...}},
               "pg": {...}, "sqlite": {...}}}
raw_text_bytes is the UTF-8 size of title, authors, categories and abstract
over all papers. top10 and matches are keyed by the query line with
surrounding whitespace stripped; a line without letters or digits is skipped.

PostgreSQL. --pg-url is a libpq URL of an existing database; the script
creates the table --pg-table there (dropping any leftover of that name) and
drops it at the end. SQLite and Xapian write into --workdir (default: a
temporary directory, removed at the end; a given --workdir is left in place
with the indexes in it).
"""

import argparse
import json
import math
import os
import re
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time

PROG = "search_peers.py"
FIELDS = 6
# Runs of Unicode letters and digits: the query words every engine gets.
_WORD = re.compile(r"[^\W_]+")


class BenchError(Exception):
    """A failure with a message meant for the person running the bench."""


def log(msg):
    print(f"{PROG}: {msg}", file=sys.stderr, flush=True)


def iter_papers(path):
    """The corpus TSV's papers as lists of 6 str, checking the shape."""
    # newline="\n": only LF ends a line, as for the C reader (str.splitlines
    # would also split on U+2028 and friends).
    with open(path, encoding="utf-8", newline="\n") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line:
                continue
            fields = line.split("\t")
            if len(fields) != FIELDS:
                raise BenchError(f"{path}:{lineno}: {len(fields)} fields, "
                                 f"expected {FIELDS}")
            yield fields


def corpus_stats(path):
    papers = raw = 0
    for p in iter_papers(path):
        papers += 1
        raw += sum(len(p[i].encode("utf-8")) for i in (2, 3, 4, 5))
    return papers, raw


def read_queries(path):
    queries = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            text = line.strip()
            if not text:
                continue
            words = _WORD.findall(text)
            if not words:
                log(f"skipping query {text!r}: no letters or digits")
                continue
            queries.append((text, words))
    if not queries:
        raise BenchError(f"{path}: no queries")
    return queries


def dir_bytes(path):
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            total += os.path.getsize(os.path.join(root, name))
    return total


# --- engines ---------------------------------------------------------------
#
# Each engine has check() (modules and server present, before any slow work),
# build(corpus) -> {"build_s", "index_bytes"}, query_arg(words) -> the
# engine's query in its own syntax (built outside the timed region),
# open() -> a searcher with search(arg) -> [ids], and cleanup(). A searcher
# belongs to one thread.


class PgEngine:
    name = "pg"
    semantics = ("ranked OR of the query words via to_tsquery('english', "
                 "'w1 | w2 ...') (stemmed, stop words dropped), "
                 "ts_rank_cd over setweight(title,'A') || setweight(authors,'B') "
                 "|| setweight(abstract,'D'), GIN index, top 10")
    # A bigger sort area than the 64 MB default is the usual setting for a
    # bulk GIN build; it only affects this session.
    MAINTENANCE_WORK_MEM = "256MB"

    def __init__(self, args):
        self.url = args.pg_url
        self.table = args.pg_table
        self.checked = False

    def check(self):
        if not self.url:
            raise BenchError("engine pg needs --pg-url (a libpq URL such as "
                             "postgresql://user@127.0.0.1:5432/db)")
        try:
            import psycopg2
            from psycopg2 import sql
        except ImportError:
            raise BenchError("engine pg needs the Python module psycopg2 "
                             "(Debian: python3-psycopg2); run with /usr/bin/python3")
        self.pg, self.sql = psycopg2, sql
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", self.table):
            raise BenchError(f"--pg-table {self.table!r}: use a plain lower-case name")
        try:
            conn = self.pg.connect(self.url)
        except self.pg.Error as e:
            raise BenchError(f"cannot connect to --pg-url: {str(e).strip()}")
        with conn, conn.cursor() as cur:
            names = ("server_version", "shared_buffers", "work_mem",
                     "max_parallel_workers_per_gather")
            cur.execute("SELECT " + ", ".join(["current_setting(%s)"] * len(names)),
                        names)
            self.config = dict(zip(names, cur.fetchone()))
        conn.close()
        self.config.update({"maintenance_work_mem_for_build": self.MAINTENANCE_WORK_MEM,
                            "plan_cache_mode": "force_custom_plan",
                            "table": self.table})
        self.checked = True

    def _ident(self, suffix=""):
        return self.sql.Identifier(self.table + suffix)

    def build(self, corpus):
        S = self.sql
        conn = self.pg.connect(self.url)
        try:
            with conn.cursor() as cur:
                cur.execute(S.SQL("DROP TABLE IF EXISTS {}").format(self._ident()))
                conn.commit()
                t0 = time.perf_counter()
                cur.execute("SET maintenance_work_mem = %s", (self.MAINTENANCE_WORK_MEM,))
                # COPY cannot compute the tsvector, so the raw text goes
                # through a temporary (unlogged, session-local) table.
                cur.execute(S.SQL(
                    "CREATE TEMP TABLE {} (id text, date text, title text, "
                    "authors text, categories text, abstract text)"
                ).format(self._ident("_load")))
                with open(corpus, "rb") as f:
                    cur.copy_expert(
                        S.SQL("COPY {} FROM STDIN").format(self._ident("_load")),
                        _CopyText(f), size=1 << 20)
                cur.execute(S.SQL(
                    "CREATE TABLE {} AS SELECT id, "
                    "setweight(to_tsvector('english', title), 'A') || "
                    "setweight(to_tsvector('english', authors), 'B') || "
                    "setweight(to_tsvector('english', abstract), 'D') AS tsv "
                    "FROM {}").format(self._ident(), self._ident("_load")))
                cur.execute(S.SQL("DROP TABLE {}").format(self._ident("_load")))
                # Keys and indexes after the load: one sorted build each
                # rather than maintenance on every row.
                cur.execute(S.SQL("ALTER TABLE {} ADD PRIMARY KEY (id)")
                            .format(self._ident()))
                cur.execute(S.SQL("CREATE INDEX {} ON {} USING gin (tsv)")
                            .format(self._ident("_tsv"), self._ident()))
                cur.execute(S.SQL("ANALYZE {}").format(self._ident()))
                conn.commit()
                build_s = time.perf_counter() - t0
                cur.execute("SELECT pg_total_relation_size(%s::regclass)",
                            (self.table,))
                index_bytes = cur.fetchone()[0]
        except self.pg.Error as e:
            raise BenchError(f"pg build: {str(e).strip()}")
        finally:
            conn.close()
        return {"build_s": build_s, "index_bytes": index_bytes}

    def query_arg(self, words):
        # Words are letters and digits only, so they are plain to_tsquery
        # operands; the string still travels as a bound parameter.
        return " | ".join(words)

    def open(self):
        return _PgSearcher(self)

    def cleanup(self):
        if not self.checked:
            return
        try:
            conn = self.pg.connect(self.url)
            with conn, conn.cursor() as cur:
                cur.execute(self.sql.SQL("DROP TABLE IF EXISTS {}").format(self._ident()))
            conn.close()
        except self.pg.Error as e:
            log(f"pg: could not drop {self.table}: {str(e).strip()}")


class _CopyText:
    """The corpus file as COPY text format, for copy_expert's read(size).

    corpus_stats() has already checked every line has six fields, so only
    backslashes (common in LaTeX-laden abstracts) need doubling; byte-wise is
    safe as 0x5C never occurs inside a UTF-8 sequence. Blank lines are
    dropped, as iter_papers() drops them, or COPY would reject them."""

    def __init__(self, f):
        self.lines = iter(f)

    def read(self, size=-1):
        # Returning a little more than size is fine: psycopg2 sends whatever
        # it gets, and an empty result ends the COPY.
        chunks, n = [], 0
        for line in self.lines:
            if line == b"\n":
                continue
            line = line.replace(b"\\", b"\\\\")
            chunks.append(line)
            n += len(line)
            if 0 < size <= n:
                break
        return b"".join(chunks)


class _PgSearcher:
    def __init__(self, engine):
        self.conn = engine.pg.connect(engine.url)
        # Autocommit: no transaction (and snapshot) is held open between
        # queries, as for an application's pooled connection.
        self.conn.autocommit = True
        self.cur = self.conn.cursor()
        # Plan every execution for its own tsquery. A generic plan has to
        # guess the selectivity and always takes the GIN bitmap scan; for a
        # query matching most papers the (parallel) seq scan PostgreSQL picks
        # when it sees the words is about 2x faster, and planning costs well
        # under a millisecond. This is also what an application sending
        # parameterised but unprepared queries gets.
        self.cur.execute("SET plan_cache_mode = force_custom_plan")
        # The FROM-clause tsquery is computed once per execution; written
        # inline in ORDER BY it would be re-parsed for every matching row
        # once the plan goes generic.
        self.cur.execute(engine.sql.SQL(
            "PREPARE bench_q(text) AS SELECT id FROM {} t, "
            "to_tsquery('english'::regconfig, $1) q "
            "WHERE t.tsv @@ q ORDER BY ts_rank_cd(t.tsv, q) DESC LIMIT 10"
        ).format(engine._ident()))

    def search(self, arg):
        self.cur.execute("EXECUTE bench_q(%s)", (arg,))
        return [r[0] for r in self.cur.fetchall()]

    def close(self):
        self.conn.close()


class SqliteEngine:
    name = "sqlite"
    semantics = ("ranked OR of the query words, each double-quoted "
                 "('\"w1\" OR \"w2\" ...'), FTS5 porter unicode61 remove_diacritics 2, "
                 "ORDER BY bm25(f, 0, 3, 2, 1) (title 3, authors 2, abstract 1), top 10")

    def __init__(self, args):
        self.workdir = args.workdir

    def check(self):
        try:
            import sqlite3
        except ImportError:
            raise BenchError("engine sqlite needs the Python module sqlite3; "
                             "run with /usr/bin/python3")
        self.sqlite3 = sqlite3
        try:
            sqlite3.connect(":memory:").execute("CREATE VIRTUAL TABLE t USING fts5(a)")
        except sqlite3.Error as e:
            raise BenchError(f"engine sqlite needs SQLite with FTS5: {e}")
        self.path = os.path.join(self.workdir, "fts5.sqlite")
        self.config = {"sqlite_version": sqlite3.sqlite_version}

    def build(self, corpus):
        for suffix in ("", "-journal", "-wal", "-shm"):
            if os.path.exists(self.path + suffix):
                os.remove(self.path + suffix)
        t0 = time.perf_counter()
        # isolation_level=None: the transaction is the explicit BEGIN/COMMIT.
        conn = self.sqlite3.connect(self.path, isolation_level=None)
        try:
            conn.execute("CREATE VIRTUAL TABLE f USING fts5(id UNINDEXED, title, "
                         "authors, abstract, tokenize='porter unicode61 "
                         "remove_diacritics 2')")
            conn.execute("BEGIN")
            conn.executemany("INSERT INTO f(id, title, authors, abstract) "
                             "VALUES (?, ?, ?, ?)",
                             ((p[0], p[2], p[3], p[5]) for p in iter_papers(corpus)))
            conn.execute("COMMIT")
            conn.execute("INSERT INTO f(f) VALUES('optimize')")
        finally:
            conn.close()
        build_s = time.perf_counter() - t0
        return {"build_s": build_s, "index_bytes": os.path.getsize(self.path)}

    def query_arg(self, words):
        # Quoting makes every word a plain term, even FTS5 keywords
        # (AND, OR, NOT, NEAR); words hold no '"' to escape.
        return " OR ".join(f'"{w}"' for w in words)

    def open(self):
        return _SqliteSearcher(self)

    def cleanup(self):
        pass


class _SqliteSearcher:
    SQL = ("SELECT id FROM f WHERE f MATCH ? "
           "ORDER BY bm25(f, 0.0, 3.0, 2.0, 1.0) LIMIT 10")

    def __init__(self, engine):
        # Read-only, and usable from the thread that opened it only.
        self.conn = engine.sqlite3.connect(f"file:{engine.path}?mode=ro", uri=True)

    def search(self, arg):
        # The module caches the prepared statement for this SQL text.
        return [r[0] for r in self.conn.execute(self.SQL, (arg,))]

    def close(self):
        self.conn.close()


class XapianEngine:
    name = "xapian"
    semantics = ("ranked OR (BM25Weight) of the query words, QueryParser with "
                 "Stem('english'), STEM_SOME, OP_OR; indexed title wdf 3, "
                 "authors 2, abstract 1; glass backend; top 10")

    def __init__(self, args):
        self.workdir = args.workdir
        self.flush_threshold = args.xapian_flush_threshold

    def check(self):
        try:
            import xapian
        except ImportError:
            raise BenchError("engine xapian needs the Python module xapian "
                             "(Debian: python3-xapian); run with /usr/bin/python3")
        self.xapian = xapian
        self.path = os.path.join(self.workdir, "xapian.glass")
        self.config = {"xapian_version": xapian.version_string(),
                       "flush_threshold": self.flush_threshold}

    def build(self, corpus):
        x = self.xapian
        if os.path.exists(self.path):
            shutil.rmtree(self.path)
        # Xapian reads the threshold when the database is opened. Its default,
        # 10,000 documents, is also the fastest measured here: on the 67,802
        # arXiv papers it built in 113-129 s (290 MB RSS) against 200-215 s
        # (1.7 GB) with 100,000 or more, because the buffered-change maps slow
        # every insert as they grow. The price is a less compact database
        # (513 MB against 347 MB). The commit() at the end is the only
        # durable one.
        os.environ["XAPIAN_FLUSH_THRESHOLD"] = str(self.flush_threshold)
        t0 = time.perf_counter()
        db = x.WritableDatabase(self.path, x.DB_CREATE_OR_OVERWRITE | x.DB_BACKEND_GLASS)
        tg = x.TermGenerator()
        tg.set_stemmer(x.Stem("english"))
        tg.set_stemming_strategy(x.TermGenerator.STEM_SOME)
        for p in iter_papers(corpus):
            doc = x.Document()
            tg.set_document(doc)
            tg.index_text(p[2], 3)
            # The position gap keeps phrases from matching across fields.
            tg.increase_termpos()
            tg.index_text(p[3], 2)
            tg.increase_termpos()
            tg.index_text(p[5], 1)
            doc.set_data(p[0])
            db.add_document(doc)
        db.commit()
        db.close()
        build_s = time.perf_counter() - t0
        return {"build_s": build_s, "index_bytes": dir_bytes(self.path)}

    def query_arg(self, words):
        return " ".join(words)

    def open(self):
        return _XapianSearcher(self)

    def cleanup(self):
        pass


class _XapianSearcher:
    def __init__(self, engine):
        x = engine.xapian
        self.db = x.Database(engine.path)
        self.qp = x.QueryParser()
        self.qp.set_stemmer(x.Stem("english"))
        self.qp.set_stemming_strategy(x.QueryParser.STEM_SOME)
        self.qp.set_default_op(x.Query.OP_OR)
        self.enquire = x.Enquire(self.db)
        self.enquire.set_weighting_scheme(x.BM25Weight())

    def mset(self, arg):
        # No parser flags: the words are plain terms (no AND/OR/NOT
        # operators, no +/-), as for the other engines. Parsing stems, so it
        # belongs inside the timed call.
        self.enquire.set_query(self.qp.parse_query(arg, 0))
        return self.enquire.get_mset(0, 10)

    def search(self, arg):
        return [m.document.get_data().decode("utf-8") for m in self.mset(arg)]

    def search_with_matches(self, arg):
        mset = self.mset(arg)
        ids = [m.document.get_data().decode("utf-8") for m in mset]
        return ids, mset.get_matches_estimated()

    def close(self):
        self.db.close()


ENGINES = {"pg": PgEngine, "sqlite": SqliteEngine, "xapian": XapianEngine}


# --- measurement -----------------------------------------------------------


def percentile(sorted_values, p):
    """Nearest-rank percentile of an ascending list."""
    k = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[k - 1]


def timed_pass(search, args):
    """Seconds taken by each search(arg), timed one by one."""
    clock = time.perf_counter
    out = []
    for a in args:
        t0 = clock()
        search(a)
        out.append(clock() - t0)
    return out


def _null_search(arg, _ids=["0000.00000"] * 10):
    return [i for i in _ids]


def python_overhead_ms(args, passes):
    per_pass = [statistics.median(timed_pass(_null_search, args)) for _ in range(passes)]
    return statistics.median(per_pass) * 1e3


def measure_qps(engine, args, threads, passes):
    """Queries per second with `threads` threads, each with its own searcher,
    each making `passes` passes over args from its own starting query."""
    errors = []
    start = threading.Barrier(threads + 1)

    def worker(i):
        # Opened in the thread that uses it (sqlite3 insists) and before the
        # clock starts.
        try:
            s = engine.open()
        except Exception as e:
            errors.append(e)
            start.abort()
            return
        offset = i * len(args) // threads
        order = args[offset:] + args[:offset]
        try:
            start.wait()
            for _ in range(passes):
                for a in order:
                    s.search(a)
        except threading.BrokenBarrierError:
            pass
        except Exception as e:  # re-raised by the main thread
            errors.append(e)
        finally:
            s.close()

    # Daemon threads, so a SIGTERM does not wait for their passes to end.
    pool = [threading.Thread(target=worker, args=(i,), daemon=True)
            for i in range(threads)]
    for t in pool:
        t.start()
    try:
        start.wait()
    except threading.BrokenBarrierError:
        pass
    t0 = time.perf_counter()
    for t in pool:
        t.join()
    wall = time.perf_counter() - t0
    if errors:
        raise errors[0]
    return threads * passes * len(args) / wall


def run_engine(engine, corpus, papers, queries, opts):
    name = engine.name
    log(f"{name}: building the index from {papers} papers")
    built = engine.build(corpus)
    log(f"{name}: built in {built['build_s']:.1f} s, "
        f"{built['index_bytes'] / 1e6:.1f} MB")

    texts = [q for q, _ in queries]
    args = [engine.query_arg(words) for _, words in queries]
    s = engine.open()
    try:
        # Warm-up pass, which also records what each query returns.
        top10, matches = {}, {}
        for text, a in zip(texts, args):
            if hasattr(s, "search_with_matches"):
                top10[text], matches[text] = s.search_with_matches(a)
            else:
                top10[text] = s.search(a)
        p50s, p99s = [], []
        for run in range(opts.runs):
            lat = sorted(timed_pass(s.search, args))
            p50s.append(percentile(lat, 50) * 1e3)
            p99s.append(percentile(lat, 99) * 1e3)
            log(f"{name}: run {run + 1}/{opts.runs}: p50 {p50s[-1]:.3f} ms, "
                f"p99 {p99s[-1]:.3f} ms")
    finally:
        s.close()

    qps = {}
    for n in opts.threads:
        qps[str(n)] = measure_qps(engine, args, n, opts.qps_passes)
        log(f"{name}: {n} thread(s): {qps[str(n)]:.1f} queries/s")

    result = {
        "semantics": engine.semantics,
        "build_s": built["build_s"],
        "papers_per_s": papers / built["build_s"] if built["build_s"] else None,
        "index_bytes": built["index_bytes"],
        "p50_ms": statistics.median(p50s),
        "p99_ms": statistics.median(p99s),
        "runs_p50_ms": p50s,
        "runs_p99_ms": p99s,
        "qps": qps,
        "qps_passes": opts.qps_passes,
        "python_overhead_ms": python_overhead_ms(args, opts.runs),
        "config": engine.config,
        "top10": top10,
    }
    if matches:
        result["matches"] = matches
    return result


def parse_args():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", required=True, metavar="C.tsv")
    ap.add_argument("--queries", required=True, metavar="Q.txt")
    ap.add_argument("--engines", default="pg,sqlite,xapian",
                    help="comma-separated subset of pg,sqlite,xapian")
    ap.add_argument("--pg-url", help="libpq URL of the database for engine pg")
    ap.add_argument("--pg-table", default="bench_fts",
                    help="table created (and dropped) for engine pg")
    ap.add_argument("--runs", type=int, default=5,
                    help="timed passes over the queries (default 5)")
    ap.add_argument("--threads", default="1,2",
                    help="thread counts for queries/s (default 1,2)")
    ap.add_argument("--qps-passes", type=int, default=3,
                    help="passes over the queries per thread for queries/s (default 3)")
    ap.add_argument("--xapian-flush-threshold", type=int, default=10000,
                    help="documents Xapian buffers before an internal flush "
                    "(default 10000, Xapian's own default and the fastest)")
    ap.add_argument("--workdir", help="directory for the SQLite and Xapian indexes "
                    "(default: a temporary directory, removed afterwards)")
    ap.add_argument("--out", required=True, metavar="results.json")
    opts = ap.parse_args()

    names = [e.strip() for e in opts.engines.split(",") if e.strip()]
    unknown = [e for e in names if e not in ENGINES]
    if not names or unknown:
        ap.error(f"--engines: unknown {', '.join(unknown)}; choose from pg,sqlite,xapian")
    opts.engines = list(dict.fromkeys(names))
    try:
        opts.threads = [int(t) for t in opts.threads.split(",") if t.strip()]
    except ValueError:
        ap.error("--threads: comma-separated thread counts, e.g. 1,2")
    if not opts.threads or min(opts.threads) < 1:
        ap.error("--threads: counts must be >= 1")
    if opts.runs < 1 or opts.qps_passes < 1 or opts.xapian_flush_threshold < 1:
        ap.error("--runs, --qps-passes and --xapian-flush-threshold must be >= 1")
    for path in (opts.corpus, opts.queries):
        if not os.path.isfile(path):
            ap.error(f"{path}: no such file")
    return opts


def main():
    # A harness that gives up on the bench sends SIGTERM; exiting through
    # the finally blocks still drops the PG table and the temporary indexes
    # (which reach gigabytes at a million papers).
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    opts = parse_args()
    own_workdir = opts.workdir is None
    if own_workdir:
        opts.workdir = tempfile.mkdtemp(prefix="search_peers.")
    else:
        os.makedirs(opts.workdir, exist_ok=True)

    engines = [ENGINES[n](opts) for n in opts.engines]
    try:
        # Every prerequisite before any slow work: a missing module or server
        # should not surface after an hour of index building.
        for e in engines:
            e.check()
        queries = read_queries(opts.queries)
        papers, raw = corpus_stats(opts.corpus)
        if papers == 0:
            raise BenchError(f"{opts.corpus}: no papers")
        log(f"corpus {opts.corpus}: {papers} papers, {raw / 1e6:.1f} MB of text; "
            f"{len(queries)} queries")

        results = {}
        for e in engines:
            try:
                results[e.name] = run_engine(e, opts.corpus, papers, queries, opts)
            finally:
                e.cleanup()

        doc = {
            "corpus": {"papers": papers, "raw_text_bytes": raw},
            "queries": len(queries),
            "runs": opts.runs,
            "note": ("latencies and queries/s are measured from Python and "
                     "include the call overhead of the Python bindings; "
                     "python_overhead_ms is the bare timing loop; "
                     "p50/p99 are nearest-rank per run, median over runs"),
            "engines": results,
        }
        tmp = opts.out + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=1, ensure_ascii=False)
            f.write("\n")
        os.replace(tmp, opts.out)
        log(f"wrote {opts.out}")
    except BenchError as e:
        log(str(e))
        sys.exit(1)
    finally:
        if own_workdir:
            shutil.rmtree(opts.workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
