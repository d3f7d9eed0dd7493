"""Turns the JSON lines of modelkit-bench and peers.py (one `make bench` run) into the Markdown table.

Usage: python report.py RESULTS.jsonl --host HOST --date DATE [--quick] > table.md

Each engine's time for a case is the lowest of its medians over the run's rounds (a median per round; interference
from other processes only ever adds time, so the best round is the least disturbed one). Ratios are modelkit's time
divided by the peer's: below 1 means modelkit is faster.
"""

from __future__ import annotations

import argparse
import json
import sys

CASES = [
    # case, label, work (multiply-adds) or None, target against (peer, max ratio) or None
    ("example-1", "example 400-200-100-2, batch 1", 1 * 100_200, ("onnxruntime", 0.5)),
    ("example-50", "example 400-200-100-2, batch 50", 50 * 100_200, ("onnxruntime", 0.75)),
    ("example-1024", "example 400-200-100-2, batch 1024", 1024 * 100_200, ("onnxruntime", 1.0)),
    ("wide-1", "wide 1024-4096-4096-1024, batch 1", 1 * 25_165_824, None),
    ("wide-256", "wide 1024-4096-4096-1024, batch 256", 256 * 25_165_824, ("onnxruntime", 1.0)),
    ("sgemm-2048", "sgemm 2048³ float32", 2048 ** 3, ("numpy", 1 / 0.9)),
]
PEERS = ["torch", "onnxruntime", "numpy"]
PEER_NAMES = {"torch": "PyTorch", "onnxruntime": "onnxruntime", "numpy": "NumPy"}
FILE_ROWS = [
    ("safetensors → .mkit (modelkit: ModelIO.load + save)", "modelkit", "safetensors-to-mkit"),
    (".mkit → safetensors (modelkit: ModelIO.load + save)", "modelkit", "mkit-to-safetensors"),
    ("safetensors `load_file` + `save_file` (Python, torch tensors)", "safetensors", "load_save"),
    ("safetensors `save_file` (torch tensors)", "safetensors", "save_file"),
    ("safetensors `load_file` (torch tensors; maps the file, bytes are read on first use)", "safetensors", "load_file"),
    ("plain file copy (`cp`)", "cp", "copy"),
]
# Training steps (issue 6): case, label, target (max ratio, against which torch variant; "fastest" = any of them).
TRAIN_CASES = [
    ("train-example-50-sgd", "example 400-200-100-2, batch 50, cross-entropy, SGD lr 0.1", (0.25, "fastest")),
    ("train-example-50-adam", "example 400-200-100-2, batch 50, cross-entropy, Adam", (0.25, "fastest")),
    ("train-wide-256-adam", "wide 1024-4096-4096-1024, batch 256, MSE, Adam", (1.0, "torch-fused")),
]
TORCH_VARIANTS = [("torch-default", "PyTorch default"), ("torch-foreach-false", "PyTorch foreach=False"),
                  ("torch-fused", "PyTorch fused=True")]
