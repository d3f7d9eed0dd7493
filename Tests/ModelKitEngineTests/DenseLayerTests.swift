import ModelKit
import ModelKitTestSupport
import XCTest

/// Dense layers: both stored layouts, square weights, dtypes, both kernels, against a float64 loop.
final class DenseLayerTests: XCTestCase {
    /// `W` given as `[in][out]` math values, stored row-major in `layout`.
    private func stored(_ math: [[Float]], layout: WeightLayout) -> [Float] {
        let inputs = math.count, outputs = math.first?.count ?? 0
        switch layout {
        case .inOut: return math.flatMap { $0 }
        case .outIn: return (0..<outputs).flatMap { j in (0..<inputs).map { i in math[i][j] } }
        }
    }

    func testHandComputedProductInBothLayouts() throws {
        // y = x·W + b with W = [[1, 2], [3, 4], [5, 6]] (3 inputs → 2 outputs), b = [0.5, -1].
        let math: [[Float]] = [[1, 2], [3, 4], [5, 6]]
        for layout in WeightLayout.allCases {
            let model = try EngineFixtures.dense(inputs: 3, outputs: 2, weights: stored(math, layout: layout), bias: [0.5, -1],
                                                 layout: layout)
            let session = try InferenceSession(model: model)
            // [1, 1, 1]: 1+3+5+0.5 = 9.5, 2+4+6−1 = 11. [1, 0, -1]: 1−5+0.5 = −3.5, 2−6−1 = −5.
            XCTAssertEqual(try session.predict([[1, 1, 1], [1, 0, -1]]), [[9.5, 11], [-3.5, -5]], "\(layout)")
        }
    }

    func testBothLayoutsGiveEqualResultsOnTheSameMath() throws {
        let (inputs, outputs) = (45, 27)
        let values = EngineFixtures.values(inputs * outputs, seed: 3)
        let math = (0..<inputs).map { i in Array(values[(i * outputs)..<((i + 1) * outputs)]) }
        let bias = EngineFixtures.values(outputs, seed: 4)
        let input = EngineFixtures.values(9 * inputs, seed: 5)
        var results: [[Float]] = []
        for layout in WeightLayout.allCases {
            let model = try EngineFixtures.dense(inputs: inputs, outputs: outputs, weights: stored(math, layout: layout),
                                                 bias: bias, layout: layout, after: [Layer(name: "act", kind: .tanh)])
            let output = try InferenceSession(model: model).predict(input, batchSize: 9)
            assertMatchesReference(output, ReferenceForward.run(model, EngineFixtures.rows(input, width: inputs)), "\(layout)")
            results.append(output)
        }
        assertClose(results[0], results[1], rtol: 1e-6, atol: 1e-6)
    }

    func testSquareWeightLayoutTagDecidesTheOrientation() throws {
        // A square weight fits both orientations by shape: only the tag says which is meant, and it must be obeyed.
        let storedValues: [Float] = [1, 2, 3, 4]
        let input: [Float] = [1, 10]
        // in_out [[1, 2], [3, 4]]: y = [1·1 + 10·3, 1·2 + 10·4] = [31, 42].
        let inOut = try InferenceSession(model: EngineFixtures.dense(inputs: 2, outputs: 2, weights: storedValues, bias: nil, layout: .inOut))
        XCTAssertEqual(try inOut.predict(input, batchSize: 1), [31, 42])
        // out_in rows are outputs: y = [1·1 + 10·2, 1·3 + 10·4] = [21, 43].
        let outIn = try InferenceSession(model: EngineFixtures.dense(inputs: 2, outputs: 2, weights: storedValues, bias: nil, layout: .outIn))
        XCTAssertEqual(try outIn.predict(input, batchSize: 1), [21, 43])
        XCTAssertFalse(outIn.warnings.isEmpty, "a square weight's layout cannot be checked by shape: analyze() warns")
    }

    func testSquareWeightsAgainstReferenceAtSeveralSizes() throws {
        for size in [1, 8, 64, 130] {
            for layout in WeightLayout.allCases {
                let model = try EngineFixtures.dense(inputs: size, outputs: size, weights: EngineFixtures.values(size * size, seed: 7),
                                                     bias: EngineFixtures.values(size, seed: 8), layout: layout)
                let input = EngineFixtures.values(3 * size, seed: 9)
                let output = try InferenceSession(model: model).predict(input, batchSize: 3)
                assertMatchesReference(output, ReferenceForward.run(model, EngineFixtures.rows(input, width: size)), "size \(size) \(layout)")
            }
        }
    }

    func testMultiLayerNetworkAgainstReferenceWithBothKernels() throws {
        for layout in WeightLayout.allCases {
            let model = SampleModels.dense([33, 70, 17, 5], layout: layout, finalActivation: .logSoftmax)
            let input = EngineFixtures.values(13 * 33, seed: 21)
            let expected = ReferenceForward.run(model, EngineFixtures.rows(input, width: 33))
            for kernel in InferenceOptions.Kernel.allCases {
                let session = try InferenceSession(model: model, options: InferenceOptions(kernel: kernel))
                XCTAssertEqual(session.usesPortableKernel, kernel == .portable || InferenceSession.blas.backend == .portable)
                assertMatchesReference(try session.predict(input, batchSize: 13), expected, "\(layout) \(kernel)")
            }
        }
    }

