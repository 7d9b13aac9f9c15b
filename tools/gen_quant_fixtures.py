#!/usr/bin/env python3
"""Writes tests/fixtures/quant/: reference data for kiln's block formats.

The oracle is the gguf Python package (gguf.quants), which mirrors ggml, and
for the K-quant quantizers (which gguf lacks) ggml itself:
  dequant_<type>.bin  random but valid blocks + gguf.quants.dequantize output
  quant_<type>.bin    input floats + gguf.quants.quantize output (for the
                      types the package can quantize), or for q2_K..q6_K and
                      q8_K the output of ggml's quantize_row_<type>_ref, called
                      through ctypes in libggml-base.so of the llama.cpp
                      reference venv (tools/setup_reference.sh builds it)
  model_<name>.bin    for a few tensors of a real GGUF model: where the tensor
                      lies in the file, a checksum of the whole dequantized
                      tensor and its first row in full

File layout (little-endian), every file: magic (4 bytes), u32 version = 1.
  dequant: "KQDQ", version, u32 ggml type, u32 n_values, u32 n_bytes,
           n_bytes block bytes, n_values f32
  quant:   "KQQT", version, u32 ggml type, u32 n_values, u32 n_bytes,
           n_values f32 input, n_bytes expected bytes
  model:   "KQMD", version, u64 file size, u32 tensor count, then per tensor:
           u16 name length, name (utf-8), u32 ggml type, u64 absolute data
           offset, u64 n_bytes, i64 row length, i64 rows, u64 checksum,
           row length f32 (row 0)
The checksum of floats f_0..f_{n-1} is sum(bits(f_i) * (2i + 1)) mod 2^64,
with bits() the f32 bit pattern as an unsigned integer (any changed bit in
any value changes it, and numpy computes it quickly).

Run from the repository root with the project venv:
  .venv/bin/python tools/gen_quant_fixtures.py [--models DIR] [--ggml-lib PATH]
Models default to $KILN_TEST_MODELS or /tmp/models; a missing model is skipped
with a message (its fixture is left as it is).
"""
import argparse
import ctypes
import os
import struct
import sys
from pathlib import Path

import numpy as np
from gguf import GGUFReader, GGMLQuantizationType as T
from gguf import quants
from gguf.constants import GGML_QUANT_SIZES

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "quant"
VERSION = 1

# Byte offsets of the f16 scale fields in each block: random bytes there could
# be inf/nan, so they are overwritten with moderate finite values.
SCALE_FIELDS = {
    T.Q4_0: [0], T.Q4_1: [0, 2], T.Q5_0: [0], T.Q5_1: [0, 2], T.Q8_0: [0],
    T.Q2_K: [80, 82], T.Q3_K: [108], T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208],
    T.IQ4_NL: [0], T.IQ4_XS: [0], T.TQ1_0: [52], T.TQ2_0: [64], T.MXFP4: [],
}
BLOCKS_PER_FIXTURE = {T.Q4_0: 8, T.Q4_1: 8, T.Q5_0: 8, T.Q5_1: 8, T.Q8_0: 8, T.IQ4_NL: 8, T.MXFP4: 8}  # 256-value: 4


def checksum(values: np.ndarray) -> int:
    bits = values.astype(np.float32, copy=False).ravel().view(np.uint32).astype(np.uint64)
    weights = np.arange(bits.size, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    with np.errstate(over="ignore"):
        return int(np.sum(bits * weights, dtype=np.uint64))


def type_name(qtype: T) -> str:
    """ggml's spelling, as kiln::type_name prints it: q4_0, q4_K, iq4_xs, bf16."""
    return qtype.name.lower().replace("_k", "_K")


def write(name: str, payload: bytes) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / name).write_bytes(payload)
    print(f"wrote {name} ({len(payload)} bytes)")


def moderate_scales(rng: np.random.Generator, n: int) -> np.ndarray:
    # Signed magnitudes from 1e-4 to 1: the range real models use.
    mag = 10.0 ** rng.uniform(-4, 0, n)
    return (mag * rng.choice([-1.0, 1.0], n)).astype(np.float16)


def random_blocks(rng: np.random.Generator, qtype: T) -> np.ndarray:
    block_size, type_size = GGML_QUANT_SIZES[qtype]
    nblocks = BLOCKS_PER_FIXTURE.get(qtype, 4)
    blocks = rng.integers(0, 256, size=(nblocks, type_size), dtype=np.uint8)
    for off in SCALE_FIELDS[qtype]:
        blocks[:, off:off + 2] = moderate_scales(rng, nblocks).view(np.uint8).reshape(nblocks, 2)
    if qtype == T.MXFP4:  # shared exponent byte: the two subnormal cases, 2^0, then moderate ones
        blocks[:, 0] = np.concatenate([[0, 1, 2, 127], rng.integers(100, 150, nblocks - 4)])
    return blocks


