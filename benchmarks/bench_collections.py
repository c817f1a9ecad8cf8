"""A collection of 100,000 documents of about 70 words on the real GloVe 6B 50d: ``vecstore
docs add`` from a JSON Lines file, adding the same file again (every document unchanged),
and a cold ``vecstore docs search`` process; each split into what bounds it.

The documents are bench_docvec.py's (GloVe's own words, Zipf-like weights, seeded).
"""

from __future__ import annotations

import json
import statistics
import sys
import time

import common
from bench_docvec import WORDS_PER_DOCUMENT, make_documents

DOCUMENTS = 100_000


def main() -> int:
    parser = common.make_parser(__doc__, "where the store and the documents go")
    parser.add_argument("--documents", type=int, default=DOCUMENTS, help="how many (default: %(default)s)")
    parser.add_argument("--runs", type=int, default=7, help="cold searches (default: %(default)s)")
    args = parser.parse_args()
    common.check_workdir(parser, args.workdir)
    work = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    common.machine_info(f"vecstore benchmark: a collection of {args.documents:,} documents",
                        ("numpy", "faiss-cpu", "vecstore"))

    from vecstore import Store
    from vecstore.io.builtin import load_builtin

    store_path = common.glove_store(work / "collections-store.db")
    texts = make_documents(load_builtin("glove-6b-50d").words, args.documents, WORDS_PER_DOCUMENT)
    source = work / "documents.jsonl"
    with source.open("w", encoding="utf-8") as f:
        for i, text in enumerate(texts):
            f.write(json.dumps({"id": f"d{i}", "text": text}) + "\n")
    print(f"  {len(texts):,} documents in {source} ({source.stat().st_size / 1e6:.1f} MB)\n")

    vs = common.which_vecstore()
    add = [vs, "--store", str(store_path), "docs", "add", "docs", str(source), "--id-col", "id", "--set", "glove",
           "--json"]
    first = common.measure(add, work, check=True)
    report = json.loads(first["stdout"])
    again = common.measure(add, work, check=True)
    report_again = json.loads(again["stdout"])
    search = [vs, "--store", str(store_path), "docs", "search", "docs", "a wonderful moving film", "-k", "5"]
    common.measure(search, work, check=True)  # (builds nothing: the index was written by the add; warms the cache)
    walls = [common.measure(search, work, check=True)["wall"] for _ in range(args.runs)]
    start = [vs, "--help"]
    starts = [common.measure(start, work, check=True)["wall"] for _ in range(args.runs)]

    with Store(store_path) as store:  # the parts of a search, in one process
        collection = store.collection("docs")
        started = time.perf_counter()
        query = collection.embed(["a wonderful moving film"]).vectors[0]
        embedded = time.perf_counter()
        collection.search(vector=query, k=5)
        searched = time.perf_counter()

    common.table(["step", "wall s", "peak RSS MB", "what bounds it"], [
        ["docs add (new collection, CLI)", common.fmt(first["wall"]), f"{first['rss_mb']:.0f}",
         f"of its {report['seconds']:.2f} s in the library, pooling {report['pooling_seconds']:.2f} s; the rest "
         "reads the vectors and writes rows and index"],
        ["docs add, same file again", common.fmt(again["wall"]), f"{again['rss_mb']:.0f}",
         f"{report_again['unchanged']:,} unchanged: reading the file, hashing texts"],
        ["docs search, cold process (median)", common.fmt(statistics.median(walls), 3), "-",
         f"start-up (vecstore --help: {statistics.median(starts):.3f} s) + embed + search"],
        ["  embed the query (warm)", common.fmt(embedded - started, 4), "-", "the set's word chunks, once"],
        ["  search 100,000 vectors (warm)", common.fmt(searched - embedded, 4), "-", "exact FAISS search"],
    ])
    ok = report["added"] == args.documents and report_again["unchanged"] == args.documents
    print(f"\n  added {report['added']:,}, then {report_again['unchanged']:,} unchanged: {common.verdict(ok)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
