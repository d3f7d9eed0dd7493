import ModelKitCore
import ModelKitInterop
import XCTest

/// The string form of `--arch` (Specs/interop/architecture.md, "String form").
final class ArchitectureParserTests: XCTestCase {
    typealias Dense = Architecture.Dense

    func test_A1_exampleArchitecture() throws {
        let text = "linear(400,200) relu linear(200,100) relu linear(100,2) softmax"
        let architecture = try Architecture(parsing: text)
        XCTAssertEqual(architecture.layers, [
            Dense(inputFeatures: 400, outputFeatures: 200, activations: [.relu]),
            Dense(inputFeatures: 200, outputFeatures: 100, activations: [.relu]),
            Dense(inputFeatures: 100, outputFeatures: 2, activations: [.softmax]),
        ])
        XCTAssertEqual(architecture.description, text)
        XCTAssertEqual(architecture.sequentialIndices, [0, 2, 4])
        XCTAssertEqual(architecture.inputFeatures, 400)
        XCTAssertEqual(architecture.outputFeatures, 2)
    }

    func test_A2_everyActivationToken() throws {
        let cases: [(String, Architecture.Activation)] = [
            ("relu", .relu), ("RELU", .relu),
            ("leakyrelu(0.2)", .leakyRelu(alpha: 0.2)), ("leaky_relu(0.2)", .leakyRelu(alpha: 0.2)),
            ("LeakyReLU(1e-3)", .leakyRelu(alpha: 0.001)), ("leakyrelu", .leakyRelu(alpha: 0.01)),
            ("sigmoid", .sigmoid), ("tanh", .tanh),
            ("gelu", .gelu(tanhApproximation: false)), ("gelu(tanh)", .gelu(tanhApproximation: true)),
            ("gelu(none)", .gelu(tanhApproximation: false)),
            ("silu", .silu), ("swish", .silu), ("softmax", .softmax), ("softmax()", .softmax),
            ("logsoftmax", .logSoftmax), ("log_softmax", .logSoftmax), ("identity", .identity),
            ("dropout(0.25)", .dropout(rate: 0.25)), ("dropout", .dropout(rate: 0.5)), ("dropout(0)", .dropout(rate: 0)),
        ]
        for (token, expected) in cases {
            let architecture = try Architecture(parsing: "linear(3,2) \(token)")
            XCTAssertEqual(architecture.layers[0].activations, [expected], token)
            // The string form reads back to the same architecture.
            XCTAssertEqual(try Architecture(parsing: architecture.description), architecture, token)
        }
    }

    func test_A2_affineLayersAndSeveralActivations() throws {
        let architecture = try Architecture(parsing: "linear(4,3) linear(3,20) identity dropout(0.5) linear(20,2)")
        XCTAssertEqual(architecture.layers.map(\.activations), [[], [.identity, .dropout(rate: 0.5)], []])
        XCTAssertEqual(architecture.sequentialIndices, [0, 1, 4])
        XCTAssertEqual(architecture.description, "linear(4,3) linear(3,20) identity dropout(0.5) linear(20,2)")
    }

    func test_A1_separatorsAndSpaces() throws {
        let expected = try Architecture(parsing: "linear(4,3) relu linear(3,2) softmax")
        for text in ["linear(4, 3) -> relu, linear( 3 ,2 ); softmax", "linear(4,3)→relu→linear(3,2)→softmax",
                     "  linear (4,3)\trelu\nlinear(3,2)  softmax  "] {
            XCTAssertEqual(try Architecture(parsing: text), expected, text)
        }
    }

    func test_A1_denseAliasAndBiasFlag() throws {
        let architecture = try Architecture(parsing: "dense(4,3,bias=false) relu linear(3,2,nobias) linear(2,2,bias=true)")
        XCTAssertEqual(architecture.layers.map(\.hasBias), [false, false, true])
        XCTAssertEqual(architecture.description, "linear(4,3,bias=false) relu linear(3,2,bias=false) linear(2,2)")
    }

