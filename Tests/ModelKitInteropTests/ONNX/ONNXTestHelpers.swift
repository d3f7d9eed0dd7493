import Foundation
import ModelKitCore
import ModelKitFormat
@testable import ModelKitInterop
import ModelKitTestSupport
import XCTest

/// Fixture paths and a float64 reference forward pass for the ONNX tests.
enum ONNXTestSupport {
    /// `Fixtures/models/onnx/<name>`.
    static func model(_ name: String) throws -> String { try FixturePaths.require("models/onnx/" + name) }

    /// A float32 `.npy` fixture as values and shape.
    static func array(_ relative: String) throws -> (values: [Float], shape: [Int]) {
        let tensor = try NumPyFile.readArray(path: try FixturePaths.require(relative))
        return (tensor.floatValues(), tensor.shape.dimensions)
    }

    /// The model's output on `input` (`batch` rows), computed in float64 with plain loops, independently of the
    /// engine: `y = x·W + b` or `x·Wᵀ + b` per the layout tag, then the activations as Specs/layers.md defines them.
    static func forward(_ model: Model, input: [Float], batch: Int) throws -> [Float] {
        var rows = try (0..<batch).map { row -> [Double] in
            let width = input.count / batch
            guard width * batch == input.count else { throw XCTSkip("input does not split into \(batch) rows") }
            return input[(row * width)..<((row + 1) * width)].map(Double.init)
        }
        for layer in model.layers {
            switch layer.kind {
            case .dense:
                let weight = try XCTUnwrap(model.parameter("weight", of: layer), "\(layer.name) weight")
                let layout = try XCTUnwrap(weight.layout, "\(layer.name) layout")
                let dims = weight.tensor.shape.dimensions
                let (inputs, outputs) = layout.features(rows: dims[0], columns: dims[1])
                let w = (0..<weight.tensor.elementCount).map { weight.tensor.element(at: $0) }
                let bias = model.parameter("bias", of: layer).map { entry in
                    (0..<entry.tensor.elementCount).map { entry.tensor.element(at: $0) }
                }
                rows = try rows.map { x in
                    guard x.count == inputs else { throw XCTSkip("\(layer.name) takes \(inputs), gets \(x.count)") }
                    return (0..<outputs).map { o in
                        var sum = bias?[o] ?? 0
                        for i in 0..<inputs { sum += x[i] * (layout == .inOut ? w[i * outputs + o] : w[o * inputs + i]) }
                        return sum
                    }
                }
            case .relu: rows = rows.map { $0.map { max($0, 0) } }
            case .leakyRelu:
                let alpha = Double(layer.attributes["alpha"]?.doubleValue ?? 0.01)
                rows = rows.map { $0.map { $0 >= 0 ? $0 : alpha * $0 } }
            case .sigmoid: rows = rows.map { $0.map { 1 / (1 + exp(-$0)) } }
            case .tanh: rows = rows.map { $0.map { tanh($0) } }
            case .silu: rows = rows.map { $0.map { $0 / (1 + exp(-$0)) } }
            case .gelu:
                let approximate = layer.usesTanhApproximation
                rows = rows.map { $0.map { x in
                    approximate ? 0.5 * x * (1 + tanh((2 / Double.pi).squareRoot() * (x + 0.044715 * x * x * x)))
                        : 0.5 * x * (1 + erf(x / 2.0.squareRoot()))
                } }
            case .softmax, .logSoftmax:
                rows = rows.map { row in
                    let top = row.max() ?? 0
                    let total = row.reduce(0) { $0 + exp($1 - top) }
                    return row.map { layer.kind == .softmax ? exp($0 - top) / total : $0 - top - log(total) }
                }
            case .identity, .dropout: break
            }
        }
        return rows.flatMap { $0.map(Float.init) }
    }

    /// Checks that `path` imports, and that the imported model reproduces onnxruntime's `expected` output on `input`.
    @discardableResult
    static func assertReproduces(_ path: String, input inputPath: String, expected expectedPath: String,
                                 outputName: String? = nil, rtol: Float = 1e-5, atol: Float = 1e-6,
                                 file: StaticString = #filePath, line: UInt = #line) throws -> LoadedModel {
        let loaded = try ONNXFormat.read(path: path, outputName: outputName)
        let input = try array(inputPath)
        let expected = try array(expectedPath)
        let analysis = loaded.model.analyze()
        XCTAssertTrue(analysis.isValid, "\(path): \(analysis.errors)", file: file, line: line)
        let actual = try forward(loaded.model, input: input.values, batch: input.shape[0])
        assertClose(actual, expected.values, rtol: rtol, atol: atol, "\(path)", file: file, line: line)
        return loaded
    }

    /// Layer kinds in order, for compact assertions.
    static func kinds(_ model: Model) -> [LayerKind] { model.layers.map(\.kind) }

    /// Runs `script` with the Python of `MODELKIT_PYTHON` (skips when it is unset or lacks `modules`); returns stdout.
    static func runPython(_ script: String, arguments: [String], modules: [String]) throws -> String {
        guard let python = ProcessInfo.processInfo.environment["MODELKIT_PYTHON"], !python.isEmpty else {
            throw XCTSkip("MODELKIT_PYTHON is not set (scripts/python-env.sh sets it); the live check needs "
                          + modules.joined(separator: " and "))
        }
        let probe = try run(python, ["-c", modules.map { "import \($0)" }.joined(separator: "; ")])
        guard probe.status == 0 else {
            throw XCTSkip("\(python) lacks \(modules.joined(separator: "/")): \(probe.error.prefix(200))")
        }
        let result = try run(python, ["-c", script] + arguments)
        guard result.status == 0 else {
            XCTFail("python failed (\(result.status)): \(result.error)")
            return ""
        }
        return result.output
    }

    private static func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String, error: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let output = Pipe(), error = Pipe()
        process.standardOutput = output
        process.standardError = error
        try process.run()
        let outData = output.fileHandleForReading.readDataToEndOfFile()
        let errData = error.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
    }
}
