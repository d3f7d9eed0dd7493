import ModelKitCore
import ModelKitInterop
import XCTest

/// Binding weight-only tensors to an architecture (Specs/interop/architecture.md, "Binding").
final class ArchitectureBindingTests: XCTestCase {
    /// A float32 tensor whose values encode its name's position, so a wrong binding shows in the values.
    func tensor(_ name: String, _ shape: Shape, dtype: DType = .float32) -> ModelTensor {
        let count = shape.elementCount ?? 0
        let base = Float(name.unicodeScalars.reduce(0) { $0 &* 31 &+ Int($1.value) } % 1000)
        var made = Tensor(float32: (0..<count).map { base + Float($0) / 1000 }, shape: shape)
        if dtype != .float32 { made = Tensor.make(dtype: dtype, shape: shape) { _ in } }
        return ModelTensor(name: name, tensor: made)
    }

    func bind(_ tensors: [ModelTensor], _ architecture: String, defaultLayout: WeightLayout = .outIn,
              override: WeightLayout? = nil) throws -> WeightBinder.Binding {
        try WeightBinder.binding(tensors: tensors, architecture: try Architecture(parsing: architecture),
                                 sourceFormat: defaultLayout == .outIn ? "pytorch" : "keras",
                                 defaultLayout: defaultLayout, override: override)
    }

    func weightNames(_ model: Model) -> [String] {
        model.layers.filter { $0.kind == .dense }.compactMap { $0.parameters["weight"] }
    }

    func layout(_ model: Model, _ name: String) -> String {
        guard let entry = model.tensor(named: name) else { return "missing" }
        return "\(entry.layout?.rawValue ?? "nil")/\(entry.layoutSource?.rawValue ?? "nil")"
    }

    // MARK: - Names

    func test_B1_sequentialIndicesBindInNaturalOrderNotFileOrder() throws {
        // Six linear layers of an nn.Sequential with activations: indices 0, 2, …, 10. In file (byte) order
        // "10.weight" sorts before "2.weight"; binding must follow the numbers.
        let widths = [9, 8, 7, 6, 5, 4, 3]
        var tensors: [ModelTensor] = []
        for layer in 0..<6 {
            tensors.append(tensor("\(2 * layer).weight", [widths[layer + 1], widths[layer]]))
            tensors.append(tensor("\(2 * layer).bias", [widths[layer + 1]]))
        }
        tensors.sort { Array($0.name.utf8).lexicographicallyPrecedes(Array($1.name.utf8)) }
        XCTAssertEqual(tensors.prefix(4).map(\.name), ["0.bias", "0.weight", "10.bias", "10.weight"])
        let architecture = (0..<6).map { "linear(\(widths[$0]),\(widths[$0 + 1]))" }.joined(separator: " relu ") + " softmax"
        let binding = try bind(tensors, architecture)
        XCTAssertEqual(binding.method, .names)
        XCTAssertEqual(weightNames(binding.model), ["0.weight", "2.weight", "4.weight", "6.weight", "8.weight", "10.weight"])
        XCTAssertEqual(binding.model.layers.map(\.name),
                       ["fc1", "relu1", "fc2", "relu2", "fc3", "relu3", "fc4", "relu4", "fc5", "relu5", "fc6", "softmax6"])
        XCTAssertEqual(binding.model.layers[0].parameters, ["weight": "0.weight", "bias": "0.bias"])
        XCTAssertEqual(layout(binding.model, "10.weight"), "out_in/shape")
        XCTAssertEqual(binding.model.info.inputShape, [nil, 9])
        XCTAssertEqual(binding.model.info.sourceFormat, "pytorch")
        XCTAssertTrue(binding.notes[0].hasPrefix("weights bound by name in natural order: fc1 ← 0.weight, fc2 ← 2.weight"), binding.notes[0])
        XCTAssertTrue(binding.model.analyze().issues.isEmpty, "\(binding.model.analyze().issues)")
    }

