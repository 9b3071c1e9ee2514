"""The latency table's fast rows, for timing them again with more samples.

    small_rows.py TABLE            the blocks of TABLE's rows under 5 ms (JSON, for profile -blocks)
    small_rows.py TABLE RETIMED    TABLE with RETIMED's rows in place of its rows of the same blocks

docs/latency.md says why: a fast block's runs of 2 samples a round carry
a warm-up's cost that 10 do not.
"""
import json
import sys

UNDER_MS = 5.0


def key(block):
    return json.dumps(block, sort_keys=True)


def main(args):
    with open(args[0]) as f:
        table = json.load(f)
    if len(args) == 1:
        json.dump([r["block"] for r in table["rows"] if r["median_ms"] < UNDER_MS], sys.stdout)
        return
    with open(args[1]) as f:
        retimed = {key(r["block"]): r for r in json.load(f)["rows"]}
    rows = table["rows"]
    for i, r in enumerate(rows):
        rows[i] = retimed.pop(key(r["block"]), r)
    if retimed:
        sys.exit("small_rows.py: %d re-timed blocks are not in %s" % (len(retimed), args[0]))
    sys.stdout.write(json.dumps(table, indent=1) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
