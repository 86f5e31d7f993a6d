"""Child process for test_store_crash: writes to a Documents store forever, acknowledging
each write on stdout only after it returned. The parent SIGKILLs it at a random moment.

Usage: python _crash_writer.py PATH ROUND

Every write i of round r uses the id r * 100000 + i and cycles through three kinds:
  0  tinydb `table("inserted").insert`
  1  `Documents.batch()` adding the same id to tables batch_a and batch_b (one write)
  2  singleton `put("last", ...)`
"""

from __future__ import annotations

import sys

from controlplane.store import Documents

ROUND_SPAN = 100000


def main() -> None:
    path, round_no = sys.argv[1], int(sys.argv[2])
    docs = Documents(path)
    inserted = docs.table("inserted")
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    pad = "填充" * 64  # non-ASCII, so that a torn multi-byte write would show
    i = 0
    while True:
        doc_id = round_no * ROUND_SPAN + i
        kind = i % 3
        if kind == 0:
            inserted.insert({"id": doc_id, "pad": pad})
        elif kind == 1:
            with docs.batch() as batch:
                batch.rows("batch_a")[str(doc_id)] = {"id": doc_id, "pad": pad}
                batch.rows("batch_b")[str(doc_id)] = {"id": doc_id}
        else:
            docs.put("last", {"id": doc_id})
        # One write() of a short line: atomic on a pipe, never half a line.
        sys.stdout.write(f"ack {kind} {doc_id}\n")
        sys.stdout.flush()
        i += 1


if __name__ == "__main__":
    main()