def half_specials() -> np.ndarray:
    bits = [0x0000, 0x8000, 0x0001, 0x8001, 0x03ff, 0x0400, 0x3c00, 0xbc00, 0x7bff, 0xfbff,
            0x7c00, 0xfc00, 0x7e00, 0xfe00, 0x7e01, 0x3555, 0x0200]
    return np.array(bits, dtype=np.uint16)


def dequant_fixtures(rng: np.random.Generator) -> None:
    for qtype in SCALE_FIELDS:
        blocks = random_blocks(rng, qtype)
        values = quants.dequantize(blocks, qtype).astype(np.float32).ravel()
        raw = blocks.tobytes()
        write(f"dequant_{type_name(qtype)}.bin",
              b"KQDQ" + struct.pack("<IIII", VERSION, qtype.value, values.size, len(raw)) + raw + values.tobytes())
    # f16: random finite bit patterns plus every special class (quiet nans
    # included on purpose: the test compares bits).
    f16 = rng.integers(0, 0x7c00, size=240, dtype=np.uint16) | (rng.integers(0, 2, 240, dtype=np.uint16) << 15)
    f16 = np.concatenate([f16, half_specials()])
    values = quants.dequantize(f16.view(np.uint8), T.F16).astype(np.float32).ravel()
    write("dequant_f16.bin", b"KQDQ" + struct.pack("<IIII", VERSION, T.F16.value, values.size, f16.nbytes) +
          f16.tobytes() + values.tobytes())
    # bf16: any bit pattern decodes by a shift, nans included.
    bf16 = rng.integers(0, 0x10000, size=256, dtype=np.uint16)
    bf16[:4] = [0x7fc0, 0xff81, 0x7f80, 0x0001]
    values = quants.dequantize(bf16.view(np.uint8), T.BF16).astype(np.float32).ravel()
    write("dequant_bf16.bin", b"KQDQ" + struct.pack("<IIII", VERSION, T.BF16.value, values.size, bf16.nbytes) +
          bf16.tobytes() + values.tobytes())


def quant_inputs(rng: np.random.Generator, nblocks: int, block: int) -> np.ndarray:
    """Random rows with the awkward blocks every quantizer must handle."""
    x = rng.standard_normal((nblocks, block)).astype(np.float32)
    x *= (10.0 ** rng.uniform(-3, 1, (nblocks, 1))).astype(np.float32)
    x[0] = 0.0                       # all zero
    x[1] = np.float32(0.3)           # constant positive
    x[2] = np.float32(-1.7)          # constant negative
    x[3, 5] = np.float32(250.0)      # one huge outlier
    x[4] = np.abs(x[4])              # one-signed
    # Many exact ties on a grid. (+ 0.0 turns the -0.0 that rounding makes into
    # +0.0: with both zeros in a block, numpy's min and ggml's loop pick
    # different signs for the q4_1/q5_1 min; kiln follows ggml, which
    # quant_roundtrip_test checks separately.)
    x[5, :] = np.round(x[5] * 8) / 8 + np.float32(0.0)
    return x.ravel()


def f32_to_f16_inputs(rng: np.random.Generator) -> np.ndarray:
    """Values that exercise every rounding path of f32 -> f16."""
    parts = [
        rng.standard_normal(64).astype(np.float32),
        (rng.standard_normal(64) * 10.0 ** rng.uniform(-9, 5, 64)).astype(np.float32),  # subnormal .. overflow
        np.array([0.0, -0.0, 65504.0, 65519.996, 65520.0, -65520.0, 1e9, 2.0**-24, 2.0**-25, 2.0**-25 * 1.0000001,
                  2.0**-26, 6.0e-8, 2.0**-14, 2.0**-14 * (1 - 2.0**-11), np.inf, -np.inf, np.nan],
                 dtype=np.float32),
    ]
    # Exact ties between neighbouring halves (normal and subnormal), both parities.
    halves = np.array([0x3c00, 0x3c01, 0x0001, 0x0002, 0x03fe, 0x7bfe, 0x1234, 0x8235], dtype=np.uint16)
    lo = halves.view(np.float16).astype(np.float32)
    hi = (halves + 1).view(np.float16).astype(np.float32)
    parts.append(((lo.astype(np.float64) + hi.astype(np.float64)) / 2).astype(np.float32))
    return np.concatenate(parts).astype(np.float32)


