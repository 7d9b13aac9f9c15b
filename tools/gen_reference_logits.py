#!/usr/bin/env python3
"""Generates tests/fixtures/reference/<stem>.llamacpp.json: what llama.cpp computes
for the real test models, so kiln's forward pass can be checked against an outside
reference (top-1 agreement, KL divergence, greedy continuations).

Run by hand in the reference environment (tools/setup_reference.sh), not by CI:

  .venv-ref/bin/python tools/gen_reference_logits.py [MODELS_DIR]

MODELS_DIR defaults to $KILN_TEST_MODELS, then ~/.cache/kiln/models. A model that
is absent is skipped with a message. The output is deterministic for a given
llama.cpp build, model file and text (same thread count, same batch split).

How llama.cpp is run (the recipe, so the numbers can be reproduced):
  * llama-cpp-python's low-level API (the llama.cpp C API): n_ctx 1024, n_batch =
    n_ubatch = 1024 (the whole text is one ubatch), 2 threads, flash attention
    disabled, f16 KV cache (llama.cpp's default), one sequence.
  * Text: tests/fixtures/reference/text.txt (prose, code, a CSV table, numbers,
    Japanese/Chinese/Korean), read as UTF-8 bytes, tokenized by llama.cpp with
    add_special=True (BOS is prepended only when the vocabulary says so:
    gemma3 yes, qwen2 no) and parse_special=False.
  * Teacher forcing: all tokens in one llama_decode with logits for every
    position. Log-probabilities are log_softmax of the full logits, in float64.
  * Greedy: for each prompt (tokenized the same way), the prompt is decoded in one
    batch, then the argmax token is appended and decoded one at a time, up to 32
    tokens or an end-of-generation token (included, then stop).

Fixture format (JSON, one object; floats rounded to 5 decimals):
  format        "kiln-reference-logits/1"
  source        {"engine": "llama.cpp", "llama_cpp_python": version, "system_info": ...}
  model         {"file", "sha256", "architecture", "n_vocab", "add_bos"}
  settings      {"n_ctx", "n_batch", "n_threads", "flash_attn", "type_k", "type_v"}
  text_sha256   sha256 of text.txt's bytes
  tokens        [T] token ids llama.cpp used (BOS included when added)
  k             32
  positions     [T] entries; entry p is the distribution after reading tokens[0..p]
                (the prediction of tokens[p+1]):
                  lse   log-sum-exp of the raw logits (raw logit = lp + lse)
                  next  full-vocabulary log-prob of tokens[p+1] (null for p = T-1)
                  ids   top-k token ids, by decreasing log-prob (ties: lower id first)
                  lp    their full-vocabulary log-probs
  greedy        [{"prompt", "prompt_tokens", "tokens", "lp", "margin", "text"}]:
                  tokens  generated ids; lp their log-probs; margin the log-prob gap
                  between the best and second-best token at each step (a small margin
                  means a near-tie that a tiny numeric difference may flip); text the
                  detokenized continuation.

KL on the top-k support: with p = exp(lp) from the fixture and q the log-probs kiln
computes over the full vocabulary, KL_k(p||q) = sum_{i in ids} p_i (lp_i - log q_i).
The mass outside the top-k is 1 - sum p_i (small; recorded implicitly).
"""
import ctypes
import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np
import llama_cpp

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "reference"
TEXT = OUT / "text.txt"
MODELS = ["gemma-3-270m-q4_k_m.gguf", "qwen-0.5b.gguf"]
PROMPTS = [
    "The capital of France is",
    "The largest planet in the solar system is",
    "Water boils at a temperature of",
]
TOP_K = 32
GREEDY_TOKENS = 32
N_CTX = 1024
N_THREADS = 2


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def quiet_logs():
    """llama.cpp prints its loader report to stderr; keep the run's output readable."""
    callback = llama_cpp.llama_log_callback(lambda level, text, data: None)
    llama_cpp.llama_log_set(callback, ctypes.c_void_p(0))
    return callback  # the caller keeps it alive


