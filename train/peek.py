"""Write a running fine-tune's weights as a model file, to look at it
before it ends: the weights' moving average where the checkpoint has one
(what the run will export), else the weights themselves.

    /usr/bin/python3 train/peek.py OUT/finetune_ckpt.pt INIT.safetensors /tmp/peek.safetensors
    /usr/bin/python3 train/main.py eval --model /tmp/peek.safetensors --eval-limit 20 --threads 1

INIT is the run's --init file: it gives the tensors' names and order.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import edgetoon_model as em  # noqa: E402
import export  # noqa: E402
from stage import load_pt  # noqa: E402


def peek(ckpt_path, init_path, out_path):
    """Writes the checkpoint's weights to out_path; returns its step."""
    ck = load_pt(ckpt_path)
    _, tensors = em.read_file(init_path)
    net = em.GraphModule(ck["graph"], tensors)
    net.load_state_dict(ck.get("ema", ck["student"]))
    em.write_file(out_path, ck["graph"], export.tensors_from_module(net, tensors))
    return ck["step"]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint")
    p.add_argument("init")
    p.add_argument("out")
    a = p.parse_args(argv)
    print("step %d -> %s" % (peek(a.checkpoint, a.init, a.out), a.out))


if __name__ == "__main__":
    main()