def quant_fixtures(rng: np.random.Generator) -> None:
    for qtype in (T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0):
        block_size, _ = GGML_QUANT_SIZES[qtype]
        x = quant_inputs(rng, 16, block_size)
        q = quants.quantize(x.reshape(1, -1), qtype).tobytes()
        write(f"quant_{type_name(qtype)}.bin",
              b"KQQT" + struct.pack("<IIII", VERSION, qtype.value, x.size, len(q)) + x.tobytes() + q)
    x = f32_to_f16_inputs(rng)
    q = quants.quantize(x, T.F16).tobytes()
    write("quant_f16.bin", b"KQQT" + struct.pack("<IIII", VERSION, T.F16.value, x.size, len(q)) + x.tobytes() + q)
    x = np.concatenate([f32_to_f16_inputs(rng), rng.integers(0, 2**32, 128, dtype=np.uint32).view(np.float32)])
    q = quants.quantize(x.reshape(1, -1), T.BF16).tobytes()
    write("quant_bf16.bin", b"KQQT" + struct.pack("<IIII", VERSION, T.BF16.value, x.size, len(q)) + x.tobytes() + q)


def ggml_quant_fixtures(rng: np.random.Generator, lib_path: Path) -> None:
    """K-quant quantizers: ggml's reference implementation is the oracle."""
    if not lib_path.exists():
        print(f"skipping K-quant quantize fixtures: {lib_path} not found (run tools/setup_reference.sh)",
              file=sys.stderr)
        return
    lib = ctypes.CDLL(str(lib_path))
    for qtype in (T.Q2_K, T.Q3_K, T.Q4_K, T.Q5_K, T.Q6_K, T.Q8_K):
        block_size, type_size = GGML_QUANT_SIZES[qtype]
        x = quant_inputs(rng, 8, block_size)
        out = np.zeros(x.size // block_size * type_size, dtype=np.uint8)
        fn = getattr(lib, f"quantize_row_{type_name(qtype)}_ref")
        fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
        fn.restype = None
        fn(x.ctypes.data, out.ctypes.data, x.size)
        write(f"quant_{type_name(qtype)}.bin", b"KQQT" + struct.pack("<IIII", VERSION, qtype.value, x.size, out.size) +
              x.tobytes() + out.tobytes())


def model_fixture(path: Path, out_name: str) -> None:
    if not path.exists():
        print(f"skipping {out_name}: {path} not found", file=sys.stderr)
        return
    reader = GGUFReader(path)
    # For each quantized type: the smallest tensor of that type.
    chosen = {}
    for t in reader.tensors:
        if t.tensor_type in (T.F32, T.F16):
            continue
        best = chosen.get(t.tensor_type)
        if best is None or int(t.n_elements) < int(best.n_elements):
            chosen[t.tensor_type] = t
    payload = bytearray(b"KQMD" + struct.pack("<IQI", VERSION, path.stat().st_size, len(chosen)))
    with open(path, "rb") as f:
        for qtype, t in sorted(chosen.items(), key=lambda kv: kv[0].value):
            f.seek(int(t.data_offset))
            raw = f.read(int(t.n_bytes))
            assert raw == t.data.tobytes(), f"{t.name}: data_offset is not absolute"
            row_len = int(t.shape[0])
            rows = int(t.n_elements) // row_len
            values = quants.dequantize(np.frombuffer(raw, dtype=np.uint8).reshape(rows, -1), qtype)
            values = values.astype(np.float32).reshape(rows, row_len)
            name = t.name.encode()
            payload += struct.pack("<H", len(name)) + name
            payload += struct.pack("<IQQqqQ", qtype.value, int(t.data_offset), int(t.n_bytes), row_len, rows,
                                   checksum(values))
            payload += values[0].tobytes()
            print(f"  {t.name}: {qtype.name} {row_len}x{rows}")
    write(out_name, bytes(payload))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=os.environ.get("KILN_TEST_MODELS", "/tmp/models"))
    ap.add_argument("--ggml-lib", type=Path, default=Path(__file__).resolve().parent.parent /
                    ".venv-ref/lib/python3.11/site-packages/llama_cpp/lib/libggml-base.so")
    args = ap.parse_args()
    rng = np.random.default_rng(20261122)
    dequant_fixtures(rng)
    quant_fixtures(rng)
    ggml_quant_fixtures(rng, args.ggml_lib)
    models = Path(args.models)
    model_fixture(models / "qwen-0.5b.gguf", "model_qwen-0.5b.bin")
    model_fixture(models / "gemma-3-270m-q4_k_m.gguf", "model_gemma-3-270m-q4_k_m.bin")


if __name__ == "__main__":
    main()
