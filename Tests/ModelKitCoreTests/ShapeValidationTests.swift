import XCTest
import ModelKitCore
import ModelKitTestSupport

final class ShapeValidationTests: XCTestCase {
    func test_exampleShapedNetworkIsValidWithExpectedCounts() {
        let analysis = SampleModels.dense([400, 200, 100, 2]).analyze()
        XCTAssertTrue(analysis.issues.isEmpty, "\(analysis.issues)")
        XCTAssertEqual(analysis.totalParameters, 100_502)
        XCTAssertEqual(analysis.totalParameterBytes, 402_008)
        XCTAssertEqual(analysis.outputShape, [nil, 2])
        XCTAssertEqual(analysis.layers.map(\.outputShape), [[nil, 200], [nil, 200], [nil, 100], [nil, 100], [nil, 2], [nil, 2]])
    }

    func test_bothLayoutsValidate() {
        XCTAssertTrue(SampleModels.dense([5, 3, 2], layout: .inOut).analyze().issues.isEmpty)
        XCTAssertTrue(SampleModels.dense([5, 3, 2], layout: .outIn).analyze().issues.isEmpty)
    }

    func test_mislabelledLayoutIsReportedAsTransposedWithTheFix() throws {
        var model = SampleModels.dense([400, 200, 100, 2], layout: .outIn)
        model.retagAll(.inOut)  // PyTorch bytes tagged as Keras
        let errors = model.analyze().errors
        XCTAssertEqual(errors.count, 3, "every layer is reported, not just the first: \(errors)")
        let first = try XCTUnwrap(errors.first)
        XCTAssertEqual(first.layer, "fc1")
        XCTAssertTrue(first.message.contains("looks transposed"))
        XCTAssertTrue(first.message.contains("[200, 400]"), first.message)
        XCTAssertTrue(first.message.contains("[400, out]"), first.message)
        XCTAssertEqual(first.fix, "convert with --weight-layout out-in")
        XCTAssertEqual(first.likelyCause, "a PyTorch-style [out, in] weight was labelled as Keras-style [in, out]")
    }

    func test_squareWeightGetsAWarningNamingTheConvention() {
        let analysis = SampleModels.dense([4, 4, 2]).analyze()
        XCTAssertTrue(analysis.isValid)
        let warning = analysis.warnings.first
        XCTAssertEqual(warning?.layer, "fc1")
        XCTAssertTrue(warning?.message.contains("layout cannot be checked by shape") ?? false)
        XCTAssertTrue(warning?.message.contains("by the modelkit convention for square weights") ?? false, "\(String(describing: warning))")
    }

    func test_chainMismatchBiasAndMissingPiecesAreAllReported() {
        var model = SampleModels.dense([6, 4, 3])
        model.addTensor(ModelTensor(name: "fc2.bias", tensor: Tensor(float32: [1, 2], shape: [2])))
        model.addTensor(ModelTensor(name: "fc1.weight", tensor: Tensor(float32: Array(repeating: 0, count: 20), shape: [4, 5]), layout: .outIn))
        model.layers.append(Layer(name: "ghost", kind: .dense, parameters: ["weight": "nope", "gamma": "fc1.bias"]))
        model.layers.append(Layer(name: "sm", kind: .softmax, attributes: JSONObject([("axis", .integer(0))])))
        let messages = model.analyze().errors.map(\.description)
        XCTAssertTrue(messages.contains { $0.contains("takes 5 input features, but the previous layer gives 6") }, "\(messages)")
        XCTAssertTrue(messages.contains { $0.contains("bias 'fc2.bias' has shape [2]; expected [3]") }, "\(messages)")
        XCTAssertTrue(messages.contains { $0.contains("weight tensor 'nope' is not in the model") }, "\(messages)")
        XCTAssertTrue(messages.contains { $0.contains("no parameter role 'gamma'") }, "\(messages)")
        XCTAssertTrue(messages.contains { $0.contains("softmax over axis 0") }, "\(messages)")
    }

    func test_layoutTagMissingAndBadRank() {
        var model = SampleModels.dense([3, 2])
        model.addTensor(ModelTensor(name: "fc1.weight", tensor: Tensor(float32: [1, 2, 3, 4, 5, 6], shape: [2, 3])))
        XCTAssertTrue(model.analyze().errors.first?.message.contains("no layout tag") ?? false)
        model.addTensor(ModelTensor(name: "fc1.weight", tensor: Tensor(float32: [1, 2, 3, 4, 5, 6], shape: [6]), layout: .outIn))
        XCTAssertTrue(model.analyze().errors.first?.message.contains("a dense weight is 2-D") ?? false)
    }
}

extension Model {
    mutating func retagAll(_ layout: WeightLayout) {
        updateTensors { entry in if entry.layout != nil { entry.layout = layout } }
    }
}