# Checkpoint rows (issue 7): label, engine, case suffix, targets (min MB/s, max size ratio).
CHECKPOINT = "checkpoint-wide"
CHECKPOINT_ROWS = [
    ("modelkit write, `none` (raw tensors)", "modelkit", "write-none", (None, None)),
    ("modelkit write, `fast` (shuffle + Huffman-only zlib)", "modelkit", "write-fast", (80, 0.87)),
    ("modelkit write, `best` (shuffle-zlib level 9)", "modelkit", "write-best", (None, 0.87)),
    ("modelkit read, `none`", "modelkit", "read-none", (250, None)),
    ("modelkit read, `fast`", "modelkit", "read-fast", (250, None)),
    ("modelkit read, `best`", "modelkit", "read-best", (250, None)),
    ("`torch.save` (state dict + optimizer state)", "torch", "write", (None, None)),
    ("`torch.load`", "torch", "read", (None, None)),
    ("`gzip -6` of the `torch.save` file", "gzip", "write", (None, None)),
    ("`torch.save` + `gzip -6` (sum of the two medians)", "torch+gzip", "write", (None, None)),
    ("`gzip -d` of it", "gzip", "read", (None, None)),
]
HEADER_ROWS = [
    ("safetensors header (modelkit: SafetensorsFormat.readTensors, mapped)", "modelkit", "safetensors-header"),
    (".mkit header (modelkit: MKitReader.read, checksums skipped; still scans every tensor for NaN/inf)", "modelkit", "mkit-header"),
    (".mkit as `modelkit inspect` loads it (ModelIO.load, checksums verified)", "modelkit", "mkit-inspect-load"),
    ("safetensors header (Python: safe_open + keys + metadata)", "safetensors", "header"),
]


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("results")
    parser.add_argument("--host", required=True)
    parser.add_argument("--date", required=True)
    parser.add_argument("--cpu", default="")
    parser.add_argument("--load", default="")
    parser.add_argument("--coretype", default="")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()

    best: dict[tuple[str, str], dict] = {}
    checks: dict[tuple[str, str], dict] = {}
    environment: dict[str, dict] = {}
    file_info: dict = {}
    skipped: dict[tuple[str, str], dict] = {}
    with open(args.results) as file:
        for line in file:
            line = line.strip()
            if not line.startswith("{"):
                continue
            record = json.loads(line)
            kind = record.get("kind")
            key = (record.get("engine"), record.get("case"))
            if kind == "timing":
                if key not in best or record["median_s"] < best[key]["median_s"]:
                    best[key] = record
            elif kind == "check":
                if key not in checks or not record["ok"]:
                    checks[key] = record
            elif kind == "environment":
                environment[record["engine"]] = record
            elif kind == "file":
                file_info = record
            elif kind == "skipped":
                skipped[key] = record

    out = []
    title = "quick smoke run, few samples" if args.quick else "full run"
    out.append(f"# ModelKit benchmark — {args.date} on {args.host} ({title})")
    out.append("")
    modelkit = environment.get("modelkit", {})
    peers = environment.get("peers", {})
    out.append(f"- CPU: {args.cpu or 'unknown'}; load average at start: {args.load or 'unknown'}")
    out.append(f"- OPENBLAS_CORETYPE in the environment: {args.coretype or '(unset: each library chooses)'}")
    out.append(f"- modelkit {modelkit.get('version', '?')}: {modelkit.get('blas', '?')}")
    if peers:
        out.append(f"- PyTorch {peers.get('torch')} eager ({peers.get('torch_threads')} threads, inference_mode); "
                   f"onnxruntime {peers.get('onnxruntime')} ({peers.get('onnxruntime_threads')} intra-op threads); "
                   f"NumPy {peers.get('numpy')} ({peers.get('numpy_blas')}); Python {peers.get('python')}")
    trainer_peer = environment.get("torch-train")
    if trainer_peer and not peers:
        out.append(f"- PyTorch {trainer_peer.get('torch')} ({trainer_peer.get('torch_threads')} threads); "
                   f"Python {trainer_peer.get('python')}")
    out.append("- Every engine's output was checked against a float64 reference (|y − ref| ≤ 1e-4·max(1, |ref|)) "
               "before timing; times are medians of single in-process calls (best median over the rounds).")
    out.append("")
    failures = 0
    inference = {case for case, _, _, _ in CASES}
    if any(case in inference for _, case in best):
        header = ["case", "modelkit"] + [PEER_NAMES[p] for p in PEERS] + [f"÷ {PEER_NAMES[p]}" for p in PEERS] + ["target", "met"]
        out.append("| " + " | ".join(header) + " |")
        out.append("|" + "---|" * len(header))
        for case, label, work, target in CASES:
            ours = best.get(("modelkit", case))
            row = [label, duration(ours["median_s"]) if ours else "—"]
            ratios = []
            for peer in PEERS:
                theirs = best.get((peer, case))
                row.append(duration(theirs["median_s"]) if theirs else "—")
                ratios.append(ours["median_s"] / theirs["median_s"] if ours and theirs else None)
            row += [f"{ratio:.2f}×" if ratio is not None else "—" for ratio in ratios]
            if case.startswith("sgemm") and ours:
                row[0] += f" ({2 * work / ours['median_s'] / 1e9:.0f} GFLOPS)"
            if target:
                peer, limit = target
                ratio = ratios[PEERS.index(peer)]
                if case.startswith("sgemm"):
                    row.append(f"≥ 0.9× {PEER_NAMES[peer]} speed (time ≤ {limit:.2f}×)")
                else:
                    row.append(f"≤ {limit:.2f}× {PEER_NAMES[peer]}")
                row.append("—" if ratio is None else ("yes" if ratio <= limit else "**no**"))
            else:
                row += ["", ""]
            out.append("| " + " | ".join(row) + " |")

    bad = [record for record in checks.values() if not record["ok"]]
    if bad:
        failures += len(bad)
        out.append("")
        for record in bad:
            out.append(f"- **output check failed**: {record['engine']} on {record['case']}: max error {record['max_error']:.3g}; "
                       "not timed")

    if any(key[1] in {row[2] for row in FILE_ROWS} for key in best):
        size = file_info.get("bytes") or next((r.get("bytes") for r in best.values() if r.get("bytes")), 0)
        out.append("")
        out.append(f"## Files: a {size / 2**30:.2f} GiB safetensors file ({file_info.get('layers', '?')} dense layers "
                   f"of {file_info.get('width', '?')}², float32), page cache warm")
        out.append("")
        out.append("| operation | median | GB/s |")
        out.append("|---|---|---|")
        for label, engine, case in FILE_ROWS:
            record = best.get((engine, case))
            rate = f"{record['bytes'] / record['median_s'] / 1e9:.2f}" if record else "—"
            out.append(f"| {label} | {duration(record['median_s']) if record else '—'} | {rate} |")
        out.append("")
        out.append("| header only (what `inspect` needs) | median | target |")
        out.append("|---|---|---|")
        for label, engine, case in HEADER_ROWS:
            record = best.get((engine, case))
            met = ("yes" if record["median_s"] < 0.01 else "**no**") if record and engine == "modelkit" else ""
            out.append(f"| {label} | {duration(record['median_s']) if record else '—'} | "
                       f"{'< 10 ms: ' + met if engine == 'modelkit' else ''} |")
        out.append("")
        out.append("ModelKit's writes are atomic and durable (temporary file, `fsync`, rename); `save_file` and `cp` "
                   "do not `fsync`. A conversion reads the whole input (the safetensors reader also scans for NaN/inf, "
                   "the .mkit reader verifies every CRC-32) and writes the whole output.")
    out += training_section(best, skipped)
    out += checkpoint_section(best, skipped)
    print("\n".join(out))
    return 1 if failures else 0


