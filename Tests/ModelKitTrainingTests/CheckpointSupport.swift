import Foundation
import ModelKit
import ModelKitTestSupport
import XCTest

/// Shared pieces of the checkpoint tests: the example model and data, a short training run, byte comparisons and
/// the location of a tensor's stored bytes in a `.mkit` file.
enum CheckpointSupport {
    static func exampleModel() throws -> Model {
        try ModelFile.read(path: try FixturePaths.require("models/example/example.mkit")).model
    }

    static func teacherData() throws -> TrainingData {
        try TrainingFixture.data(try FixturePaths.require("models/training/example-teacher.npz"))
    }

    /// Cross-entropy, batch 50, shuffled with a seed: 10 steps per epoch over the 500 teacher rows.
    static func configuration(_ optimizer: OptimizerConfiguration, epochs: Int = 3) -> TrainingConfiguration {
        TrainingConfiguration(loss: .crossEntropy, optimizer: optimizer, batchSize: 50, shuffle: true, seed: 20_261_123,
                              epochs: epochs)
    }

    /// A trainer that has run `steps` steps of `configuration` on the teacher data.
    static func trainer(_ configuration: TrainingConfiguration, steps: Int) throws -> (Trainer, TrainingData) {
        let data = try teacherData()
        let trainer = try Trainer(model: try exampleModel(), configuration: configuration)
        if steps > 0 { try trainer.train(data) { _ in trainer.state.globalStep < steps } }
        return (trainer, data)
    }

    /// A checkpoint after `steps` Adam steps.
    static func checkpoint(steps: Int = 3) throws -> Checkpoint {
        let (trainer, _) = try trainer(configuration(.adam(learningRate: 1e-3)), steps: steps)
        return Checkpoint(trainer: trainer, sourceModel: FileFingerprint(value: "0badcafe", byteCount: 403_720),
                          data: FileFingerprint(value: "12345678", byteCount: 1_000), notes: "modelkit finetune example.mkit")
    }

    /// Fails unless both models hold the same tensors (names, order, dtype, shape) with identical bytes.
    static func assertSameTensors(_ actual: [ModelTensor], _ expected: [ModelTensor], _ message: String,
                                  file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(actual.map(\.name), expected.map(\.name), "\(message): tensor names", file: file, line: line)
        for (a, e) in zip(actual, expected) {
            XCTAssertEqual(a.tensor.dtype, e.tensor.dtype, "\(message): dtype of \(a.name)", file: file, line: line)
            XCTAssertEqual(a.tensor.shape, e.tensor.shape, "\(message): shape of \(a.name)", file: file, line: line)
            if !a.tensor.bytes.elementsEqual(e.tensor.bytes) {
                let index = zip(a.tensor.bytes, e.tensor.bytes).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? -1
                XCTFail("\(message): bytes of \(a.name) differ (first at byte \(index))", file: file, line: line)
            }
        }
    }

    static func assertSameOptimizerState(_ actual: OptimizerState, _ expected: OptimizerState, _ message: String,
                                         file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(actual.kind, expected.kind, "\(message): kind", file: file, line: line)
        XCTAssertEqual(actual.steps, expected.steps, "\(message): steps", file: file, line: line)
        assertSameTensors(actual.tensors.map { ModelTensor(name: $0.name, tensor: $0.tensor) },
                          expected.tensors.map { ModelTensor(name: $0.name, tensor: $0.tensor) }, "\(message): optimizer",
                          file: file, line: line)
    }

    /// The absolute file offset and stored length of tensor `name` in the `.mkit` file `bytes` (read from the
    /// header as Specs/format.md lays it out).
    static func storedRange(of name: String, in bytes: [UInt8]) throws -> (offset: Int, length: Int) {
        var headerLength = 0
        for index in 0..<8 { headerLength |= Int(bytes[16 + index]) << (8 * index) }
        let header = try Array(bytes[32..<(32 + headerLength)]).withUnsafeBufferPointer { try JSONParser.parse($0) }
        let dataStart = (32 + headerLength + 63) / 64 * 64
        guard let tensor = header["tensors"]?.arrayValue?.first(where: { $0["name"]?.stringValue == name }),
              let offset = tensor["offset"]?.intValue, let length = tensor["length"]?.intValue else {
            throw XCTSkip("tensor \(name) not in the header")
        }
        return (dataStart + offset, length)
    }

    /// Writes a copy of `path` with one byte of tensor `name`'s stored bytes inverted.
    static func flipByte(of name: String, in path: String) throws {
        var bytes = try FixturePaths.bytes(path)
        let range = try storedRange(of: name, in: bytes)
        bytes[range.offset + range.length / 2] ^= 0xFF
        try FixturePaths.write(bytes, to: path)
    }
}