    func test_B1_commonPyTorchNamings() throws {
        for names in [["fc1", "fc2", "fc10"], ["layers.3", "layers.5", "layers.12"], ["model.0", "model.2", "model.10"],
                      ["encoder.layer9", "encoder.layer10", "encoder.layer11"]] {
            let tensors = [tensor("\(names[2]).weight", [2, 3]), tensor("\(names[0]).weight", [4, 5]),
                           tensor("\(names[1]).bias", [3]), tensor("\(names[0]).bias", [4]),
                           tensor("\(names[1]).weight", [3, 4]), tensor("\(names[2]).bias", [2])]
            let binding = try bind(tensors, "linear(5,4) relu linear(4,3) tanh linear(3,2)")
            XCTAssertEqual(weightNames(binding.model), names.map { "\($0).weight" }, "\(names)")
        }
    }

    func test_B2_kerasNamesAndKernelLayout() throws {
        // Keras kernels are [in, out]; `dense` comes before `dense_1` and `dense_2` before `dense_10`.
        let tensors = [tensor("dense_1/kernel:0", [4, 4]), tensor("dense/kernel:0", [6, 4]), tensor("dense/bias:0", [4]),
                       tensor("dense_1/bias:0", [4]), tensor("dense_2/kernel:0", [4, 3]), tensor("dense_2/bias:0", [3])]
        for defaultLayout in [WeightLayout.inOut, .outIn] {
            let binding = try bind(tensors, "linear(6,4) relu linear(4,4) relu linear(4,3) softmax", defaultLayout: defaultLayout)
            XCTAssertEqual(weightNames(binding.model), ["dense/kernel:0", "dense_1/kernel:0", "dense_2/kernel:0"])
            XCTAssertEqual(layout(binding.model, "dense/kernel:0"), "in_out/shape")
            // The square kernel follows the kernel convention ([in, out]) whatever the file's default.
            XCTAssertEqual(layout(binding.model, "dense_1/kernel:0"), "in_out/convention")
        }
        let keras3 = [tensor("layers/dense/vars/0", [6, 4]), tensor("layers/dense/vars/1", [4]),
                      tensor("layers/dense_1/vars/0", [4, 3]), tensor("layers/dense_1/vars/1", [3])]
        let binding = try bind(keras3, "linear(6,4) relu linear(4,3)", defaultLayout: .inOut)
        XCTAssertEqual(binding.method, .names)
        XCTAssertEqual(weightNames(binding.model), ["layers/dense/vars/0", "layers/dense_1/vars/0"])
        XCTAssertEqual(binding.model.layers[0].parameters["bias"], "layers/dense/vars/1")
    }

    // MARK: - Shapes

    func test_B3_shapeChainingWhenNamesFollowNoConvention() throws {
        let tensors = [tensor("out_w", [2, 3]), tensor("hidden", [4, 3]), tensor("first", [5, 4]),
                       tensor("b_first", [4]), tensor("b_hidden", [3]), tensor("b_out", [2])]
        let binding = try bind(tensors, "linear(5,4) relu linear(4,3) relu linear(3,2)")
        XCTAssertEqual(binding.method, .shapes)
        XCTAssertEqual(weightNames(binding.model), ["first", "hidden", "out_w"])
        XCTAssertEqual(binding.model.layers.compactMap { $0.parameters["bias"] }, ["b_first", "b_hidden", "b_out"])
        XCTAssertEqual(layout(binding.model, "first"), "in_out/shape")
        XCTAssertEqual(layout(binding.model, "hidden"), "in_out/shape")
        XCTAssertEqual(layout(binding.model, "out_w"), "out_in/shape")
        XCTAssertTrue(binding.notes.contains { $0.contains("first") && $0.contains("not the pytorch convention") }, "\(binding.notes)")
    }

    func test_B3_shapeChainingBreaksTiesInNaturalOrder() throws {
        let tensors = [tensor("w10", [3, 3]), tensor("w2", [3, 3]), tensor("b10", [3]), tensor("b2", [3])]
        let binding = try bind(tensors, "linear(3,3) relu linear(3,3)")
        XCTAssertEqual(weightNames(binding.model), ["w2", "w10"])
        XCTAssertEqual(binding.model.layers.compactMap { $0.parameters["bias"] }, ["b2", "b10"])
    }