def training_section(best: dict, skipped: dict) -> list[str]:
    if not any(case in {row[0] for row in TRAIN_CASES} for _, case in best):
        return []
    out = ["", "## Training step (forward + loss + backward + update), PyTorch with 2 threads", ""]
    names = [name for _, name in TORCH_VARIANTS]
    header = ["step", "modelkit"] + names + [f"÷ {name}" for name in names] + ["target", "met"]
    out.append("| " + " | ".join(header) + " |")
    out.append("|" + "---|" * len(header))
    for case, label, (limit, against) in TRAIN_CASES:
        ours = best.get(("modelkit", case))
        theirs = [best.get((engine, case)) for engine, _ in TORCH_VARIANTS]
        if not ours and not any(theirs):
            continue
        ratios = [ours["median_s"] / record["median_s"] if ours and record else None for record in theirs]
        row = [label, duration(ours["median_s"]) if ours else "—"]
        row += [duration(record["median_s"]) if record else "—" for record in theirs]
        row += [f"{ratio:.2f}×" if ratio is not None else "—" for ratio in ratios]
        if against == "fastest":
            known = [ratio for ratio in ratios if ratio is not None]
            ratio = max(known) if known else None
            row.append(f"≤ {limit:.2f}× the fastest PyTorch variant")
        else:
            ratio = ratios[[engine for engine, _ in TORCH_VARIANTS].index(against)]
            row.append(f"≤ {limit:.2f}× {dict(TORCH_VARIANTS)[against]}")
        row.append("—" if ratio is None else ("yes" if ratio <= limit else "**no**"))
        out.append("| " + " | ".join(row) + " |")
    out.append("")
    out.append("One step from the shared weights on one batch: `Trainer.trainStep(batchX:batchY:)` in-process (the "
               "final softmax of the example network fused into the cross-entropy loss) against `optimizer.zero_grad(); "
               "loss_fn(module(x), y).backward(); optimizer.step()`. Before timing, every engine ran two steps on a fresh "
               "model and its losses before step 1 and step 2 matched a float64 NumPy reference within 1e-4.")
    for (engine, case), record in sorted(skipped.items()):
        if case in {row[0] for row in TRAIN_CASES}:
            out.append(f"- {engine} on {case} not available: {record.get('reason', '?')}")
    return out


