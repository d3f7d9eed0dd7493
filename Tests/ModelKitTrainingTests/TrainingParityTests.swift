import ModelKit
import ModelKitTestSupport
import XCTest

/// `Specs/training.md` TR-PARITY: every run in `Fixtures/expected/training` reproduces torch's per-step losses,
/// learning rates, clip norms, epoch means and final weights.
final class TrainingParityTests: XCTestCase {
    func testParity_exampleCESGD() throws { try checkRun("example-ce-sgd") }
    func testParity_regressionMSEAdam() throws { try checkRun("regression-mse-adam") }
    func testParity_classifyAdamW() throws { try checkRun("classify-adamw") }
    func testParity_classifySGDNesterov() throws { try checkRun("classify-sgd-nesterov") }
    func testParity_classifySGDDampening() throws { try checkRun("classify-sgd-dampening") }
    func testParity_exampleFrozenFirst() throws { try checkRun("example-frozen-first", frozenUnchanged: ["fc1.weight", "fc1.bias"]) }
    func testParity_sseHalfSGD() throws { try checkRun("sse-half-sgd") }
    func testParity_bceAdamCosineClip() throws { try checkRun("bce-adam-cosine-clip") }
    func testParity_softTargetsWarmupL2() throws { try checkRun("soft-targets-warmup-step-l2") }
    func testParity_stepSchedule() throws { try checkRun("step-schedule") }

    /// Every run directory has a test above (a new fixture run must get one).
    func testParity_everyFixtureRunIsCovered() throws {
        let directory = try FixturePaths.require("expected/training")
        let runs = try FileManager.default.contentsOfDirectory(atPath: directory).filter {
            FileManager.default.fileExists(atPath: directory + "/" + $0 + "/run.json")
        }
        let covered: Set = ["example-ce-sgd", "regression-mse-adam", "classify-adamw", "classify-sgd-nesterov",
                            "classify-sgd-dampening", "example-frozen-first", "sse-half-sgd", "bce-adam-cosine-clip",
                            "soft-targets-warmup-step-l2", "step-schedule"]
        XCTAssertEqual(Set(runs), covered)
    }

    private func checkRun(_ name: String, frozenUnchanged: [String] = [],
                          file: StaticString = #filePath, line: UInt = #line) throws {
        let fixture = try TrainingFixture(name)
        let trainer = try Trainer(model: fixture.model, configuration: fixture.configuration)
        XCTAssertEqual(trainer.fusedFinalLayer != nil, fixture.run["fused_final_layer"].map { !$0.isNull } ?? false,
                       "fused final layer", file: file, line: line)
        if let trained = fixture.run["trained_layers"]?.arrayValue?.compactMap(\.stringValue) {
            XCTAssertEqual(trainer.trainedLayers, trained, file: file, line: line)
        }
        var steps: [StepResult] = []
        let epochs = try trainer.train(fixture.data) { steps.append($0); return true }
        XCTAssertEqual(epochs.count, fixture.configuration.epochs, file: file, line: line)

        let expectedLosses = try XCTUnwrap(fixture.numbers("step_losses"))
        assertRelativelyClose(steps.map(\.loss), expectedLosses, relative: 1e-5, "\(name) step_losses", file: file, line: line)
        assertRelativelyClose(steps.map(\.learningRate), try XCTUnwrap(fixture.numbers("step_lrs")), relative: 1e-12,
                              "\(name) step_lrs", file: file, line: line)
        if let dataLosses = fixture.numbers("step_data_losses") {
            assertRelativelyClose(steps.map(\.dataLoss), dataLosses, relative: 1e-5, "\(name) step_data_losses", file: file, line: line)
        }
        if let norms = fixture.numbers("step_grad_norms_before_clip") {
            assertRelativelyClose(steps.compactMap(\.gradientNormBeforeClip), norms, relative: 1e-5,
                                  "\(name) step_grad_norms_before_clip", file: file, line: line)
        }
        assertRelativelyClose(trainer.state.epochMeanLosses, try XCTUnwrap(fixture.numbers("epoch_mean_losses")),
                              relative: 1e-5, "\(name) epoch_mean_losses", file: file, line: line)
        XCTAssertEqual(trainer.state.stepLosses, steps.map(\.loss), file: file, line: line)

        let final = try TrainingFixture.model("expected/training/\(name)/final.json")
        let trained = trainer.model
        XCTAssertEqual(trained.layers.map(\.name), final.layers.map(\.name), file: file, line: line)
        for expected in final.tensors {
            let actual = try XCTUnwrap(trained.tensor(named: expected.name), "missing \(expected.name)")
            XCTAssertEqual(actual.tensor.shape, expected.tensor.shape, expected.name, file: file, line: line)
            XCTAssertEqual(actual.layout, expected.layout, expected.name, file: file, line: line)
            assertCloseScaled(actual.tensor.floatValues(), expected.tensor.floatValues(), relative: 1e-4,
                              "\(name) final \(expected.name)", file: file, line: line)
        }
        for tensorName in frozenUnchanged {
            let before = try XCTUnwrap(fixture.model.tensor(named: tensorName))
            let after = try XCTUnwrap(trained.tensor(named: tensorName))
            XCTAssertEqual(after.tensor.floatValues(), before.tensor.floatValues(), "\(tensorName) must stay bit-identical",
                           file: file, line: line)
            XCTAssertFalse(trainer.parameterNames.contains(tensorName), file: file, line: line)
            XCTAssertFalse(trainer.optimizerState.tensors.contains { $0.name.hasPrefix(tensorName + ".") }, file: file, line: line)
        }
    }
}
