#!/usr/bin/env python3
"""How well llama.cpp agrees with itself on a reference fixture: reruns the model
with another attention path (flash attention on; the fixture has it off) or another
batch size and prints top-1 agreement, top-1 agreement on decisive positions (top-2
gap >= 0.1 nats) and mean KL(fixture || rerun) over the fixture's top-k support,
computed exactly as tests/models/reference_test.cpp computes kiln's. Those numbers
are the noise floor the reference test's thresholds are set against.

  .venv-ref/bin/python tests/models/llamacpp_self_agreement.py STEM N_BATCH FLASH_ATTN
  e.g. ... gemma-3-270m-q4_k_m 1024 1
"""
import json
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import gen_reference_logits as g  # noqa: E402

stem, nb, fa = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
models = Path(os.environ.get("KILN_TEST_MODELS", Path.home() / ".cache" / "kiln" / "models"))
fx = json.load(open(ROOT / "tests" / "fixtures" / "reference" / f"{stem}.llamacpp.json"))
r = g.LlamaRunner(models / f"{stem}.gguf", n_batch=nb, flash_attn=fa)
toks = fx["tokens"]
agree = kl = dec = dag = 0
for s in range(0, len(toks), nb):
    lg = r.decode(toks[s:s + nb], s, True)
    lq, _ = g.log_softmax(lg)
    for i in range(lg.shape[0]):
        p = fx["positions"][s + i]
        same = int(np.argmax(lg[i]) == p["ids"][0])
        agree += same
        if p["lp"][0] - p["lp"][1] >= 0.1:
            dec += 1
            dag += same
        lp = np.array(p["lp"])
        kl += float((np.exp(lp) * (lp - lq[i][p["ids"]])).sum())
print(f"{stem} n_batch {nb} flash_attn {fa}: top1 {agree / len(toks):.4f}, "
      f"decisive top1 {dag / dec:.4f} ({dec} positions), mean KL {kl / len(toks):.6f}")
