// modelkit-bench: times ModelKit's forward pass and matrix product in-process (no process start in the timing) and
// prints one JSON object per case, for Benchmarks/run.sh to put next to the Python peers (Benchmarks/peers.py).
//
// Usage: modelkit-bench [--quick] [--case NAME]...   (cases: example-1 example-50 example-1024 wide-1 wide-256 sgemm-2048)
//
// Weights are random with the right shapes: timing does not depend on their values. Layers follow the PyTorch
// module the peers build: Linear (stored [out, in], as PyTorch stores it) → ReLU → … → Linear (→ Softmax for the
// example network), so every engine computes the same function.
import Foundation
import ModelKit

struct BenchCase {
    let name: String
    let network: String
    let widths: [Int]
    let batch: Int
    let finalSoftmax: Bool
}

let allCases: [BenchCase] = [
    BenchCase(name: "example-1", network: "example 400-200-100-2", widths: [400, 200, 100, 2], batch: 1, finalSoftmax: true),
    BenchCase(name: "example-50", network: "example 400-200-100-2", widths: [400, 200, 100, 2], batch: 50, finalSoftmax: true),
    BenchCase(name: "example-1024", network: "example 400-200-100-2", widths: [400, 200, 100, 2], batch: 1024, finalSoftmax: true),
    BenchCase(name: "wide-1", network: "wide 1024-4096-4096-1024", widths: [1024, 4096, 4096, 1024], batch: 1, finalSoftmax: false),
    BenchCase(name: "wide-256", network: "wide 1024-4096-4096-1024", widths: [1024, 4096, 4096, 1024], batch: 256, finalSoftmax: false),
]

/// A deterministic generator, so that runs are comparable.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

func randomValues(_ count: Int, bound: Float, generator: inout SplitMix64) -> [Float] {
    (0..<count).map { _ in Float.random(in: -bound...bound, using: &generator) }
}

/// The network of `benchCase` as a ModelKit model built in code.
func makeModel(_ benchCase: BenchCase) -> Model {
    var generator = SplitMix64(state: 42)
    var model = Model(info: ModelInfo(name: benchCase.network, producer: "modelkit-bench", sourceFormat: "pytorch",
                                      inputShape: [nil, benchCase.widths[0]]))
    for index in 0..<(benchCase.widths.count - 1) {
        let (inputs, outputs) = (benchCase.widths[index], benchCase.widths[index + 1])
        let bound = 1 / Float(inputs).squareRoot()
        let name = "fc\(index + 1)"
        model.addTensor(ModelTensor(name: "\(name).weight",
                                    tensor: Tensor(float32: randomValues(inputs * outputs, bound: bound, generator: &generator),
                                                   shape: [outputs, inputs]),
                                    layout: .outIn, layoutSource: inputs == outputs ? .convention : .shape))
        model.addTensor(ModelTensor(name: "\(name).bias",
                                    tensor: Tensor(float32: randomValues(outputs, bound: bound, generator: &generator), shape: [outputs])))
        model.layers.append(Layer(name: name, kind: .dense, parameters: ["weight": "\(name).weight", "bias": "\(name).bias"]))
        if index < benchCase.widths.count - 2 {
            model.layers.append(Layer(name: "relu\(index + 1)", kind: .relu))
        } else if benchCase.finalSoftmax {
            model.layers.append(Layer(name: "softmax", kind: .softmax))
        }
    }
    return model
}

func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

/// Runs `body` for warm-up, then until `samples` timings or `budget` seconds; returns sorted durations in seconds.
func measure(samples: Int, budget: Double, warmUp: Int, _ body: () throws -> Void) rethrows -> [Double] {
    for _ in 0..<warmUp { try body() }
    var times: [Double] = []
    times.reserveCapacity(samples)
    let deadline = now() + UInt64(budget * 1e9)
    while times.count < samples && (times.count < 5 || now() < deadline) {
        let start = now()
        try body()
        times.append(Double(now() - start) / 1e9)
    }
    return times.sorted()
}

