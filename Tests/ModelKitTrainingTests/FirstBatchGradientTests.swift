import ModelKit
import ModelKitTestSupport
import XCTest

/// `Specs/training.md` TR-GRAD-TORCH: the gradients of the first batch at the initial weights match torch's
/// (`Fixtures/expected/training/gradients/<run>.json`), in each parameter's own shape and layout.
final class FirstBatchGradientTests: XCTestCase {
    func testFirstBatchGradients_exampleCESGD() throws { try checkGradients("example-ce-sgd") }
    func testFirstBatchGradients_regressionMSEAdam() throws { try checkGradients("regression-mse-adam") }
    func testFirstBatchGradients_sseHalfSGD() throws { try checkGradients("sse-half-sgd") }
    func testFirstBatchGradients_bceAdamCosineClip() throws { try checkGradients("bce-adam-cosine-clip") }

    private func checkGradients(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let fixture = try TrainingFixture(name)
        let expected = try TrainingFixture.model("expected/training/gradients/\(name).json")
        let trainer = try Trainer(model: fixture.model, configuration: fixture.configuration)
        let batch = fixture.configuration.batchSize
        let features = fixture.data.features
        let inputs = Array(fixture.data.inputs[0..<(batch * features)])
        let targets: TrainingTargets
        switch fixture.data.targets {
        case .classes(let ids): targets = .classes(Array(ids[0..<batch]))
        case .values(let values, let columns): targets = .values(Array(values[0..<(batch * columns)]), columns: columns)
        }
        try trainer.forward(inputs, rows: batch)
        let loss = try trainer.computeLoss(targets: targets)
        XCTAssertEqual(loss.loss, try XCTUnwrap(fixture.numbers("step_losses")?.first), accuracy: 1e-5 * max(1, loss.loss),
                       file: file, line: line)
        trainer.backward()
        let gradients = trainer.gradients
        XCTAssertEqual(Set(gradients.map(\.name)), Set(expected.tensors.map(\.name)), file: file, line: line)
        for reference in expected.tensors {
            let actual = try XCTUnwrap(gradients.first { $0.name == reference.name })
            XCTAssertEqual(actual.tensor.shape, reference.tensor.shape, "∇\(reference.name) shape", file: file, line: line)
            XCTAssertEqual(actual.layout, reference.layout, "∇\(reference.name) layout", file: file, line: line)
            assertCloseScaled(actual.tensor.floatValues(), reference.tensor.floatValues(), relative: 1e-5,
                              "\(name) ∇\(reference.name)", file: file, line: line)
        }
    }
}
