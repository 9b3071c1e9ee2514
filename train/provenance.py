"""Complete a model file's provenance when it ships: append a sentence
saying how the file was made (which piece, which make target), and
optionally rename it, leaving every weight byte as the training run
wrote it.

    /usr/bin/python3 train/provenance.py SRC DST --after "(make student-v21)" \\
        --append "; v22: v21 ... (make student-v22)"

The graph lives as JSON in the safetensors header's `__metadata__`
(`edgetoon.graph`), so only the header is rewritten: its length changes,
and it is padded with spaces to a multiple of 8 bytes as the safetensors
format allows, so that the data that follows stays aligned. --after
guards against completing the wrong file: the provenance must end with
that text. SRC and DST may be the same file; DST is replaced atomically.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from edgetoon_model import GRAPH_KEY, join, split  # noqa: E402


def complete(src, dst, append, after=None, name=None):
    """Append `append` to SRC's provenance (which must end with `after`
    when given), rename it to `name` when given, and write DST. Returns
    the new graph."""
    with open(src, "rb") as f:
        header, body = split(f.read())
    graph = json.loads(header["__metadata__"][GRAPH_KEY])
    prov = graph.get("provenance", "")
    if after is not None and not prov.endswith(after):
        raise ValueError("%s: provenance ends %r, not %r" % (src, prov[-len(after) - 20:], after))
    graph["provenance"] = prov + append
    if name:
        graph["name"] = name
    header["__metadata__"][GRAPH_KEY] = json.dumps(graph, separators=(",", ":"))
    tmp = dst + ".tmp"
    with open(tmp, "wb") as f:
        f.write(join(header, body))
    os.replace(tmp, dst)
    return graph


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("src")
    p.add_argument("dst")
    p.add_argument("--append", required=True, help="text appended to the provenance as it is")
    p.add_argument("--after", help="the provenance must end with this text")
    p.add_argument("--name", help="the model's new name (the page's style picker shows it)")
    a = p.parse_args(argv)
    g = complete(a.src, a.dst, a.append, a.after, a.name)
    print("%s: %s ... %s" % (a.dst, g["name"], g["provenance"][-160:]))


if __name__ == "__main__":
    main()
