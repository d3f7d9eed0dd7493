import Foundation
import ModelKit

/// Issue 4's file rows: converting the 1 GiB safetensors file `peers.py files` wrote to `.mkit` and back through
/// the library (`ModelIO.load` + `ModelIO.save`, as `modelkit convert` does), and reading only the headers (what
/// `inspect` needs). The converted files go next to the input and are deleted at the end.
func runFileCases(directory: String, repetitions: Int, budget: Double) throws -> Bool {
    let source = directory + "/model.safetensors"
    let converted = directory + "/modelkit.mkit"
    let roundTrip = directory + "/modelkit-back.safetensors"
    defer {
        for path in [converted, roundTrip] { try? FileManager.default.removeItem(atPath: path) }
    }
    let original = try SafetensorsFormat.readTensors(path: source)
    let bytes = try MappedFile.size(of: source)
    let architecture = try Architecture(parsing: try architectureText(of: original.tensors))

    let toMKit = try measureRepeated(repetitions) {
        let loaded = try ModelIO.load(source, options: ModelIO.LoadOptions(architecture: architecture))
        try ModelIO.save(loaded.model, to: converted)
    }
    Output.timing(case: "safetensors-to-mkit", toMKit, extra: ["bytes": bytes])
    let back = try measureRepeated(repetitions) {
        let loaded = try ModelIO.load(converted)
        try ModelIO.save(loaded.model, to: roundTrip)
    }
    Output.timing(case: "mkit-to-safetensors", back, extra: ["bytes": bytes])

    // The round trip must give back every tensor bit for bit, or the rows above timed the wrong thing.
    let returned = try SafetensorsFormat.readTensors(path: roundTrip)
    var same = original.tensors.count == returned.tensors.count
    for (before, after) in zip(original.tensors, returned.tensors) where same {
        let (a, b) = (before.tensor.bytes, after.tensor.bytes)
        same = before.name == after.name && before.tensor.shape == after.tensor.shape && a.count == b.count
        if same, let first = a.baseAddress, let second = b.baseAddress { same = memcmp(first, second, a.count) == 0 }
    }
    Output.check(case: "safetensors-round-trip", ok: same, maximumError: same ? 0 : .infinity, shape: [original.tensors.count])

    let safetensorsHeader = try measure(budget: budget) { _ = try SafetensorsFormat.readTensors(path: source) }
    Output.timing(case: "safetensors-header", safetensorsHeader, extra: ["bytes": bytes])
    let mkitHeader = try measure(budget: budget) { _ = try MKitReader.read(path: converted, checksums: .skip) }
    Output.timing(case: "mkit-header", mkitHeader, extra: ["bytes": try MappedFile.size(of: converted)])
    // What `modelkit inspect` runs today on a .mkit file: a full load that verifies (and reports) every checksum.
    let inspectLoad = try measureRepeated(repetitions) {
        _ = try ModelIO.load(converted, options: ModelIO.LoadOptions(checksums: .report))
    }
    Output.timing(case: "mkit-inspect-load", inspectLoad, extra: ["bytes": try MappedFile.size(of: converted)])
    return same
}

/// `linear(a,b) relu linear(b,c) …` for PyTorch-named `[out, in]` weights `0.weight`, `2.weight`, … (ReLU between
/// layers, none after the last), the chain `peers.py files` saved.
private func architectureText(of tensors: [ModelTensor]) throws -> String {
    let weights = tensors.filter { $0.name.hasSuffix(".weight") }
        .sorted { (Int($0.name.split(separator: ".")[0]) ?? 0) < (Int($1.name.split(separator: ".")[0]) ?? 0) }
    guard !weights.isEmpty else { throw BenchError("the safetensors file holds no weights") }
    return weights.map { weight in
        let dimensions = weight.tensor.shape.dimensions
        return "linear(\(dimensions[1]),\(dimensions[0]))"
    }.joined(separator: " relu ")
}
