#!/usr/bin/env python3
"""Checks that llama.cpp accepts a GGUF that kiln wrote (e.g. `kiln synth`).

Runs in the reference environment built by tools/setup_reference.sh:

  .venv-ref/bin/python tools/check_llamacpp_load.py MODEL.gguf [--expect-size BYTES]

1. reads the file with the `gguf` package: tensor types, shapes, bytes;
2. llama.cpp, vocab only: vocabulary size, special tokens, tokenize and
   detokenize a prompt (the text must come back unchanged);
3. llama.cpp, full load (small context): what the loader reports (tensor
   types, file size, parameters), checked against step 1;
4. evaluates a few prompt tokens: every logit must be finite (the weights are
   random, so the values themselves are noise).
Exits 1 on the first failure, printing what differs.
"""
import argparse
import collections
import ctypes
import re
import sys
import time

import numpy as np
import gguf
import llama_cpp

PROMPT = "Hello world, the quick brown fox jumps over the lazy dog. 12345 <tag> ok\n"


class LogCapture:
    """Collects llama.cpp's log lines (the loader's report) instead of printing them."""

    def __init__(self):
        self.lines = []
        self._partial = ""
        self._callback = llama_cpp.llama_log_callback(self._on_log)
        llama_cpp.llama_log_set(self._callback, ctypes.c_void_p(0))

    def _on_log(self, level, text, user_data):
        self._partial += text.decode("utf-8", "replace")
        *done, self._partial = self._partial.split("\n")
        self.lines.extend(done)

    def take(self):
        lines, self.lines = self.lines, []
        return lines


def fail(message):
    print(f"FAIL: {message}")
    sys.exit(1)


def describe_file(path):
    reader = gguf.GGUFReader(path)
    tensors = [(t.name, t.tensor_type.name, [int(d) for d in t.shape], int(t.n_bytes)) for t in reader.tensors]
    per_type = collections.Counter(t[1] for t in tensors)
    total = sum(t[3] for t in tensors)
    arch = reader.fields["general.architecture"].contents()
    print(f"file: {path}")
    print(f"  architecture {arch}, {len(tensors)} tensors, {total:,} bytes of tensor data")
    print("  types: " + ", ".join(f"{n} x {t}" for t, n in sorted(per_type.items())))
    return tensors, per_type, total


def check_vocab(path, log):
    model = llama_cpp.Llama(model_path=path, vocab_only=True, verbose=False)
    log.take()
    vocab = llama_cpp.llama_model_get_vocab(model.model)
    n_vocab = llama_cpp.llama_vocab_n_tokens(vocab)
    bos = llama_cpp.llama_vocab_bos(vocab)
    eos = llama_cpp.llama_vocab_eos(vocab)
    eot = llama_cpp.llama_vocab_eot(vocab)
    tokens = model.tokenize(PROMPT.encode(), add_bos=False, special=False)
    back = model.detokenize(tokens).decode("utf-8", "replace")
    print(f"vocab: {n_vocab} tokens, bos {bos}, eos {eos}, eot {eot}")
    print(f"  {len(PROMPT)} characters -> {len(tokens)} tokens: {tokens[:16]}{' ...' if len(tokens) > 16 else ''}")
    if back != PROMPT:
        fail(f"detokenize(tokenize(prompt)) differs: {back!r}")
    print("  detokenize(tokenize(prompt)) == prompt")
    del model
    return n_vocab


def check_full_load(path, log, file_types, file_bytes):
    start = time.time()
    model = llama_cpp.Llama(model_path=path, n_ctx=128, n_batch=32, n_threads=2, logits_all=True, verbose=False)
    load_s = time.time() - start
    lines = log.take()
    reported = {}
    for line in lines:
        m = re.search(r"llama_model_loader: - type\s+(\w+):\s+(\d+) tensors", line)
        if m:
            reported[m.group(1).upper()] = int(m.group(2))
    info = [l.split(":", 1)[1].strip() for l in lines if re.match(r"print_info: (file type|file size|model params|arch|n_layer|n_embd|n_head|n_ctx_train) ", l)]
    print(f"llama.cpp full load ({load_s:.1f} s):")
    for line in info:
        print(f"  {line}")
    print("  loader types: " + ", ".join(f"{n} x {t.lower()}" for t, n in sorted(reported.items())))
    if reported != {t.upper(): n for t, n in file_types.items()}:
        fail(f"llama.cpp reports tensor types {reported}, the file has {dict(file_types)}")
    size = llama_cpp.llama_model_size(model.model)
    params = llama_cpp.llama_model_n_params(model.model)
    print(f"  llama_model_size {size:,} bytes, llama_model_n_params {params:,}")
    if size != file_bytes:
        fail(f"llama.cpp counts {size} bytes of tensors, the file has {file_bytes}")
    return model


def check_eval(model, n_tokens):
    tokens = model.tokenize(PROMPT.encode(), add_bos=True)[:n_tokens]
    start = time.time()
    model.eval(tokens)
    secs = time.time() - start
    logits = np.array(model.scores[: model.n_tokens])
    if not np.isfinite(logits).all():
        fail("non-finite logits")
    print(f"eval: {len(tokens)} tokens in {secs:.2f} s, logits finite, std {logits.std():.3f}, "
          f"argmax {logits.argmax(axis=1).tolist()}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--eval-tokens", type=int, default=8)
    ap.add_argument("--expect-size", type=int, help="file size in bytes a real model of this shape has")
    args = ap.parse_args()

    log = LogCapture()
    _, per_type, total = describe_file(args.model)
    check_vocab(args.model, log)
    model = check_full_load(args.model, log, per_type, total)
    if args.eval_tokens > 0:
        check_eval(model, args.eval_tokens)
    if args.expect_size is not None:
        import os
        size = os.path.getsize(args.model)
        print(f"file size {size:,} bytes; real model {args.expect_size:,} bytes; difference {size - args.expect_size:+,}")
    print("OK")


if __name__ == "__main__":
    main()