class LlamaRunner:
    """One model and one context through the llama.cpp C API (no high-level wrapper,
    so nothing allocates an n_ctx x n_vocab score matrix behind our back)."""

    def __init__(self, path, n_ctx=N_CTX, n_batch=N_CTX, n_threads=N_THREADS, flash_attn=False):
        mparams = llama_cpp.llama_model_default_params()
        mparams.n_gpu_layers = 0
        self.model = llama_cpp.llama_model_load_from_file(str(path).encode(), mparams)
        if not self.model:
            raise RuntimeError(f"llama.cpp could not load {path}")
        cparams = llama_cpp.llama_context_default_params()
        cparams.n_ctx = n_ctx
        cparams.n_batch = n_batch
        cparams.n_ubatch = n_batch
        cparams.n_seq_max = 1
        cparams.n_threads = n_threads
        cparams.n_threads_batch = n_threads
        cparams.flash_attn_type = (llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED if flash_attn
                                   else llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED)
        self.settings = {"n_ctx": n_ctx, "n_batch": n_batch, "n_threads": n_threads,
                         "flash_attn": flash_attn, "type_k": "f16", "type_v": "f16"}
        self.ctx = llama_cpp.llama_init_from_model(self.model, cparams)
        if not self.ctx:
            raise RuntimeError(f"llama.cpp could not create a context for {path}")
        self.vocab = llama_cpp.llama_model_get_vocab(self.model)
        self.n_vocab = llama_cpp.llama_vocab_n_tokens(self.vocab)
        self.n_batch = n_batch
        self.batch = llama_cpp.llama_batch_init(n_batch, 0, 1)

    def close(self):
        llama_cpp.llama_batch_free(self.batch)
        llama_cpp.llama_free(self.ctx)
        llama_cpp.llama_model_free(self.model)

    def architecture(self):
        buf = ctypes.create_string_buffer(256)
        llama_cpp.llama_model_meta_val_str(self.model, b"general.architecture", buf, len(buf))
        return buf.value.decode()

    def add_bos(self):
        return bool(llama_cpp.llama_vocab_get_add_bos(self.vocab))

    def tokenize(self, text_bytes):
        n_max = len(text_bytes) + 16
        out = (llama_cpp.llama_token * n_max)()
        n = llama_cpp.llama_tokenize(self.vocab, text_bytes, len(text_bytes), out, n_max, True, False)
        if n < 0:
            raise RuntimeError(f"tokenize needs {-n} slots")
        return list(out[:n])

    def piece(self, token):
        buf = ctypes.create_string_buffer(256)
        n = llama_cpp.llama_token_to_piece(self.vocab, token, buf, len(buf), 0, False)
        return buf.raw[:n]

    def is_eog(self, token):
        return bool(llama_cpp.llama_vocab_is_eog(self.vocab, token))

    def clear(self):
        llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(self.ctx), True)

    def decode(self, tokens, pos0, all_logits):
        """Decodes tokens at positions pos0.. into sequence 0. Returns the logits of
        every token (all_logits) or of the last one, as a float32 array [n, n_vocab]."""
        n = len(tokens)
        if n > self.n_batch:
            raise ValueError(f"{n} tokens exceed the batch of {self.n_batch}")
        b = self.batch
        b.n_tokens = n
        for i, t in enumerate(tokens):
            b.token[i] = t
            b.pos[i] = pos0 + i
            b.n_seq_id[i] = 1
            b.seq_id[i][0] = 0
            b.logits[i] = all_logits or i == n - 1
        rc = llama_cpp.llama_decode(self.ctx, b)
        if rc != 0:
            raise RuntimeError(f"llama_decode returned {rc}")
        n_out = n if all_logits else 1
        ptr = llama_cpp.llama_get_logits(self.ctx)
        return np.ctypeslib.as_array(ptr, shape=(n_out, self.n_vocab)).copy()


def log_softmax(logits):
    x = logits.astype(np.float64)
    m = x.max(axis=-1, keepdims=True)
    lse = m + np.log(np.exp(x - m).sum(axis=-1, keepdims=True))
    return x - lse, lse[..., 0]


def top_k(logprobs, k):
    """Top-k ids by decreasing log-prob, ties broken by lower id (deterministic)."""
    cand = np.argpartition(-logprobs, k)[: k + 8]  # a few extra so ties at the edge sort right
    order = np.lexsort((cand, -logprobs[cand]))
    return cand[order][:k]


def r5(x):
    return None if x is None else round(float(x), 5)


