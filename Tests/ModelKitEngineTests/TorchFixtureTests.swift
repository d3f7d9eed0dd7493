import Foundation
import ModelKit
import ModelKitTestSupport
import XCTest

/// The engine against outputs PyTorch computed (Fixtures/generate/generate.py): the example network (400-200-100-2
/// with ReLU and softmax) and the "zoo" network (every layer kind, both layouts, square and float16 weights).
/// Tolerance: |ours − torch| ≤ 1e-5 · max(1, max |torch|).
final class TorchFixtureTests: XCTestCase {
    private func loadModel(_ relative: String) throws -> Model {
        try ModelFile.read(path: FixturePaths.require(relative)).model
    }

    /// Reads an expected-output JSON file: `{"model": path, "input": {shape, values}, "output": {shape, values}}`.
    private func expected(_ relative: String) throws -> (model: String, input: Tensor, output: [Float], shape: [Int]) {
        let text = try String(contentsOfFile: FixturePaths.require(relative), encoding: .utf8)
        let json = try JSONValue.parse(text)
        func matrix(_ key: String) throws -> ([Float], [Int]) {
            let shape = try XCTUnwrap(json[key]?["shape"]?.arrayValue?.compactMap { $0.intValue }, "\(relative): \(key).shape")
            let values = try XCTUnwrap(json[key]?["values"]?.arrayValue?.compactMap { $0.doubleValue }, "\(relative): \(key).values")
            XCTAssertEqual(values.count, shape.reduce(1, *), "\(relative): \(key) value count")
            return (values.map(Float.init), shape)
        }
        let (inputValues, inputShape) = try matrix("input")
        let (outputValues, outputShape) = try matrix("output")
        let model = try XCTUnwrap(json["model"]?.stringValue, "\(relative): model")
        return (model, Tensor(float32: inputValues, shape: Shape(inputShape)), outputValues, outputShape)
    }

    private func check(_ relative: String, kernel: InferenceOptions.Kernel = .automatic, file: StaticString = #filePath, line: UInt = #line) throws {
        let case_ = try expected(relative)
        let modelPath = case_.model.hasPrefix("Fixtures/") ? String(case_.model.dropFirst("Fixtures/".count)) : case_.model
        let session = try InferenceSession(model: loadModel(modelPath), options: InferenceOptions(kernel: kernel))
        let output = try session.predict(case_.input)
        XCTAssertEqual(output.shape.dimensions, case_.shape, file: file, line: line)
        assertCloseScaled(output.floatValues(), case_.output, relative: 1e-5, "\(relative) \(kernel)", file: file, line: line)
    }

    func testExampleBatch1() throws {
        try check("expected/example/batch1.json")
    }

    func testExampleBatch50BothKernels() throws {
        for kernel in InferenceOptions.Kernel.allCases { try check("expected/example/batch50.json", kernel: kernel) }
    }

    func testExampleBatch1024FromNumPyFiles() throws {
        let session = try InferenceSession(model: loadModel("models/example/example.json"))
        let input = try NumPyFile.readArray(path: FixturePaths.require("expected/example/batch1024.input.npy"))
        let torch = try NumPyFile.readArray(path: FixturePaths.require("expected/example/batch1024.output.npy"))
        let output = try session.predict(input)
        XCTAssertEqual(output.shape, torch.shape)
        assertCloseScaled(output.floatValues(), torch.floatValues(), relative: 1e-5)
        // Chunks of 100 rows give the same answer.
        let chunked = try InferenceSession(model: loadModel("models/example/example.json"), options: InferenceOptions(maximumBatchSize: 100))
        assertCloseScaled(try chunked.predict(input).floatValues(), torch.floatValues(), relative: 1e-5)
    }

    func testFeatureMajorFixtureIsRecognisedAsTransposed() throws {
        let session = try InferenceSession(model: loadModel("models/example/example.json"))
        let transposed = try NumPyFile.readArray(path: FixturePaths.require("expected/example/batch50.input_feature_major.npy"))
        XCTAssertThrowsError(try session.predict(transposed)) { error in
            XCTAssertTrue("\(error)".contains("--input-layout feature-major"), "\(error)")
        }
    }

    func testZooEveryLayerKind() throws {
        for name in ["batch7", "batch64", "softmax_batch7", "softmax_batch64"] {
            for kernel in InferenceOptions.Kernel.allCases { try check("expected/zoo/\(name).json", kernel: kernel) }
        }
    }
}
