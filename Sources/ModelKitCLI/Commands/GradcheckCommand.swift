import ArgumentParser
import Foundation
import ModelKit
import ModelKitCore

/// `modelkit gradcheck MODEL`: compares the analytic gradient of every parameter with central finite differences
/// in float64 and prints the worst relative error per layer.
struct GradcheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gradcheck",
        abstract: "Check the backward pass of a model against finite differences (float64), per layer.")

    @Argument(help: "The model (any supported format).")
    var model: String

    @Option(name: .long, help: "A batch to check on (.npz with x and y, or .csv with --target); default: a seeded random batch.")
    var data: String?

    @Option(name: .long, help: "The target column of a CSV --data.")
    var target: String?

    @Option(name: .long, help: "The loss; default: cross-entropy for a final softmax, binary-cross-entropy for a final sigmoid, else mse.")
    var loss: LossArgument?

    @Option(name: .long, help: "Rows of the batch.")
    var rows: Int = 4

    @Option(name: .long, help: "Check at most this many elements per tensor (0 = all).")
    var elements: Int = 64

    @Option(name: .long, help: "Seed of the random batch and of the element choice.")
    var seed: UInt64 = 0

    @Option(name: .long, help: "Fail (exit 1) when a layer's worst relative error exceeds this.")
    var tolerance: Double = 1e-5

    @OptionGroup var source: ModelSourceOptions

    func validate() throws {
        guard rows >= 1 else { throw ValidationError("--rows must be at least 1.") }
        guard elements >= 0 else { throw ValidationError("--elements must not be negative.") }
        guard tolerance > 0 else { throw ValidationError("--tolerance must be positive.") }
    }

    mutating func run() throws {
        model = try resolvedModelPath(model)
        let loaded = try ModelIO.load(model, options: try source.loadOptions())
        let network = loaded.model
        let lossFunction = loss?.loss ?? Self.defaultLoss(for: network)
        let batch: TrainingData
        if let data {
            let contents = try FinetuneData.load(path: data, target: target, loss: lossFunction).data
            let count = min(rows, contents.rows)
            batch = try FinetuneData(data: contents).firstRows(count).data
        } else {
            batch = try Self.randomBatch(for: network, loss: lossFunction, rows: rows, seed: seed)
        }
        let result = try GradientCheck.run(model: network, inputs: batch.inputs, targets: batch.targets, loss: lossFunction,
                                           maximumElementsPerTensor: elements == 0 ? nil : elements, seed: seed)
        var table = [["layer", "tensor", "checked", "worst rel. error", "analytic", "numeric"]]
        for entry in result.parameters {
            table.append([entry.layer, entry.tensor, "\(entry.checkedElements)", String(format: "%.2e", entry.worstRelativeError),
                          String(format: "%.6g", entry.analytic), String(format: "%.6g", entry.numeric)])
        }
        print("\(MessageText.oneLine(model)): \(lossFunction.rawValue) loss, \(batch.rows) rows, float64 central differences")
        print(TextTable.render(table, rightAligned: [2, 3, 4, 5]).joined(separator: "\n"))
        print("")
        for layer in result.worstByLayer {
            let verdict = layer.worstRelativeError <= tolerance ? "ok" : "FAILED"
            print("\(MessageText.oneLine(layer.layer)): worst relative error \(String(format: "%.2e", layer.worstRelativeError)) \(verdict)")
        }
        if result.worstRelativeError > tolerance {
            throw ModelFileError(.invalidRequest, "gradient check failed: worst relative error \(String(format: "%.2e", result.worstRelativeError)) exceeds \(tolerance)", path: model)
        }
    }

    static func defaultLoss(for model: Model) -> LossFunction {
        switch model.layers.last?.kind {
        case .softmax?: .crossEntropy
        case .sigmoid?: .binaryCrossEntropy
        default: .mse
        }
    }

    /// Inputs from a standard normal distribution; class ids or values in [0, 1) for the targets.
    static func randomBatch(for model: Model, loss: LossFunction, rows: Int, seed: UInt64) throws -> TrainingData {
        let analysis = model.analyze()
        guard let features = model.info.inputFeatures, let outputs = analysis.outputShape.last ?? nil else {
            throw ModelFileError(.invalidRequest, "the model does not say its input and output widths; pass --data", path: model.info.name)
        }
        var generator = SeededGenerator(seed: seed)
        let inputs = (0..<(rows * features)).map { _ in generator.normal() }
        switch loss {
        case .crossEntropy:
            return try TrainingData(inputs: inputs, features: features,
                                    targets: .classes((0..<rows).map { _ in Int64(generator.next() % UInt64(max(outputs, 1))) }))
        case .binaryCrossEntropy:
            return try TrainingData(inputs: inputs, features: features,
                                    targets: .values((0..<(rows * outputs)).map { _ in Float(generator.next() % 2) }, columns: outputs))
        case .mse, .sseHalf:
            return try TrainingData(inputs: inputs, features: features,
                                    targets: .values((0..<(rows * outputs)).map { _ in generator.unit() }, columns: outputs))
        }
    }
}

/// SplitMix64: a small, reproducible generator for check batches.
struct SeededGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func unit() -> Float { Float(next() >> 40) / Float(1 << 24) }
    /// Box–Muller.
    mutating func normal() -> Float {
        let u = max(Double(next() >> 11) / Double(1 << 53), 1e-300), v = Double(next() >> 11) / Double(1 << 53)
        return Float((-2 * log(u)).squareRoot() * cos(2 * Double.pi * v))
    }
}

extension FinetuneData {
    /// The first `count` rows.
    func firstRows(_ count: Int) throws -> FinetuneData {
        try slice(0..<min(count, rows))
    }
}
