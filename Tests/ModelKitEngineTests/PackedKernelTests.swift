import ModelKit
@testable import ModelKitEngine
import ModelKitTestSupport
import XCTest

/// The packed-panel kernel (AVX-512, AVX2 and portable C variants) against a float64 product, on sizes that reach
/// every remainder path: row blocks of 1 to 12 rows, one or two panels per tile, a partly filled last panel,
/// several depth blocks, packed input rows (16 panels or more) in chunks, both stored layouts.
final class PackedKernelTests: XCTestCase {
    private struct Case {
        var rows: Int
        var depth: Int
        var outputs: Int
    }

    /// Runs one product at `level` with strided input and output (`lda = depth + 5`, `ldc = outputs + 3`), in two
    /// column blocks split at a panel boundary as two threads would, and checks every value and the untouched gaps.
    private func check(_ item: Case, level: Int, layout: WeightLayout, activation: PackedKernel.FusedActivation,
                       seed: UInt64, file: StaticString = #filePath, line: UInt = #line) {
        let (rows, depth, outputs) = (item.rows, item.depth, item.outputs)
        let lda = depth + 5, ldc = outputs + 3
        let a = EngineFixtures.values(rows * lda, seed: seed)
        let weights = EngineFixtures.values(max(depth * outputs, 1), seed: seed + 1)
        let bias = EngineFixtures.values(outputs, seed: seed + 2)
        let packed = allocateFloats(PackedKernel.packedCount(inputs: depth, outputs: outputs))
        defer { packed.deallocate() }
        let sentinel: Float = -12345
        var c = [Float](repeating: sentinel, count: rows * ldc)
        weights.withUnsafeBufferPointer { w in
            PackedKernel.pack(w.baseAddress!, layout: layout, inputs: depth, outputs: outputs, into: packed)
        }
        let panels = (outputs + PackedKernel.panelWidth - 1) / PackedKernel.panelWidth
        let middle = panels / 2 * PackedKernel.panelWidth
        a.withUnsafeBufferPointer { a in
            bias.withUnsafeBufferPointer { bias in
                c.withUnsafeMutableBufferPointer { c in
                    for columns in [0..<middle, middle..<outputs] {
                        PackedKernel.multiply(rows: rows, depth: depth, a: a.baseAddress!, lda: lda, packed: packed,
                                              outputs: outputs, columns: columns, bias: bias.baseAddress, activation: activation,
                                              c: c.baseAddress!, ldc: ldc, level: level)
                    }
                }
            }
        }
        var failures = 0
        for row in 0..<rows {
            for column in 0..<ldc {
                let actual = c[row * ldc + column]
                guard column < outputs else {
                    if actual != sentinel { failures += 1 }
                    continue
                }
                var sum = Double(bias[column]), magnitude = abs(Double(bias[column]))
                for k in 0..<depth {
                    let w = layout == .inOut ? weights[k * outputs + column] : weights[column * depth + k]
                    sum += Double(a[row * lda + k]) * Double(w)
                    magnitude += abs(Double(a[row * lda + k]) * Double(w))
                }
                switch activation {
                case .none: break
                case .relu: sum = max(sum, 0)
                case .leakyRelu(let alpha): if sum < 0 { sum *= Double(alpha) }
                }
                if abs(Double(actual) - sum) > 1e-6 + 1e-5 * magnitude { failures += 1 }
            }
        }
        XCTAssertEqual(failures, 0, "level \(level), \(rows)×\(depth)→\(outputs), \(layout), \(activation)", file: file, line: line)
    }

    private var levels: [Int] { Array(0...PackedKernel.level) }

    func testEveryRowCountUpTo17OnPartialPanels() {
        // 1…17 rows: row blocks of every height from 1 to 12 (AVX-512) and 1 to 6 (AVX2); 37 outputs: two full
        // panels and one of 5 columns, so both tile widths and the masked tail run.
        for level in levels {
            for rows in 1...17 {
                for layout in WeightLayout.allCases {
                    check(Case(rows: rows, depth: 29, outputs: 37), level: level, layout: layout,
                          activation: rows % 3 == 0 ? .relu : rows % 3 == 1 ? .none : .leakyRelu(alpha: 0.1),
                          seed: UInt64(rows * 10 + level))
                }
            }
        }
    }

    func testOddWidthsDepthsAndDepthBlocks() {
        // Depth 0 (bias only), 1, and 257 / 600 (two and three depth blocks, added into the output); widths
        // below, at and just above one panel.
        let cases = [Case(rows: 5, depth: 0, outputs: 3), Case(rows: 4, depth: 1, outputs: 1), Case(rows: 7, depth: 257, outputs: 15),
                     Case(rows: 13, depth: 600, outputs: 17), Case(rows: 25, depth: 300, outputs: 48), Case(rows: 9, depth: 16, outputs: 16)]
        for level in levels {
            for (index, item) in cases.enumerated() {
                for layout in WeightLayout.allCases {
                    check(item, level: level, layout: layout, activation: index % 2 == 0 ? .relu : .none, seed: UInt64(100 + index))
                }
            }
        }
    }

