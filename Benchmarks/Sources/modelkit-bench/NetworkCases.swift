import Foundation
import ModelKit

/// The data `peers.py prepare` wrote: networks (PyTorch `[out, in]` weights), cases (input and expected output)
/// and the sgemm operands, all as `.npy` files next to `manifest.json`.
struct BenchData {
    struct Network {
        let key: String
        let title: String
        let widths: [Int]
        let softmax: Bool
    }

    struct Case {
        let name: String
        let network: Network
        let batch: Int
    }

    /// A training-step case (`peers.py prepare --train`): a batch (`<data>.x.npy`, `<data>.y.npy`) and the float64
    /// losses before the first two steps (`<name>.losses.npy`).
    struct TrainCase {
        let name: String
        let network: Network
        let batch: Int
        let data: String
        let optimizer: String
        let learningRate: Double
        let loss: String
        /// Adam steps taken before the checkpoint is written (checkpoint case only).
        let steps: Int
    }

    let directory: String
    let tolerance: Double
    let cases: [Case]
    let sgemmName: String
    let trainCases: [TrainCase]
    let checkpointCase: TrainCase?

    init(directory: String) throws {
        self.directory = directory
        let data = try Data(contentsOf: URL(fileURLWithPath: directory + "/manifest.json"))
        guard let manifest = try JSONSerialization.jsonObject(with: data) as? [String: Any],
              let networks = manifest["networks"] as? [String: [String: Any]],
              let cases = manifest["cases"] as? [[String: Any]],
              let sgemm = manifest["sgemm"] as? [String: Any], let sgemmName = sgemm["name"] as? String,
              let tolerance = manifest["tolerance"] as? Double else {
            throw BenchError("\(directory)/manifest.json is not the manifest peers.py prepare writes")
        }
        var parsed: [Case] = []
        for entry in cases {
            guard let name = entry["name"] as? String, let key = entry["network"] as? String,
                  let batch = entry["batch"] as? Int, let network = networks[key],
                  let title = network["title"] as? String, let widths = network["widths"] as? [Int],
                  let softmax = network["softmax"] as? Bool else {
                throw BenchError("manifest.json: malformed case \(entry)")
            }
            parsed.append(Case(name: name, network: Network(key: key, title: title, widths: widths, softmax: softmax), batch: batch))
        }
        self.cases = parsed
        self.sgemmName = sgemmName
        self.tolerance = tolerance
        func trainCase(_ entry: [String: Any]) throws -> TrainCase {
            guard let name = entry["name"] as? String, let key = entry["network"] as? String, let network = networks[key],
                  let title = network["title"] as? String, let widths = network["widths"] as? [Int],
                  let softmax = network["softmax"] as? Bool, let data = entry["data"] as? String,
                  let optimizer = entry["optimizer"] as? String, let rate = entry["lr"] as? Double,
                  let loss = entry["loss"] as? String else {
                throw BenchError("manifest.json: malformed training case \(entry)")
            }
            return TrainCase(name: name, network: Network(key: key, title: title, widths: widths, softmax: softmax),
                             batch: entry["batch"] as? Int ?? 0, data: data, optimizer: optimizer, learningRate: rate,
                             loss: loss, steps: entry["steps"] as? Int ?? 0)
        }
        trainCases = try (manifest["train"] as? [[String: Any]] ?? []).map(trainCase)
        checkpointCase = try (manifest["checkpoint"] as? [String: Any]).map(trainCase)
    }

    func path(_ name: String) -> String { directory + "/" + name }

    /// A `.npy` file's tensor (through ModelKit's own NumPy reader).
    func array(_ name: String) throws -> Tensor { try NumPyFile.readArray(path: path(name)) }