    func test_A3_errorsNameTheTokenAndPosition() {
        let cases: [(String, Int, String, String)] = [
            ("linear(400,200) relu lineer(200,100)", 3, "lineer(200,100)", "unknown layer 'lineer'"),
            ("relu linear(4,2)", 1, "relu", "applies to the linear layer before it"),
            ("linear(400,200) relu linear(150,2)", 3, "linear(150,2)", "takes 150 inputs, but the linear layer before it (token 1 'linear(400,200)') gives 200 outputs"),
            ("linear(400)", 1, "linear(400)", "needs its sizes"),
            ("linear relu", 1, "linear", "needs its sizes"),
            ("linear(0,2)", 1, "linear(0,2)", "input size '0'"),
            ("linear(4,x)", 1, "linear(4,x)", "output size 'x'"),
            ("linear(4,99999999999)", 1, "linear(4,99999999999)", "output size"),
            ("linear(4,2) relu(3)", 2, "relu(3)", "takes no arguments"),
            ("linear(4,2) dropout(1.5)", 2, "dropout(1.5)", "between 0 and 1"),
            ("linear(4,2) leakyrelu(abc)", 2, "leakyrelu(abc)", "not a finite number"),
            ("linear(4,2) leakyrelu(nan)", 2, "leakyrelu(nan)", "not a finite number"),
            ("linear(4,2) leakyrelu(0.1,0.2)", 2, "leakyrelu(0.1,0.2)", "takes one argument"),
            ("linear(4,2) gelu(fast)", 2, "gelu(fast)", "tanh"),
            ("linear(4,2,bias=maybe)", 1, "linear(4,2,bias=maybe)", "bias=false"),
            ("linear(4,2) relu linear(2,2", 3, "linear(2,2", "never closed"),
            ("linear(4,2)) relu", 2, ")", "unexpected ')'"),
            ("linear(4,2) relu)", 2, "relu)", "without a matching '('"),
            ("linear(4,(2))", 1, "linear(4,(2)", "cannot nest"),
        ]
        for (text, position, token, phrase) in cases {
            XCTAssertThrowsError(try Architecture(parsing: text), text) { error in
                guard case .syntax(let actualToken, let actualPosition, _, let reason) = error as? ArchitectureError else {
                    return XCTFail("\(text): \(error)")
                }
                XCTAssertEqual(actualPosition, position, text)
                XCTAssertEqual(actualToken, token, text)
                XCTAssertTrue(reason.contains(phrase), "\(text): \(reason)")
                let description = String(describing: error)
                XCTAssertTrue(description.contains("token \(position) '\(token)'"), description)
                XCTAssertFalse(description.contains("\n"), description)
            }
        }
    }

    func test_A3_errorColumnPointsAtTheToken() {
        XCTAssertThrowsError(try Architecture(parsing: "linear(400,200) relu lineer(200,100)")) { error in
            guard case .syntax(_, _, let column, _) = error as? ArchitectureError else { return XCTFail("\(error)") }
            XCTAssertEqual(column, 22)
            XCTAssertTrue(String(describing: error).hasPrefix("architecture: token 3 'lineer(200,100)' (column 22): unknown layer"))
        }
    }

    func test_A3_emptyArchitecture() {
        for text in ["", "   ", " , -> "] {
            XCTAssertThrowsError(try Architecture(parsing: text)) { error in
                XCTAssertTrue(String(describing: error).contains("empty"), "\(error)")
            }
        }
    }

    func test_A3_programmaticArchitectureChecksTheChain() {
        XCTAssertThrowsError(try Architecture(layers: [])) { XCTAssertTrue("\($0)".contains("at least one")) }
        XCTAssertThrowsError(try Architecture(layers: [Dense(inputFeatures: 4, outputFeatures: 3),
                                                       Dense(inputFeatures: 2, outputFeatures: 1)])) { error in
            XCTAssertEqual("\(error)", "architecture: linear 2 linear(2,1) takes 2 inputs, but linear 1 linear(4,3) gives 3 outputs")
        }
        XCTAssertThrowsError(try Architecture(layers: [Dense(inputFeatures: 0, outputFeatures: 3)]))
    }
}
