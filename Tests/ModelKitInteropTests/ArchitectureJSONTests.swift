import ModelKitCore
import ModelKitInterop
import ModelKitTestSupport
import XCTest

/// The JSON list form of `--arch`, `Architecture(model:)`, and how `--arch` values are told apart.
final class ArchitectureJSONTests: XCTestCase {
    typealias Dense = Architecture.Dense

    let exampleJSON = #"[{"type":"dense","in":400,"out":200,"activation":"relu"},{"type":"dense","in":200,"out":100,"activation":"relu"},{"type":"dense","in":100,"out":2,"activation":"softmax"}]"#

    func test_A4_exampleListForm() throws {
        let architecture = try Architecture(jsonText: exampleJSON)
        XCTAssertEqual(architecture, try Architecture(parsing: "linear(400,200) relu linear(200,100) relu linear(100,2) softmax"))
        XCTAssertEqual(architecture.jsonText, exampleJSON)
    }

    func test_A4_everyActivationAndParameterRoundTrips() throws {
        let architecture = try Architecture(layers: [
            Dense(inputFeatures: 16, outputFeatures: 32, activations: [.leakyRelu(alpha: 0.1)]),
            Dense(inputFeatures: 32, outputFeatures: 32, activations: [.gelu(tanhApproximation: false)]),
            Dense(inputFeatures: 32, outputFeatures: 24, activations: [.gelu(tanhApproximation: true)]),
            Dense(inputFeatures: 24, outputFeatures: 24, hasBias: false, activations: [.silu]),
            Dense(inputFeatures: 24, outputFeatures: 20, activations: [.sigmoid, .tanh]),
            Dense(inputFeatures: 20, outputFeatures: 12, activations: [.identity, .dropout(rate: 0.5)]),
            Dense(inputFeatures: 12, outputFeatures: 10, activations: [.relu, .logSoftmax]),
            Dense(inputFeatures: 10, outputFeatures: 3),
            Dense(inputFeatures: 3, outputFeatures: 3, activations: [.softmax]),
        ])
        XCTAssertEqual(try Architecture(jsonText: architecture.jsonText), architecture)
        XCTAssertEqual(try Architecture(parsing: architecture.description), architecture)
        let text = architecture.jsonText
        XCTAssertTrue(text.contains(#"{"type":"dense","in":16,"out":32,"activation":"leaky_relu","alpha":0.1}"#), text)
        XCTAssertTrue(text.contains(#"{"type":"dense","in":32,"out":24,"activation":"gelu","approximate":"tanh"}"#), text)
        XCTAssertTrue(text.contains(#"{"type":"dense","in":24,"out":24,"bias":false,"activation":"silu"}"#), text)
        XCTAssertTrue(text.contains(#"{"type":"dense","in":20,"out":12,"activation":"identity"},{"type":"dropout","rate":0.5}"#), text)
        XCTAssertTrue(text.contains(#"{"type":"dense","in":10,"out":3,"activation":"none"}"#), text)
    }

    func test_A4_activationSpellingsAndNone() throws {
        let architecture = try Architecture(jsonText: """
            [{"type": "linear", "in": 4, "out": 3, "activation": "LeakyReLU"},
             {"type": "dense", "in": 3, "out": 3, "activation": null},
             {"type": "dense", "in": 3, "out": 3},
             {"type": "dense", "in": 3, "out": 2, "activation": "none"},
             {"type": "logsoftmax"}]
            """)
        XCTAssertEqual(architecture.layers.map(\.activations), [[.leakyRelu(alpha: 0.01)], [], [], [.logSoftmax]])
    }

    func test_A5_errorsNameTheElement() {
        let cases: [(String, Int?, String)] = [
            (#"{"type":"dense"}"#, nil, "must be a JSON list"),
            (#"[1]"#, 1, "is a number, not an object"),
            (#"[{"in":4,"out":2}]"#, 1, "no \"type\""),
            (#"[{"type":"dense","in":4}]"#, 1, "needs \"out\""),
            (#"[{"type":"dense","in":4,"ouput":2,"out":2}]"#, 1, "unknown key \"ouput\""),
            (#"[{"type":"dense","in":4,"out":2,"activation":"relu","alpha":0.1}]"#, 1, "unknown key \"alpha\""),
            (#"[{"type":"dense","in":4,"out":2,"activation":"mish"}]"#, 1, "unknown activation \"mish\""),
            (#"[{"type":"dense","in":4,"out":2,"activation":7}]"#, 1, "must be a string"),
            (#"[{"type":"dense","in":-4,"out":2}]"#, 1, "\"in\" must be a whole number"),
            (#"[{"type":"dense","in":4.5,"out":2}]"#, 1, "\"in\" must be a whole number"),
            (#"[{"type":"dense","in":4,"out":2,"bias":"no"}]"#, 1, "\"bias\" must be true or false"),
            (#"[{"type":"dense","in":4,"out":3},{"type":"dense","in":2,"out":1}]"#, 2, "\"in\" is 2, but the dense layer before it has \"out\" 3"),
            (#"[{"type":"relu"},{"type":"dense","in":4,"out":2}]"#, 1, "applies to the dense layer before it"),
            (#"[{"type":"dense","in":4,"out":2},{"type":"dropout","rate":2}]"#, 2, "\"rate\" 2.0 is not between 0 and 1"),
            (#"[{"type":"dense","in":4,"out":2,"activation":"gelu","approximate":"fast"}]"#, 1, "\"approximate\" must be"),
            (#"[{"type":"dense","in":4,"out":2,"activation":"leaky_relu","alpha":"big"}]"#, 1, "\"alpha\" must be a finite number"),
            (#"[{"type":"conv2d"}]"#, 1, "unknown activation \"conv2d\""),
            (#"[]"#, nil, "at least one linear layer"),
            (#"[{"type":"dense","in":4,"out":2}"#, nil, "not valid JSON"),
        ]
        for (text, element, phrase) in cases {
            XCTAssertThrowsError(try Architecture(jsonText: text, source: "arch.json"), text) { error in
                guard case .json(let source, let actualElement, let reason) = error as? ArchitectureError else {
                    return XCTFail("\(text): \(error)")
                }
                XCTAssertEqual(source, "arch.json")
                XCTAssertEqual(actualElement, element, text)
                XCTAssertTrue(reason.contains(phrase), "\(text): \(reason)")
                XCTAssertFalse(String(describing: error).contains("\n"))
            }
        }
    }

    func test_A6_fromArgumentTellsTheFormsApart() throws {
        let expected = try Architecture(jsonText: exampleJSON)
        XCTAssertEqual(try Architecture.fromArgument("linear(400,200) relu linear(200,100) relu linear(100,2) softmax"), expected)
        XCTAssertEqual(try Architecture.fromArgument("  " + exampleJSON), expected)
        let folder = try FixturePaths.scratchDirectory(for: self)
        let path = folder + "/arch.JSON"
        try FixturePaths.write(Array(exampleJSON.utf8), to: path)
        XCTAssertEqual(try Architecture.fromArgument(path), expected)
        XCTAssertThrowsError(try Architecture.fromArgument(folder + "/missing.json")) { error in
            guard case .cannotRead(let errorPath, _) = error as? ArchitectureError else { return XCTFail("\(error)") }
            XCTAssertEqual(errorPath, folder + "/missing.json")
        }
        try FixturePaths.write(Array("[{\"type\": \"dense\"".utf8), to: path)
        XCTAssertThrowsError(try Architecture.fromArgument(path)) { error in
            XCTAssertTrue("\(error)".hasPrefix(path + ": not valid JSON"), "\(error)")
        }
    }

    func test_A7_describesAModel() throws {
        let model = SampleModels.dense([5, 4, 4, 3], layout: .inOut)
        let architecture = try Architecture(model: model)
        XCTAssertEqual(architecture.description, "linear(5,4) relu linear(4,4) relu linear(4,3) softmax")
        let outIn = SampleModels.dense([5, 4, 3], layout: .outIn, finalActivation: nil)
        XCTAssertEqual(try Architecture(model: outIn).description, "linear(5,4) relu linear(4,3)")
    }

    func test_A7_describesActivationAttributes() throws {
        var model = SampleModels.dense([3, 2], finalActivation: nil)
        model.layers.append(Layer(name: "act", kind: .leakyRelu, attributes: JSONObject([("alpha", .double(0.2))])))
        model.layers.append(Layer(name: "gelu", kind: .gelu, attributes: JSONObject([("approximate", .string("tanh"))])))
        model.layers.append(Layer(name: "drop", kind: .dropout, attributes: JSONObject([("rate", .double(0.1))])))
        model.layers.append(Layer(name: "out", kind: .logSoftmax, attributes: JSONObject([("axis", .integer(1))])))
        XCTAssertEqual(try Architecture(model: model).description, "linear(3,2) leakyrelu(0.2) gelu(tanh) dropout(0.1) logsoftmax")
    }

    func test_A7_modelsThatCannotBeDescribed() {
        var leading = SampleModels.dense([3, 2])
        leading.layers.insert(Layer(name: "pre", kind: .relu), at: 0)
        XCTAssertThrowsError(try Architecture(model: leading)) { error in
            XCTAssertEqual("\(error)", "cannot describe the model as an architecture: layer 'pre': relu comes before the first dense layer; an architecture starts with a linear layer")
        }
        var axis = SampleModels.dense([3, 2], finalActivation: nil)
        axis.layers.append(Layer(name: "sm", kind: .softmax, attributes: JSONObject([("axis", .integer(0))])))
        XCTAssertThrowsError(try Architecture(model: axis)) { XCTAssertTrue("\($0)".contains("softmax over axis 0"), "\($0)") }
        var untagged = SampleModels.dense([3, 2])
        untagged.updateTensors { $0.layout = nil }
        XCTAssertThrowsError(try Architecture(model: untagged)) { XCTAssertTrue("\($0)".contains("no layout tag"), "\($0)") }
    }
}