func report(_ name: String, _ network: String, batch: Int, _ times: [Double], extra: [String: String] = [:]) {
    let median = times[times.count / 2]
    var fields = [
        "\"engine\": \"modelkit\"", "\"case\": \"\(name)\"", "\"network\": \"\(network)\"", "\"batch\": \(batch)",
        "\"median_s\": \(median)", "\"p10_s\": \(times[times.count / 10])", "\"p90_s\": \(times[times.count * 9 / 10])",
        "\"samples\": \(times.count)",
    ]
    for (key, value) in extra.sorted(by: { $0.key < $1.key }) { fields.append("\"\(key)\": \"\(value)\"") }
    print("{" + fields.joined(separator: ", ") + "}")
    fflush(nil)
}

// MARK: - Main

var selected: Set<String> = []
var quick = false
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    switch argument {
    case "--quick": quick = true
    case "--case": if let name = arguments.popFirst() { selected.insert(name) }
    case "--help", "-h":
        print("usage: modelkit-bench [--quick] [--case NAME]...  (cases: \(allCases.map(\.name).joined(separator: " ")) sgemm-2048)")
        exit(0)
    default:
        FileHandle.standardError.write("modelkit-bench: unknown argument \(argument)\n".data(using: .utf8) ?? Data())
        exit(2)
    }
}
let scale = quick ? 0.2 : 1.0
let info = InferenceSession.blas
FileHandle.standardError.write("modelkit-bench: BLAS \(info)\n".data(using: .utf8) ?? Data())
print("{\"engine\": \"modelkit\", \"blas\": \"\(info.description.replacingOccurrences(of: "\"", with: "'"))\"}")

do {
    for benchCase in allCases where selected.isEmpty || selected.contains(benchCase.name) {
        let session = try InferenceSession(model: makeModel(benchCase))
        var generator = SplitMix64(state: 7)
        let input = randomValues(benchCase.batch * session.inputFeatures, bound: 1, generator: &generator)
        var output = [Float](repeating: 0, count: benchCase.batch * session.outputFeatures)
        let work = benchCase.batch * zip(benchCase.widths, benchCase.widths.dropFirst()).map { $0 * $1 }.reduce(0, +)
        // About a second per case (a fifth with --quick), at least 5 samples.
        let samples = Int(Double(max(20, min(20_000, 4_000_000_000 / max(work, 1)))) * scale)
        let times = try input.withUnsafeBufferPointer { inputBuffer in
            try output.withUnsafeMutableBufferPointer { outputBuffer in
                try measure(samples: samples, budget: 3 * scale, warmUp: max(3, samples / 20)) {
                    try session.predict(input: inputBuffer, batchSize: benchCase.batch, output: outputBuffer)
                }
            }
        }
        report(benchCase.name, benchCase.network, batch: benchCase.batch, times)
    }
    if selected.isEmpty || selected.contains("sgemm-2048") {
        let size = 2048
        var generator = SplitMix64(state: 9)
        let a = randomValues(size * size, bound: 1, generator: &generator)
        let b = randomValues(size * size, bound: 1, generator: &generator)
        var c = [Float](repeating: 0, count: size * size)
        let times = try a.withUnsafeBufferPointer { aBuffer in
            try b.withUnsafeBufferPointer { bBuffer in
                try c.withUnsafeMutableBufferPointer { cBuffer in
                    try measure(samples: Int(30 * scale) + 5, budget: 6 * scale, warmUp: 2) {
                        try MatrixProduct.multiply(aBuffer, bBuffer, into: cBuffer, rows: size, inner: size, columns: size)
                    }
                }
            }
        }
        report("sgemm-2048", "sgemm 2048x2048x2048 float32", batch: size, times)
    }
} catch {
    FileHandle.standardError.write("modelkit-bench: \(error)\n".data(using: .utf8) ?? Data())
    exit(1)
}