def checkpoint_section(best: dict, skipped: dict) -> list[str]:
    records = {(engine, case): record for (engine, case), record in best.items() if (case or "").startswith(CHECKPOINT)}
    if not records:
        return []
    torch_write, gzip_write = records.get(("torch", f"{CHECKPOINT}-write")), records.get(("gzip", f"{CHECKPOINT}-write"))
    if torch_write and gzip_write:
        records[("torch+gzip", f"{CHECKPOINT}-write")] = {**gzip_write, "median_s": torch_write["median_s"] + gzip_write["median_s"]}
    raw = next((record["raw_bytes"] for record in records.values() if record.get("raw_bytes")), 0)
    out = ["", f"## Checkpoints: the wide network with Adam state after 3 steps ({raw / 1e6:.1f} MB of raw float32: "
           "parameters, exp_avg, exp_avg_sq), page cache warm", ""]
    out.append("| operation | median | MB/s (raw bytes) | file | size ÷ raw | target | met |")
    out.append("|---|---|---|---|---|---|---|")
    for label, engine, suffix, (rate_limit, size_limit) in CHECKPOINT_ROWS:
        case = f"{CHECKPOINT}-{suffix}"
        record = records.get((engine, case))
        if not record:
            reason = skipped.get((engine, case), {}).get("reason")
            if reason:
                out.append(f"| {label} | skipped: {reason} | — | — | — | | |")
            continue
        rate = record["raw_bytes"] / record["median_s"] / 1e6
        ratio = record["file_bytes"] / record["raw_bytes"]
        targets, met = [], []
        if rate_limit is not None:
            targets.append(f"≥ {rate_limit} MB/s")
            met.append(rate >= rate_limit)
        if size_limit is not None:
            targets.append(f"size ≤ {size_limit:.2f}×")
            met.append(ratio <= size_limit)
        out.append(f"| {label} | {duration(record['median_s'])} | {rate:.0f} | {record['file_bytes'] / 1e6:.1f} MB | "
                   f"{ratio:.3f} | {', '.join(targets)} | {('yes' if all(met) else '**no**') if met else ''} |")
    out.append("")
    out.append("modelkit's write is `CheckpointDirectory.save(Checkpoint(trainer:))` (the snapshot of the trainer "
               "included; atomic and durable: temporary file, `fsync`, rename, `fsync` of the directory); its read is "
               "`Checkpoint.read(from:)` (every checksum verified, tensors decompressed). `torch.save` and `gzip` do "
               "not `fsync`. MB/s are raw float32 bytes per second for every row, so rows compare directly.")
    return out


if __name__ == "__main__":
    sys.exit(main())
