import Foundation
import ModelKit

/// Issue 7's checkpoint rows: the wide network after a few Adam steps on the shared batch (so weights and moments look
/// trained), written through `CheckpointDirectory.save(Checkpoint(trainer:))` at each compression level, as
/// `modelkit finetune --checkpoint-dir` does (the snapshot of the trainer is part of the write), and read back with
/// `Checkpoint.read(from:)` (every checksum verified, tensors decompressed). Rates are raw float32 bytes (parameters
/// and optimizer buffers) per second. The files go to a temporary directory inside the data directory, deleted at
/// the end; `best` is skipped when a sample predicts more than `bestLimit` seconds for one write.
func runCheckpointCase(data: BenchData, repetitions: Int, bestLimit: Double) throws -> Bool {
    guard let checkpointCase = data.checkpointCase else {
        throw BenchError("manifest.json has no checkpoint case: run peers.py prepare --train")
    }
    let name = checkpointCase.name
    let batch = try TrainingBatch(checkpointCase, data: data)
    let trainer = try makeTrainer(checkpointCase, data: data)
    for _ in 0..<checkpointCase.steps { _ = try trainer.trainStep(batchX: batch.inputs, batchY: batch.targets) }
    let snapshot = Checkpoint(trainer: trainer)
    let tensors = snapshot.model.tensors.map(\.tensor) + snapshot.optimizerState.tensors.map(\.tensor)
    let raw = tensors.reduce(0) { $0 + $1.byteCount }

    var template = Array((data.directory + "/checkpoint-XXXXXX").utf8CString)
    guard let made = mkdtemp(&template) else { throw BenchError("cannot create a temporary directory in \(data.directory)") }
    let scratch = String(cString: made)
    defer { try? FileManager.default.removeItem(atPath: scratch) }

    var allAgree = true
    for compression in CheckpointCompression.allCases {
        let level = compression.rawValue
        if compression == .best, let estimate = try bestWriteEstimate(tensors, raw: raw), estimate > bestLimit {
            let reason = String(format: "a sample predicts %.0f s for one write at zlib level 9 (limit %.0f s)", estimate, bestLimit)
            Output.emit(["kind": "skipped", "engine": "modelkit", "case": "\(name)-write-\(level)", "reason": reason])
            FileHandle.standardError.write(Data("modelkit-bench: skipping \(name) at best: \(reason)\n".utf8))
            continue
        }
        let directory = try CheckpointDirectory(scratch + "/" + level, keep: 1, compression: compression)
        var path = ""
        let count = compression == .best ? 1 : repetitions
        let writes = try measureRepeated(count) { path = try directory.save(Checkpoint(trainer: trainer)) }
        let size = try MappedFile.size(of: path)
        Output.timing(case: "\(name)-write-\(level)", writes, extra: ["raw_bytes": raw, "file_bytes": size])
        let reads = try measureRepeated(count) { _ = try Checkpoint.read(from: path) }
        Output.timing(case: "\(name)-read-\(level)", reads, extra: ["raw_bytes": raw, "file_bytes": size])

        // What was read must be what was written, bit for bit, or the rows above timed the wrong thing.
        let back = try Checkpoint.read(from: path)
        var same = back.model.tensors.count == snapshot.model.tensors.count
            && back.optimizerState.tensors.map(\.name) == snapshot.optimizerState.tensors.map(\.name)
            && back.optimizerState.steps == snapshot.optimizerState.steps
        for tensor in snapshot.model.tensors where same {
            same = back.model.tensor(named: tensor.name).map { identical($0.tensor, tensor.tensor) } ?? false
        }
        for (after, before) in zip(back.optimizerState.tensors, snapshot.optimizerState.tensors) where same {
            same = identical(after.tensor, before.tensor)
        }
        Output.check(case: "\(name)-round-trip-\(level)", ok: same, maximumError: same ? 0 : .infinity, shape: [tensors.count])
        allAgree = allAgree && same
        try? FileManager.default.removeItem(atPath: scratch + "/" + level)
    }
    return allAgree
}

/// Seconds one `best` write would take: two chunks of the largest tensor compressed as the writer does (in
/// parallel, level 9), scaled to all the bytes. `nil` when there is nothing to sample.
private func bestWriteEstimate(_ tensors: [Tensor], raw: Int) throws -> Double? {
    guard let largest = tensors.max(by: { $0.byteCount < $1.byteCount }), largest.byteCount > 0 else { return nil }
    let sampleBytes = min(largest.byteCount, 2 * ShuffleZlibEncoding.chunkSize) / 4 * 4
    let sample = try Tensor(dtype: .float32, shape: [sampleBytes / 4], storage: largest.storage, byteOffset: largest.byteOffset)
    let start = now()
    _ = try ShuffleZlibEncoding.encode(sample, level: .best)
    return Double(now() - start) / 1e9 * Double(raw) / Double(sampleBytes)
}

private func identical(_ a: Tensor, _ b: Tensor) -> Bool {
    guard a.dtype == b.dtype, a.shape == b.shape, a.byteCount == b.byteCount else { return false }
    guard let first = a.bytes.baseAddress, let second = b.bytes.baseAddress else { return a.byteCount == 0 }
    return memcmp(first, second, a.byteCount) == 0
}