def teacher_forced(tokens, logits):
    lp, lse = log_softmax(logits)
    positions = []
    for p in range(len(tokens)):
        ids = top_k(lp[p], TOP_K)
        nxt = lp[p, tokens[p + 1]] if p + 1 < len(tokens) else None
        positions.append({"lse": r5(lse[p]), "next": r5(nxt),
                          "ids": [int(i) for i in ids], "lp": [r5(v) for v in lp[p, ids]]})
    return positions


def greedy(runner, prompt):
    runner.clear()
    ptoks = runner.tokenize(prompt.encode())
    logits = runner.decode(ptoks, 0, all_logits=False)[0]
    out, lps, margins = [], [], []
    pos = len(ptoks)
    for _ in range(GREEDY_TOKENS):
        lp, _ = log_softmax(logits)
        best2 = top_k(lp, 2)
        tok = int(best2[0])
        out.append(tok)
        lps.append(r5(lp[tok]))
        margins.append(r5(lp[best2[0]] - lp[best2[1]]))
        if runner.is_eog(tok):
            break
        logits = runner.decode([tok], pos, all_logits=False)[0]
        pos += 1
    text = b"".join(runner.piece(t) for t in out).decode("utf-8", "replace")
    return {"prompt": prompt, "prompt_tokens": ptoks, "tokens": out, "lp": lps,
            "margin": margins, "text": text}


def write_fixture(path, obj):
    """JSON with one position per line: small diffs, still one json.load away."""
    with open(path, "w", encoding="utf-8") as f:
        f.write("{\n")
        keys = list(obj)
        for i, key in enumerate(keys):
            sep = ",\n" if i + 1 < len(keys) else "\n"
            value = obj[key]
            if key in ("positions", "greedy"):
                rows = ",\n  ".join(json.dumps(v, separators=(",", ":"), ensure_ascii=False) for v in value)
                f.write(f' "{key}": [\n  {rows}\n ]{sep}')
            else:
                f.write(f' "{key}": {json.dumps(value, separators=(",", ":"), ensure_ascii=False)}{sep}')
        f.write("}\n")


def generate(model_path, text_bytes):
    runner = LlamaRunner(model_path)
    try:
        tokens = runner.tokenize(text_bytes)
        if len(tokens) > N_CTX:
            raise RuntimeError(f"text is {len(tokens)} tokens, more than n_ctx {N_CTX}")
        runner.clear()
        logits = runner.decode(tokens, 0, all_logits=True)
        positions = teacher_forced(tokens, logits)
        del logits
        fixture = {
            "format": "kiln-reference-logits/1",
            "source": {"engine": "llama.cpp", "llama_cpp_python": llama_cpp.__version__,
                       "system_info": llama_cpp.llama_print_system_info().decode().strip()},
            "model": {"file": model_path.name, "sha256": sha256_file(model_path),
                      "architecture": runner.architecture(), "n_vocab": runner.n_vocab,
                      "add_bos": runner.add_bos()},
            "settings": runner.settings,
            "text_sha256": hashlib.sha256(text_bytes).hexdigest(),
            "tokens": tokens,
            "k": TOP_K,
            "positions": positions,
            "greedy": [greedy(runner, p) for p in PROMPTS],
        }
        return fixture
    finally:
        runner.close()


def main():
    models_dir = Path(sys.argv[1] if len(sys.argv) > 1 else
                      os.environ.get("KILN_TEST_MODELS", Path.home() / ".cache" / "kiln" / "models"))
    keep = quiet_logs()
    llama_cpp.llama_backend_init()
    text_bytes = TEXT.read_bytes()
    for name in MODELS:
        path = models_dir / name
        if not path.exists():
            print(f"skip {name}: not in {models_dir}")
            continue
        fixture = generate(path, text_bytes)
        out = OUT / (Path(name).stem + ".llamacpp.json")
        write_fixture(out, fixture)
        mean_next = np.mean([p["next"] for p in fixture["positions"] if p["next"] is not None])
        print(f"{out.relative_to(ROOT)}: {len(fixture['tokens'])} tokens, "
              f"mean log-prob of the text {mean_next:.4f} (perplexity {np.exp(-mean_next):.2f}), "
              f"{out.stat().st_size:,} bytes")
        for g in fixture["greedy"]:
            print(f"  {g['prompt']!r} -> {g['text']!r}")
    del keep


if __name__ == "__main__":
    main()
