#!/usr/bin/env python3
"""Generates tests/fixtures/reference/<stem>.hf.json (what HF transformers computes for
the real test models, teacher-forced over text.txt) and
tests/fixtures/reference/agreement.json (how closely llama.cpp agrees with it: the
yardstick for kiln, which must agree with transformers as closely as llama.cpp does).

Run by hand, not by CI, after tools/gen_reference_logits.py:

  .venv/bin/python tools/gen_hf_reference.py [MODELS_DIR]

Needs in the same Python: torch (CPU is enough), transformers (with its GGUF
loader, which needs the `gguf` package), numpy and llama-cpp-python (pip reuses the
wheel that tools/setup_reference.sh built: PIP_CACHE_DIR=~/.cache/kiln/pip
pip install llama-cpp-python==0.3.36). llama.cpp runs here too so that the
comparison uses both full distributions, not only the top-k in the fixtures.

How transformers is run:
  * AutoModelForCausalLM.from_pretrained(MODELS_DIR, gguf_file=NAME,
    dtype=torch.float32): transformers dequantizes every tensor of the GGUF to
    float32 (the same quantized weights llama.cpp uses, but no activation
    quantization and float32 math throughout), attention "eager".
  * Input: exactly the token ids of <stem>.llamacpp.json (so tokenization
    differences cannot enter), one forward pass over all of them.
  * log_softmax of the float32 logits, in float64; top-32 as in
    gen_reference_logits.py. Greedy continuations of the same prompts, from the
    llama.cpp fixture's prompt token ids, argmax one token at a time (KV cache on).
The .hf.json format is that of .llamacpp.json (see gen_reference_logits.py), with
"source" naming transformers and torch, and "settings" the dtype and attention.

agreement.json, per model, over the T teacher-forced positions:
  top1           fraction of positions where both argmaxes are the same token
  kl_full_*      mean KL over the full vocabulary, both directions
                 (hf_llamacpp = KL(HF || llama.cpp)), and its max
  kl_top32_*     mean KL restricted to the first distribution's top-32 ids
                 (what a test can compute from a fixture plus its own logits)
  next_lp_mae    mean |difference| of the log-prob of the actual next token
  ppl_hf, ppl_llamacpp  perplexity of the text (positions 0..T-2)
  greedy_same_prefix   per prompt, how many greedy tokens agree before the first
                 difference (of 32, or fewer if an end token came first)
"""
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch
import transformers
from transformers import AutoModelForCausalLM

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gen_reference_logits as ref  # noqa: E402  (same folder: runner, top-k, writer)

OUT = ref.OUT


def hf_logits(model, tokens):
    with torch.inference_mode():
        out = model(torch.tensor([tokens], dtype=torch.long), use_cache=False)
    return out.logits[0].float().numpy()


def hf_greedy(model, prompt, prompt_tokens, tokenizer_piece, is_eog):
    tokens, lps, margins = [], [], []
    with torch.inference_mode():
        out = model(torch.tensor([prompt_tokens], dtype=torch.long), use_cache=True)
        for _ in range(ref.GREEDY_TOKENS):
            lp, _ = ref.log_softmax(out.logits[0, -1].float().numpy())
            best2 = ref.top_k(lp, 2)
            tok = int(best2[0])
            tokens.append(tok)
            lps.append(ref.r5(lp[tok]))
            margins.append(ref.r5(lp[best2[0]] - lp[best2[1]]))
            if is_eog(tok):
                break
            out = model(torch.tensor([[tok]], dtype=torch.long), past_key_values=out.past_key_values,
                        use_cache=True)
    text = b"".join(tokenizer_piece(t) for t in tokens).decode("utf-8", "replace")
    return {"prompt": prompt, "prompt_tokens": prompt_tokens, "tokens": tokens, "lp": lps,
            "margin": margins, "text": text}


def kl_rows(lp_p, lp_q):
    """KL(p || q) per row over the full vocabulary (float64 log-probs)."""
    return (np.exp(lp_p) * (lp_p - lp_q)).sum(axis=-1)


def kl_top_rows(lp_p, lp_q, k):
    out = np.empty(lp_p.shape[0])
    for r in range(lp_p.shape[0]):
        ids = ref.top_k(lp_p[r], k)
        out[r] = (np.exp(lp_p[r, ids]) * (lp_p[r, ids] - lp_q[r, ids])).sum()
    return out