    func testLayerWithoutBias() throws {
        let model = try EngineFixtures.dense(inputs: 19, outputs: 23, weights: EngineFixtures.values(19 * 23, seed: 2), bias: nil,
                                             layout: .outIn, after: [Layer(name: "a", kind: .silu)])
        let input = EngineFixtures.values(19 * 4, seed: 6)
        assertMatchesReference(try InferenceSession(model: model).predict(input, batchSize: 4),
                               ReferenceForward.run(model, EngineFixtures.rows(input, width: 19)))
    }

    func testFloat16BFloat16AndFloat64WeightsAreConvertedOnce() throws {
        for dtype in [DType.float16, .bfloat16, .float64] {
            let model = try EngineFixtures.dense(inputs: 40, outputs: 24, weights: EngineFixtures.values(40 * 24, seed: 12),
                                                 bias: EngineFixtures.values(24, seed: 13), layout: .outIn,
                                                 after: [Layer(name: "a", kind: .gelu)], dtype: dtype)
            XCTAssertEqual(model.tensor(named: "fc.weight")?.tensor.dtype, dtype)
            let input = EngineFixtures.values(5 * 40, seed: 14)
            // The reference reads the dtype-rounded weights, so the comparison is as tight as for float32.
            assertMatchesReference(try InferenceSession(model: model).predict(input, batchSize: 5),
                                   ReferenceForward.run(model, EngineFixtures.rows(input, width: 40)), "\(dtype)")
        }
    }

    func testInputTensorsOfEveryFloatDTypeAndUnalignedFloat32() throws {
        let model = SampleModels.dense([12, 9, 4], finalActivation: .softmax)
        let session = try InferenceSession(model: model)
        let values = EngineFixtures.values(6 * 12, seed: 30)
        let float32 = Tensor(float32: values, shape: [6, 12])
        let expected = try session.predict(float32)
        XCTAssertEqual(expected.shape, [6, 4])
        XCTAssertEqual(expected.dtype, .float32)
        for dtype in [DType.float16, .bfloat16, .float64] {
            let input = try float32.converted(to: dtype)
            let reference = ReferenceForward.run(model, (0..<6).map { row in (0..<12).map { input.element(at: row * 12 + $0) } })
            assertMatchesReference(try session.predict(input).floatValues(), reference, "\(dtype) input")
        }
        // float32 bytes that start at an odd address are copied rather than read in place.
        var bytes = [UInt8](repeating: 0, count: 1)
        values.withUnsafeBytes { bytes.append(contentsOf: $0) }
        let unaligned = try Tensor(dtype: .float32, shape: [6, 12], storage: TensorStorage(copying: bytes), byteOffset: 1)
        XCTAssertEqual(try session.predict(unaligned).floatValues(), expected.floatValues())
    }

    func testZeroAllocationPathMatchesArrayPath() throws {
        let session = try InferenceSession(model: SampleModels.dense([20, 30, 3]))
        let input = EngineFixtures.values(7 * 20, seed: 40)
        var output = [Float](repeating: .nan, count: 7 * 3 + 2)
        try input.withUnsafeBufferPointer { inputBuffer in
            try output.withUnsafeMutableBufferPointer { outputBuffer in
                try session.predict(input: inputBuffer, batchSize: 7, output: outputBuffer)
            }
        }
        XCTAssertEqual(Array(output[0..<21]), try session.predict(input, batchSize: 7))
        XCTAssertTrue(output[21].isNaN && output[22].isNaN, "values past batch × outputs are left alone")
    }

    func testEmptyBatch() throws {
        let session = try InferenceSession(model: SampleModels.dense([4, 3]))
        XCTAssertEqual(try session.predict([], batchSize: 0), [])
        XCTAssertEqual(try session.predict([[Float]]()), [])
        let output = try session.predict(Tensor(float32: [], shape: [0, 4]))
        XCTAssertEqual(output.shape, [0, 3])
    }

    func testMatrixProductAgainstReference() throws {
        for (m, k, n) in [(1, 300, 500), (5, 7, 3), (64, 100, 33), (130, 20, 260)] {
            let a = EngineFixtures.values(m * k, seed: 1), b = EngineFixtures.values(k * n, seed: 2)
            for transposeB in [false, true] {
                var c = [Float](repeating: 0, count: m * n)
                try a.withUnsafeBufferPointer { aBuffer in
                    try b.withUnsafeBufferPointer { bBuffer in
                        try c.withUnsafeMutableBufferPointer { cBuffer in
                            try MatrixProduct.multiply(aBuffer, bBuffer, into: cBuffer, rows: m, inner: k, columns: n, transposeB: transposeB)
                        }
                    }
                }
                let expected = (0..<m).map { i in
                    (0..<n).map { j in
                        (0..<k).reduce(0.0) { sum, p in sum + Double(a[i * k + p]) * Double(transposeB ? b[j * k + p] : b[p * n + j]) }
                    }
                }
                assertMatchesReference(c, expected, absolute: 1e-5, relative: 1e-5, "\(m)x\(k)x\(n) transposeB \(transposeB)")
            }
        }
    }
}