    func testWideBlocksPackInputRowsInChunks() {
        // 17 panels in one call pack the input rows; 150 rows are two chunks (at most 144 rows each), 300 deep
        // two depth blocks.
        for level in levels {
            check(Case(rows: 150, depth: 300, outputs: 2 * 260), level: level, layout: .outIn, activation: .leakyRelu(alpha: 0.2),
                  seed: 7)
            check(Case(rows: 3, depth: 40, outputs: 2 * 257), level: level, layout: .inOut, activation: .relu, seed: 8)
        }
    }

    func testReluKeepsNaN() {
        let weights: [Float] = [1, 1]
        let packed = allocateFloats(PackedKernel.packedCount(inputs: 1, outputs: 2))
        defer { packed.deallocate() }
        PackedKernel.pack(weights, layout: .inOut, inputs: 1, outputs: 2, into: packed)
        for level in levels {
            let input: [Float] = [.nan, -1, 2, 0]
            var output = [Float](repeating: 0, count: 8)
            PackedKernel.multiply(rows: 4, depth: 1, a: input, lda: 1, packed: packed, outputs: 2, columns: 0..<2, bias: nil,
                                  activation: .relu, c: &output, ldc: 2, level: level)
            XCTAssertTrue(output[0].isNaN && output[1].isNaN, "level \(level): ReLU(NaN) is NaN, as in PyTorch")
            XCTAssertEqual(Array(output[2...]), [0, 0, 2, 2, 0, 0], "level \(level)")
        }
    }

    func testSessionUsesPackedPanelsAndMatchesReference() throws {
        try XCTSkipUnless(PackedKernel.isAvailable, "this CPU has no AVX2: the packed kernel is not used")
        let (inputs, hidden, outputs) = (45, 37, 19)
        var model = Model(info: ModelInfo(name: "two", producer: "tests", sourceFormat: "modelkit", inputShape: [nil, inputs]))
        model.addTensor(ModelTensor(name: "fc1.weight", tensor: try Tensor(float32: EngineFixtures.values(inputs * hidden, seed: 21),
                                                                            shape: [hidden, inputs]), layout: .outIn, layoutSource: .declared))
        model.addTensor(ModelTensor(name: "fc1.bias", tensor: try Tensor(float32: EngineFixtures.values(hidden, seed: 22), shape: [hidden])))
        model.addTensor(ModelTensor(name: "fc2.weight", tensor: try Tensor(float32: EngineFixtures.values(hidden * outputs, seed: 23),
                                                                            shape: [hidden, outputs]), layout: .inOut, layoutSource: .declared))
        model.layers = [Layer(name: "fc1", kind: .dense, parameters: ["weight": "fc1.weight", "bias": "fc1.bias"]),
                        Layer(name: "act1", kind: .sigmoid),
                        Layer(name: "fc2", kind: .dense, parameters: ["weight": "fc2.weight"]),
                        Layer(name: "act2", kind: .relu), Layer(name: "act3", kind: .tanh)]
        let session = try InferenceSession(model: model)
        XCTAssertTrue(session.prepared.stages.allSatisfy { $0.dense?.panels != nil })
        for batch in [1, 3, 4, 5, 12, 17, 50] {
            let input = EngineFixtures.values(batch * inputs, seed: UInt64(batch))
            let output = try session.predict(input, batchSize: batch)
            assertMatchesReference(output, ReferenceForward.run(model, EngineFixtures.rows(input, width: inputs)), "batch \(batch)")
        }
    }

    func testSplitFollowsPanelsAndBalancesWork() {
        // Example network, batch 50: 13 panels → rows 25 + 25 (13 × 25 < 7 × 50).
        XCTAssertEqual(WorkSplit.make(rows: 50, columns: 200, depth: 400, threads: 2, alignment: 16),
                       WorkSplit(byRows: true, taskCount: 2, blockSize: 25))
        // Wide network, batch 256: 256 panels → equal either way; columns (each thread reads half the weight).
        XCTAssertEqual(WorkSplit.make(rows: 256, columns: 4096, depth: 4096, threads: 2, alignment: 16),
                       WorkSplit(byRows: false, taskCount: 2, blockSize: 2048))
        // 8 rows × 40 panels: columns, in whole panels.
        XCTAssertEqual(WorkSplit.make(rows: 8, columns: 630, depth: 512, threads: 2, alignment: 16),
                       WorkSplit(byRows: false, taskCount: 2, blockSize: 320))
    }
}