def same_prefix(a, b):
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def agreement(tokens, lp_hf, lp_ll, greedy_hf, greedy_ll):
    nxt = np.array(tokens[1:])
    rows = np.arange(len(tokens) - 1)
    next_hf, next_ll = lp_hf[rows, nxt], lp_ll[rows, nxt]
    kl_hl = kl_rows(lp_hf, lp_ll)
    kl_lh = kl_rows(lp_ll, lp_hf)
    return {
        "positions": len(tokens),
        "top1": round(float((lp_hf.argmax(-1) == lp_ll.argmax(-1)).mean()), 5),
        "kl_full_hf_llamacpp": round(float(kl_hl.mean()), 6),
        "kl_full_llamacpp_hf": round(float(kl_lh.mean()), 6),
        "kl_full_hf_llamacpp_max": round(float(kl_hl.max()), 6),
        "kl_top32_hf_llamacpp": round(float(kl_top_rows(lp_hf, lp_ll, ref.TOP_K).mean()), 6),
        "kl_top32_llamacpp_hf": round(float(kl_top_rows(lp_ll, lp_hf, ref.TOP_K).mean()), 6),
        "next_lp_mae": round(float(np.abs(next_hf - next_ll).mean()), 6),
        "ppl_hf": round(float(np.exp(-next_hf.mean())), 4),
        "ppl_llamacpp": round(float(np.exp(-next_ll.mean())), 4),
        "greedy_same_prefix": {g["prompt"]: [same_prefix(g["tokens"], h["tokens"]), len(g["tokens"])]
                               for g, h in zip(greedy_ll, greedy_hf)},
    }


def run_model(models_dir, name, text_bytes):
    ll_fixture_path = OUT / (Path(name).stem + ".llamacpp.json")
    ll_fixture = json.loads(ll_fixture_path.read_text(encoding="utf-8"))
    tokens = ll_fixture["tokens"]

    # llama.cpp's full distributions (same recipe as its fixture), then freed.
    runner = ref.LlamaRunner(models_dir / name)
    try:
        if runner.tokenize(text_bytes) != tokens:
            raise RuntimeError(f"{ll_fixture_path.name} is stale: llama.cpp tokenizes text.txt differently now")
        runner.clear()
        lp_ll, _ = ref.log_softmax(runner.decode(tokens, 0, all_logits=True))
        piece, is_eog = runner.piece, runner.is_eog
        model = AutoModelForCausalLM.from_pretrained(str(models_dir), gguf_file=name, dtype=torch.float32,
                                                     attn_implementation="eager")
        model.eval()
        logits = hf_logits(model, tokens)
        lp_hf, lse_hf = ref.log_softmax(logits)
        del logits
        positions = []
        for p in range(len(tokens)):
            ids = ref.top_k(lp_hf[p], ref.TOP_K)
            nxt = lp_hf[p, tokens[p + 1]] if p + 1 < len(tokens) else None
            positions.append({"lse": ref.r5(lse_hf[p]), "next": ref.r5(nxt),
                              "ids": [int(i) for i in ids], "lp": [ref.r5(v) for v in lp_hf[p, ids]]})
        greedy_hf = [hf_greedy(model, g["prompt"], g["prompt_tokens"], piece, is_eog) for g in ll_fixture["greedy"]]
        fixture = {
            "format": "kiln-reference-logits/1",
            "source": {"engine": "transformers", "transformers": transformers.__version__,
                       "torch": torch.__version__, "model_class": type(model).__name__},
            "model": ll_fixture["model"],
            "settings": {"dtype": "float32", "attention": "eager", "weights": "GGUF dequantized to float32"},
            "text_sha256": ll_fixture["text_sha256"],
            "tokens": tokens,
            "k": ref.TOP_K,
            "positions": positions,
            "greedy": greedy_hf,
        }
        stats = agreement(tokens, lp_hf, lp_ll, greedy_hf, ll_fixture["greedy"])
        return fixture, stats
    finally:
        runner.close()


def main():
    models_dir = Path(sys.argv[1] if len(sys.argv) > 1 else
                      os.environ.get("KILN_TEST_MODELS", Path.home() / ".cache" / "kiln" / "models"))
    keep = ref.quiet_logs()
    ref.llama_cpp.llama_backend_init()
    torch.manual_seed(0)
    text_bytes = ref.TEXT.read_bytes()
    report = {"what": "agreement of llama.cpp with HF transformers, teacher-forced over text.txt "
                      "(see tools/gen_hf_reference.py)",
              "llama_cpp_python": ref.llama_cpp.__version__, "transformers": transformers.__version__,
              "torch": torch.__version__, "models": {}}
    for name in ref.MODELS:
        if not (models_dir / name).exists():
            print(f"skip {name}: not in {models_dir}")
            continue
        fixture, stats = run_model(models_dir, name, text_bytes)
        out = OUT / (Path(name).stem + ".hf.json")
        ref.write_fixture(out, fixture)
        report["models"][name] = stats
        print(f"{out.relative_to(ref.ROOT)}: {out.stat().st_size:,} bytes; agreement {json.dumps(stats)}")
        for g in fixture["greedy"]:
            print(f"  {g['prompt']!r} -> {g['text']!r}")
    (OUT / "agreement.json").write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    del keep


if __name__ == "__main__":
    main()
