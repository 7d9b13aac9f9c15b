#!/usr/bin/env python3
"""llama.cpp's CPU speed on this machine, measured like `llama-bench -p 256 -n 64 -r 3`,
through llama-cpp-python's low-level API (the llama.cpp C API; Python only fills the
batch, a few microseconds per call). The baseline kiln's CPU engine is compared with.

  .venv-ref/bin/python tools/bench_llamacpp.py [--threads 2] [--reps 3] [--fa on|off]
        [--json OUT.json] MODEL.gguf [MODEL.gguf ...]

What is timed, as llama-bench does it:
  * pp256: an empty cache, then one llama_decode of 256 tokens (a single ubatch;
    logits of the last token only), until llama_synchronize returns.
    tokens/s = 256 / time.
  * tg64: an empty cache, then 64 llama_decode calls of one token each (no sampling;
    each call's logits computed), the whole loop timed. tokens/s = 64 / time.
  * Token ids are pseudo-random (fixed seed) with BOS first: speed does not depend on
    them. One warm-up pp and tg run first (not counted), as llama-bench does.
  * Each of --reps repetitions gives a tokens/s; the table shows mean ± stddev and
    the best rep (the machine is shared: the best is the least disturbed).
Context: n_ctx 512, n_batch = n_ubatch = 512, f16 KV cache, mmap'd weights, weights
repacked by llama.cpp's CPU "extra buffer types" as it does by default.

The machine is shared (other builds and tests): with more runnable threads than cores,
llama.cpp's spinning barriers lose whole scheduler time slices and the numbers collapse
(tg64 fell from tens of t/s to under 1 t/s at a load of ~15). So:
  * --wait-idle S: before each timed rep, wait (up to S seconds) until /proc/loadavg
    shows at most --max-running runnable tasks for 3 samples in a row;
  * every rep records the CPU share it got: process CPU seconds / (wall seconds x
    threads). Near 1.0 means the cores were ours; the table flags reps below 0.9.
"""
import argparse
import ctypes
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import llama_cpp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_reference_logits import LlamaRunner, quiet_logs  # noqa: E402


def clear(runner):
    llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(runner.ctx), True)


def decode_timed(runner, tokens, pos0):
    b = runner.batch
    b.n_tokens = len(tokens)
    for i, t in enumerate(tokens):
        b.token[i] = t
        b.pos[i] = pos0 + i
        b.n_seq_id[i] = 1
        b.seq_id[i][0] = 0
        b.logits[i] = i == len(tokens) - 1
    t0 = time.perf_counter()
    rc = llama_cpp.llama_decode(runner.ctx, b)
    llama_cpp.llama_synchronize(runner.ctx)
    dt = time.perf_counter() - t0
    if rc != 0:
        raise RuntimeError(f"llama_decode returned {rc}")
    return dt


def running_tasks():
    # /proc/loadavg's 4th field is "runnable/total" right now (this process included).
    return int(Path("/proc/loadavg").read_text().split()[3].split("/")[0])


def wait_idle(timeout, max_running):
    deadline, quiet = time.monotonic() + timeout, 0
    while time.monotonic() < deadline:
        quiet = quiet + 1 if running_tasks() <= max_running else 0
        if quiet >= 3:
            return True
        time.sleep(0.5)
    return False


def timed_rep(fn, runner, rng, n, threads):
    """One repetition: tokens/s and the share of `threads` cores the process got."""
    wall0, cpu0 = time.perf_counter(), time.process_time()
    tps = fn(runner, rng, n)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return tps, cpu / (wall * threads)


def run_pp(runner, rng, n):
    clear(runner)
    bos = llama_cpp.llama_vocab_bos(runner.vocab)
    tokens = [bos] + [int(x) for x in rng.integers(0, runner.n_vocab, n - 1)]
    return n / decode_timed(runner, tokens, 0)


def run_tg(runner, rng, n):
    clear(runner)
    token = llama_cpp.llama_vocab_bos(runner.vocab)
    total = 0.0
    for pos in range(n):
        total += decode_timed(runner, [token], pos)
        token = int(rng.integers(0, runner.n_vocab))
    return n / total


def describe(runner):
    buf = ctypes.create_string_buffer(256)
    llama_cpp.llama_model_desc(runner.model, buf, len(buf))
    return {"desc": buf.value.decode(), "size_bytes": int(llama_cpp.llama_model_size(runner.model)),
            "params": int(llama_cpp.llama_model_n_params(runner.model))}


def summary(reps):
    values = [tps for tps, _ in reps]
    return {"mean": statistics.mean(values), "stdev": statistics.stdev(values) if len(values) > 1 else 0.0,
            "best": max(values), "reps": values, "cpu_share": [round(share, 3) for _, share in reps]}


def bench(path, threads, reps, fa, n_pp, n_tg, idle_wait, max_running):
    runner = LlamaRunner(path, n_ctx=512, n_batch=512, n_threads=threads, flash_attn=fa)
    try:
        rng = np.random.default_rng(1234)
        run_pp(runner, rng, n_pp)  # warm-up: page in the weights, size the buffers
        run_tg(runner, rng, min(n_tg, 8))
        result = {"model": Path(path).name, **describe(runner), "threads": threads, "flash_attn": fa}
        for name, fn, n in ((f"pp{n_pp}", run_pp, n_pp), (f"tg{n_tg}", run_tg, n_tg)):
            done = []
            for _ in range(reps):
                if idle_wait > 0:
                    wait_idle(idle_wait, max_running)
                done.append(timed_rep(fn, runner, rng, n, threads))
            result[name] = summary(done)
        return result
    finally:
        runner.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("models", nargs="+")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--fa", choices=["on", "off"], default="on")
    ap.add_argument("-p", type=int, default=256)
    ap.add_argument("-n", type=int, default=64)
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--wait-idle", type=float, default=0, metavar="S",
                    help="before each rep, wait up to S seconds for a quiet machine")
    ap.add_argument("--max-running", type=int, default=2, help="runnable tasks that count as quiet")
    args = ap.parse_args()
    keep = quiet_logs()
    llama_cpp.llama_backend_init()
    results = []
    print(f"llama.cpp via llama-cpp-python {llama_cpp.__version__}; {os.cpu_count()} CPUs; "
          f"{llama_cpp.llama_print_system_info().decode().strip()}")
    print("| model | desc | size | threads | fa | test | t/s mean ± sd | best | CPU share per rep |")
    print("|---|---|---|---|---|---|---|---|---|")
    for m in args.models:
        r = bench(m, args.threads, args.reps, args.fa == "on", args.p, args.n, args.wait_idle, args.max_running)
        results.append(r)
        for test in (f"pp{args.p}", f"tg{args.n}"):
            s = r[test]
            shares = " ".join(f"{x:.2f}" + ("!" if x < 0.9 else "") for x in s["cpu_share"])
            print(f"| {r['model']} | {r['desc']} | {r['size_bytes'] / 2**20:.1f} MiB | {r['threads']} | "
                  f"{args.fa} | {test} | {s['mean']:.1f} ± {s['stdev']:.1f} | {s['best']:.1f} | {shares} |",
                  flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"llama_cpp_python": llama_cpp.__version__,
                                               "date": time.strftime("%Y-%m-%d"), "results": results},
                                              indent=1) + "\n")
    del keep


if __name__ == "__main__":
    main()