    func test_B3_shapeChainingReportsLeftoversAndMissingWeights() {
        let extra = [tensor("w", [3, 4]), tensor("b", [3]), tensor("bn.num_batches_tracked", [], dtype: .int64)]
        XCTAssertThrowsError(try bind(extra, "linear(4,3)")) { error in
            XCTAssertEqual(error as? WeightBindingError, .unusedTensors(["bn.num_batches_tracked []"]))
            XCTAssertTrue("\(error)".contains("does not use 1 tensor of the file: bn.num_batches_tracked []"), "\(error)")
        }
        XCTAssertThrowsError(try bind([tensor("w", [3, 4]), tensor("b", [3]), tensor("other", [7, 7])], "linear(4,3) relu linear(3,2)")) { error in
            XCTAssertTrue("\(error)".contains("layer fc2 linear(3,2): no unused tensor has shape [2, 3] or [3, 2]; unused tensors: other [7, 7]"), "\(error)")
        }
    }

    // MARK: - Layouts

    func test_B4_squareWeightsFollowTheSourceConvention() throws {
        let tensors = [tensor("0.weight", [3, 3]), tensor("0.bias", [3])]
        XCTAssertEqual(layout(try bind(tensors, "linear(3,3)", defaultLayout: .outIn).model, "0.weight"), "out_in/convention")
        XCTAssertEqual(layout(try bind(tensors, "linear(3,3)", defaultLayout: .inOut).model, "0.weight"), "in_out/convention")
        XCTAssertEqual(layout(try bind(tensors, "linear(3,3)", override: .inOut).model, "0.weight"), "in_out/declared")
        let notes = try bind(tensors, "linear(3,3)").notes
        XCTAssertTrue(notes.contains { $0.contains("square [3, 3]") && $0.contains("out_in, the pytorch convention") }, "\(notes)")
    }

    func test_B5_declaredLayoutMustFitAndTransposedWeightsAreExplained() throws {
        let tensors = [tensor("0.weight", [200, 400]), tensor("0.bias", [200]), tensor("2.weight", [2, 200]), tensor("2.bias", [2])]
        XCTAssertEqual(layout(try bind(tensors, "linear(400,200) relu linear(200,2)", override: .outIn).model, "2.weight"), "out_in/declared")
        XCTAssertThrowsError(try bind(tensors, "linear(400,200) relu linear(200,2)", override: .inOut)) { error in
            XCTAssertEqual(error as? WeightBindingError,
                           .weightShapeMismatch(layer: "fc1", token: "linear(400,200)", tensor: "0.weight", actual: [200, 400],
                                                expected: [400, 200], layout: .inOut, declared: true, looksTransposed: true))
            XCTAssertEqual("\(error)", "layer fc1 linear(400,200): weight '0.weight' has shape [200, 400], but in the declared in_out "
                           + "layout [in, out] it must be [400, 200]; it looks transposed: the file stores [out, in], so pass --weight-layout out-in")
        }
        // Shape chaining with a declared layout explains a transposed weight the same way.
        let unnamed = [tensor("a", [200, 400]), tensor("b", [200])]
        XCTAssertThrowsError(try bind(unnamed, "linear(400,200)", override: .inOut)) { error in
            XCTAssertTrue("\(error)".contains("it looks transposed"), "\(error)")
            XCTAssertTrue("\(error)".contains("--weight-layout out-in"), "\(error)")
        }
    }

    func test_B5_wrongSizesInTheArchitectureAreExplained() {
        let tensors = [tensor("0.weight", [200, 400]), tensor("0.bias", [200]), tensor("2.weight", [2, 200]), tensor("2.bias", [2])]
        XCTAssertThrowsError(try bind(tensors, "linear(400,300) relu linear(300,2)")) { error in
            XCTAssertEqual("\(error)", "layer fc1 linear(400,300): weight '0.weight' has shape [200, 400], which fits neither "
                           + "[out, in] nor [in, out] of linear(400,300); check the sizes in --arch (or the layer order)")
        }
        XCTAssertNoThrow(try bind(tensors, "linear(400,200) relu linear(200,2)", override: .outIn))
    }

    // MARK: - Counts and biases