    /// The network as a ModelKit model, built in code from the shared weights: Linear (stored `[out, in]`, as
    /// PyTorch stores it) → ReLU → … → Linear (→ Softmax), the function every peer runs.
    func model(of network: Network) throws -> Model {
        var model = Model(info: ModelInfo(name: network.title, producer: "modelkit-bench", sourceFormat: "pytorch",
                                          inputShape: [nil, network.widths[0]]))
        for index in 0..<(network.widths.count - 1) {
            let name = "fc\(index + 1)"
            let weight = try array("\(network.key).\(index).weight.npy")
            let bias = try array("\(network.key).\(index).bias.npy")
            let square = network.widths[index] == network.widths[index + 1]
            model.addTensor(ModelTensor(name: "\(name).weight", tensor: weight, layout: .outIn,
                                        layoutSource: square ? .convention : .shape))
            model.addTensor(ModelTensor(name: "\(name).bias", tensor: bias))
            model.layers.append(Layer(name: name, kind: .dense, parameters: ["weight": "\(name).weight", "bias": "\(name).bias"]))
            if index < network.widths.count - 2 {
                model.layers.append(Layer(name: "relu\(index + 1)", kind: .relu))
            } else if network.softmax {
                model.layers.append(Layer(name: "softmax", kind: .softmax))
            }
        }
        return model
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Checks one case's output against the reference, then times `InferenceSession.predict` on it (in-process, the
/// session and buffers made before the clock starts). Returns whether the output agreed.
func runNetworkCase(_ benchCase: BenchData.Case, data: BenchData, budget: Double) throws -> Bool {
    let session = try InferenceSession(model: try data.model(of: benchCase.network))
    let input = try data.array("\(benchCase.name).input.npy").floatValues()
    let expected = try data.array("\(benchCase.name).expected.npy").doubleValues()
    var output = [Float](repeating: .nan, count: benchCase.batch * session.outputFeatures)
    return try input.withUnsafeBufferPointer { inputBuffer in
        try output.withUnsafeMutableBufferPointer { outputBuffer in
            try session.predict(input: inputBuffer, batchSize: benchCase.batch, output: outputBuffer)
            let error = maximumError(UnsafeBufferPointer(outputBuffer), expected)
            let ok = error <= data.tolerance
            Output.check(case: benchCase.name, ok: ok, maximumError: error, shape: [benchCase.batch, session.outputFeatures])
            guard ok else { return false }
            let times = try measure(budget: budget) {
                try session.predict(input: inputBuffer, batchSize: benchCase.batch, output: outputBuffer)
            }
            Output.timing(case: benchCase.name, times)
            return true
        }
    }
}

/// The 2048³ float32 matrix product through `MatrixProduct.multiply` (the engine's BLAS and threads).
func runMatrixProduct(data: BenchData, budget: Double) throws -> Bool {
    let name = data.sgemmName
    let aTensor = try data.array("\(name).a.npy"), bTensor = try data.array("\(name).b.npy")
    let dimensions = aTensor.shape.dimensions, columns = bTensor.shape.dimensions[1]
    let a = aTensor.floatValues(), b = bTensor.floatValues()
    let expected = try data.array("\(name).expected.npy").doubleValues()
    var c = [Float](repeating: .nan, count: dimensions[0] * columns)
    return try a.withUnsafeBufferPointer { aBuffer in
        try b.withUnsafeBufferPointer { bBuffer in
            try c.withUnsafeMutableBufferPointer { cBuffer in
                let output = cBuffer
                func multiply() throws {
                    try MatrixProduct.multiply(aBuffer, bBuffer, into: output, rows: dimensions[0], inner: dimensions[1], columns: columns)
                }
                try multiply()
                let error = maximumError(UnsafeBufferPointer(cBuffer), expected)
                let ok = error <= data.tolerance
                Output.check(case: name, ok: ok, maximumError: error, shape: [dimensions[0], columns])
                guard ok else { return false }
                Output.timing(case: name, try measure(budget: budget * 3, multiply))
                return true
            }
        }
    }
}

extension Tensor {
    /// The values widened to Double (the float64 references keep their precision).
    func doubleValues() -> [Double] {
        guard dtype == .float64 else { return floatValues().map(Double.init) }
        let raw = bytes
        return (0..<elementCount).map { Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self))) }
    }
}
