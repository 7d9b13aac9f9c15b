#!/usr/bin/env python3
"""Writes tests/fixtures/gguf/quant_mix/<preset>.txt: the type llama.cpp's
llama-quantize gives every tensor of each kiln preset, for each file type.

For each preset kiln writes a synthetic model (for its metadata and tensor
list); this script turns it into a *thin* F16 model: the same metadata and
tensor names, each matrix cut to two rows of its real row length (llama.cpp
chooses types from the name, the row length and the layer, never from the row
count), then llama.cpp quantizes the thin model to every file type. Runs in
the reference environment (tools/setup_reference.sh):

  .venv-ref/bin/python tools/quant_mix_reference.py --kiln build/kiln
"""
import argparse
import ctypes
import os
import subprocess
import sys
import tempfile

import numpy as np
import gguf
import llama_cpp

_quiet_log = None
PRESETS = ["llama3-8b", "llama3.2-1b", "qwen2.5-0.5b", "qwen2.5-1.5b", "qwen3-0.6b", "gemma3-270m"]
# llama_ftype numbers (general.file_type) and names.
FILE_TYPES = {15: "Q4_K_M", 17: "Q5_K_M", 18: "Q6_K", 7: "Q8_0", 14: "Q4_K_S", 16: "Q5_K_S", 2: "Q4_0", 8: "Q5_0"}


def copy_scalar_metadata(reader, writer):
    """Copies general.* and <arch>.* keys; the tokenizer is not needed to quantize."""
    arch = reader.fields["general.architecture"].contents()
    for key, field in reader.fields.items():
        if key.startswith("GGUF.") or key in ("general.architecture", "general.file_type") or key.endswith(
                ".block_count"):
            continue
        if not (key.startswith("general.") or key.startswith(arch + ".")):
            continue
        vtype = field.types[0]
        if vtype == gguf.GGUFValueType.ARRAY:
            continue
        writer.add_key_value(key, field.contents(), vtype)
    writer.add_file_type(1)  # MOSTLY_F16


def kiln_plan(kiln, preset):
    """(name, shape) of every tensor of the full preset, from `kiln synth --plan`."""
    out = subprocess.run([kiln, "synth", preset, "-t", "f16", "--plan"], check=True, capture_output=True, text=True)
    tensors = []
    for line in out.stdout.splitlines():
        if line.startswith("#"):
            continue
        name, _type, shape, _nbytes = line.split()
        tensors.append((name, [int(d) for d in shape.split(",")]))
    return tensors


def write_thin_model(source_path, tensors, thin_path):
    reader = gguf.GGUFReader(source_path)
    arch = reader.fields["general.architecture"].contents()
    writer = gguf.GGUFWriter(thin_path, arch)
    copy_scalar_metadata(reader, writer)
    n_layers = 1 + max(int(name.split(".")[1]) for name, _ in tensors if name.startswith("blk."))
    writer.add_block_count(n_layers)  # the source file was cut to one layer
    for name, ne in tensors:
        if len(ne) >= 2:
            # Two rows of the real length: llama.cpp sees one row as a vector.
            data = np.zeros((2, ne[0]), dtype=np.float16)
        else:
            data = np.ones(ne[0], dtype=np.float32)
        writer.add_tensor(name, data)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def quantize(thin_path, out_path, ftype):
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.nthread = 2
    rc = llama_cpp.llama_model_quantize(thin_path.encode(), out_path.encode(), params)
    if rc != 0:
        raise RuntimeError(f"llama_model_quantize failed ({rc}) for file type {ftype}")
    return [(t.name, t.tensor_type.name) for t in gguf.GGUFReader(out_path).tensors]


def ggml_type_name(name):
    # gguf-py spells types "Q4_K"; kiln and llama.cpp print "q4_K".
    return name.lower().replace("_k", "_K")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kiln", required=True, help="path of the kiln executable")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "../tests/fixtures/gguf/quant_mix"))
    ap.add_argument("--presets", nargs="*", default=PRESETS)
    ap.add_argument("--tmp", default=tempfile.gettempdir())
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    # Keep the callback referenced: llama.cpp calls it long after this line.
    global _quiet_log
    _quiet_log = llama_cpp.llama_log_callback(lambda level, text, data: None)
    llama_cpp.llama_log_set(_quiet_log, ctypes.c_void_p(0))

    for preset in args.presets:
        with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
            source = os.path.join(tmp, "source.gguf")
            # One layer is enough for the metadata; the thin model gets every layer.
            subprocess.run([args.kiln, "synth", preset, "-t", "q4_K_M", "--layers", "1", "-o", source], check=True,
                           stdout=subprocess.DEVNULL)
            thin = os.path.join(tmp, "thin.gguf")
            write_thin_model(source, kiln_plan(args.kiln, preset), thin)
            os.remove(source)
            lines = [
                f"# llama-quantize (llama-cpp-python {llama_cpp.__version__}) on a thin F16 model of kiln",
                f"# preset {preset}: same tensor names and row lengths. tools/quant_mix_reference.py",
            ]
            for ftype, name in FILE_TYPES.items():
                out = os.path.join(tmp, f"{name}.gguf")
                types = quantize(thin, out, ftype)
                os.remove(out)
                lines.append(f"model {preset} {ftype}")
                lines += [f"{tensor} {ggml_type_name(t)}" for tensor, t in types]
            with open(os.path.join(args.out, f"{preset}.txt"), "w") as f:
                f.write("\n".join(lines) + "\n")
            print(f"{preset}: {len(FILE_TYPES)} file types", file=sys.stderr)


if __name__ == "__main__":
    main()