    func test_B6_weightCountMismatchListsTheTensors() {
        let tensors = [tensor("0.weight", [3, 4]), tensor("0.bias", [3]), tensor("2.weight", [2, 3]), tensor("2.bias", [2])]
        XCTAssertThrowsError(try bind(tensors, "linear(4,3)")) { error in
            XCTAssertEqual("\(error)", "the architecture has 1 linear layer (linear(4,3)) but the file has 2 weight tensors: "
                           + "0.weight [3, 4], 2.weight [2, 3]; make --arch list one linear(IN,OUT) per weight")
        }
        XCTAssertThrowsError(try bind(tensors, "linear(4,3) relu linear(3,2) relu linear(2,2)")) { error in
            XCTAssertTrue("\(error)".hasPrefix("the architecture has 3 linear layers (linear(4,3) linear(3,2) linear(2,2)) but the file has 2"), "\(error)")
        }
    }

    func test_B6_biasRules() throws {
        XCTAssertThrowsError(try bind([tensor("0.weight", [3, 4])], "linear(4,3)")) { error in
            XCTAssertTrue("\(error)".contains("layer fc1 linear(4,3): the architecture gives it a bias, but the file has none"), "\(error)")
            XCTAssertTrue("\(error)".contains("linear(IN,OUT,bias=false)"), "\(error)")
        }
        let noBias = try bind([tensor("0.weight", [3, 4])], "linear(4,3,bias=false)")
        XCTAssertNil(noBias.model.layers[0].parameters["bias"])
        XCTAssertThrowsError(try bind([tensor("0.weight", [3, 4]), tensor("0.bias", [3])], "linear(4,3,bias=false)")) { error in
            XCTAssertEqual(error as? WeightBindingError, .unexpectedBias(layer: "fc1", token: "linear(4,3,bias=false)", tensor: "0.bias"))
        }
        XCTAssertThrowsError(try bind([tensor("0.weight", [3, 4]), tensor("0.bias", [4])], "linear(4,3)")) { error in
            XCTAssertEqual("\(error)", "layer fc1 linear(4,3): bias '0.bias' has shape [4], but it must be [3] (the output size)")
        }
        XCTAssertThrowsError(try bind([tensor("0.bias", [3])], "linear(4,3)")) { error in
            XCTAssertTrue("\(error)".contains("bias '0.bias' has no weight"), "\(error)")
        }
        XCTAssertThrowsError(try bind([tensor("fc.weight", [3, 4]), tensor("fc.kernel", [4, 3])], "linear(4,3)")) { error in
            XCTAssertTrue("\(error)".contains("two weights, 'fc.weight' and 'fc.kernel'"), "\(error)")
        }
    }

    func test_B5_weightsMustBeFloatingPointMatrices() {
        XCTAssertThrowsError(try bind([tensor("0.weight", [3, 4], dtype: .int32), tensor("0.bias", [3])], "linear(4,3)")) { error in
            XCTAssertEqual(error as? WeightBindingError, .notFloatingPoint(tensor: "0.weight", dtype: .int32))
        }
        XCTAssertThrowsError(try bind([tensor("0.weight", [3, 4, 1]), tensor("0.bias", [3])], "linear(4,3)")) { error in
            XCTAssertEqual(error as? WeightBindingError, .weightNotMatrix(layer: "fc1", tensor: "0.weight", actual: [3, 4, 1]))
        }
    }

    func test_B7_activationLayersCarryTheirAttributes() throws {
        let tensors = [tensor("0.weight", [3, 4]), tensor("0.bias", [3]), tensor("4.weight", [2, 3]), tensor("4.bias", [2])]
        let model = try bind(tensors, "linear(4,3) leakyrelu(0.2) dropout(0.1) linear(3,2) gelu(tanh) logsoftmax").model
        XCTAssertEqual(model.layers.map(\.name), ["fc1", "leaky_relu1", "dropout1", "fc2", "gelu2", "log_softmax2"])
        XCTAssertEqual(model.layers[1].alpha, 0.2)
        XCTAssertEqual(model.layers[2].attributes["rate"]?.doubleValue, 0.1)
        XCTAssertTrue(model.layers[4].usesTanhApproximation)
        XCTAssertEqual(model.layers[5].axis, -1)
        // Tensor values are the file's (views, not copies).
        XCTAssertEqual(model.tensor(named: "4.weight")?.tensor.floatValues(), tensors[2].tensor.floatValues())
    }
}
