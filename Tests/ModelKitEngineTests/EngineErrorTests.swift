import ModelKit
import ModelKitTestSupport
import XCTest

/// Every error the engine throws: the right case, and a one-line message that names shapes and the fix.
final class EngineErrorTests: XCTestCase {
    private func error(_ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line) -> EngineError? {
        do {
            try body()
            XCTFail("expected an EngineError", file: file, line: line)
        } catch let error as EngineError {
            XCTAssertFalse(error.description.contains("\n"), "one line: \(error.description)", file: file, line: line)
            return error
        } catch {
            XCTFail("expected an EngineError, got \(error)", file: file, line: line)
        }
        return nil
    }

    private let session: InferenceSession = {
        do { return try InferenceSession(model: SampleModels.dense([400, 200, 100, 2])) } catch { fatalError("\(error)") }
    }()

    func testFeatureMismatchNamesExpectedAndActualShapes() {
        let caught = error { _ = try session.predict(Tensor(float32: [Float](repeating: 0, count: 3 * 300), shape: [3, 300])) }
        XCTAssertEqual(caught, .inputFeatures(shape: [3, 300], expectedFeatures: 400))
        let text = caught?.description ?? ""
        XCTAssertTrue(text.contains("[3, 300]") && text.contains("[batch, 400]"), text)
        XCTAssertFalse(text.contains("feature-major"), "not transposed, so no hint: \(text)")
    }

    func testTransposedInputSuggestsFeatureMajorFlag() {
        let caught = error { _ = try session.predict(Tensor(float32: [Float](repeating: 0, count: 400 * 50), shape: [400, 50])) }
        let text = caught?.description ?? ""
        XCTAssertTrue(text.contains("[400, 50]") && text.contains("[batch, 400]"), text)
        XCTAssertTrue(text.contains("looks like [features, batch]"), text)
        XCTAssertTrue(text.contains("--input-layout feature-major"), text)
    }

    func testTransposedRowsSuggestFeatureMajorFlag() {
        let rows = [[Float]](repeating: [Float](repeating: 0, count: 3), count: 400)
        let text = error { _ = try session.predict(rows) }?.description ?? ""
        XCTAssertTrue(text.contains("--input-layout feature-major"), text)
    }

    func testRaggedRowsNameTheRow() {
        let rows = [[Float](repeating: 0, count: 400), [Float](repeating: 0, count: 399)]
        XCTAssertEqual(error { _ = try session.predict(rows) }, .raggedRows(row: 1, count: 399, expectedFeatures: 400))
    }

    func testWrongRankAndDType() {
        let vector = Tensor(float32: [Float](repeating: 0, count: 400), shape: [400])
        let rank = error { _ = try session.predict(vector) }
        XCTAssertEqual(rank, .inputRank(shape: [400], expectedFeatures: 400))
        XCTAssertTrue(rank?.description.contains("reshape it to [batch, 400]") ?? false)
        let integers = Tensor.make(dtype: .int32, shape: [1, 400]) { _ in }
        XCTAssertEqual(error { _ = try session.predict(integers) }, .inputDType(.int32))
    }

    func testValueCountAndBufferSizes() {
        XCTAssertEqual(error { _ = try session.predict([Float](repeating: 0, count: 799), batchSize: 2) },
                       .valueCount(count: 799, batchSize: 2, features: 400))
        XCTAssertEqual(error { _ = try session.predict([], batchSize: -1) }, .negativeBatchSize(-1))
        let input = [Float](repeating: 0, count: 800)
        var output = [Float](repeating: 0, count: 3)
        let caught = error {
            try input.withUnsafeBufferPointer { inputBuffer in
                try output.withUnsafeMutableBufferPointer { try session.predict(input: inputBuffer, batchSize: 2, output: $0) }
            }
        }
        XCTAssertEqual(caught, .outputBufferTooSmall(count: 3, required: 4, batchSize: 2, features: 2))
    }

    func testInvalidModelListsEveryError() {
        var model = SampleModels.dense([10, 8, 4])
        // Two independent errors: a transposed weight tag and a missing bias tensor.
        model.updateTensors { tensor in
            if tensor.name == "fc1.weight" { tensor.layout = .inOut }
        }
        model.layers[2].parameters["bias"] = "missing.bias"
        let caught = error { _ = try InferenceSession(model: model) }
        guard case .invalidModel(let name, let issues) = caught else { return XCTFail("expected invalidModel, got \(String(describing: caught))") }
        XCTAssertEqual(name, "sample")
        XCTAssertEqual(issues.count, 2, "\(issues)")
        let text = caught?.description ?? ""
        XCTAssertTrue(text.contains("2 errors") && text.contains("fc1.weight") && text.contains("missing.bias"), text)
        XCTAssertTrue(text.contains("--weight-layout out-in"), "the analysis' fix is passed on: \(text)")
    }

    func testIntegerBiasIsRejected() throws {
        var model = SampleModels.dense([3, 2])
        model.addTensor(ModelTensor(name: "fc1.bias", tensor: Tensor.make(dtype: .int32, shape: [2]) { _ in }))
        let caught = error { _ = try InferenceSession(model: model) }
        guard case .unsupportedParameter(let layer, let tensor, _) = caught else { return XCTFail("\(String(describing: caught))") }
        XCTAssertEqual([layer, tensor], ["fc1", "fc1.bias"])
    }

    func testInvalidOptions() {
        XCTAssertEqual(error { _ = try InferenceSession(model: SampleModels.dense([3, 2]), options: InferenceOptions(maximumBatchSize: 0)) },
                       .invalidOption(name: "maximumBatchSize", value: 0, reason: "it must be at least 1"))
        XCTAssertEqual(error { _ = try InferenceSession(model: SampleModels.dense([3, 2]), options: InferenceOptions(threads: 0)) },
                       .invalidOption(name: "threads", value: 0, reason: "it must be at least 1"))
    }

    func testModelWithoutInputFeatures() {
        let model = Model(info: ModelInfo(name: "empty", producer: "tests", sourceFormat: "modelkit", inputShape: [nil, nil]),
                          layers: [Layer(name: "r", kind: .relu)])
        // analyze() accepts [null, null] (no dense layer to contradict it); the engine needs a feature count.
        let caught = error { _ = try InferenceSession(model: model) }
        XCTAssertEqual(caught, .unknownInputFeatures(model: "empty"))
        XCTAssertTrue(caught?.description.contains("set model.input.shape to [null, FEATURES]") ?? false)
    }
}

/// Inputs of more than two dimensions are read row-major when each sample holds the model's features (what
/// `nn.Flatten` does); otherwise the error says what each sample holds.
final class FlattenedInputTests: XCTestCase {
    func test_higherRankInputIsReadRowMajor() throws {
        let model = SampleModels.dense([12, 3])
        let session = try InferenceSession(model: model)
        let values = (0..<24).map { Float($0) / 10 }
        let flat = try session.predict(Tensor(float32: values, shape: [2, 12]))
        let cube = try session.predict(Tensor(float32: values, shape: [2, 3, 4]))
        XCTAssertEqual(try cube.floatValues(), try flat.floatValues())
        XCTAssertEqual(cube.shape, [2, 3])
        XCTAssertThrowsError(try session.predict(Tensor(float32: Array(values.prefix(20)), shape: [2, 2, 5]))) { error in
            XCTAssertTrue("\(error)".contains("each sample here holds 2×5 values, not 12"), "\(error)")
        }
    }
}
