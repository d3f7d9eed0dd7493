import Foundation
@testable import ModelKit
import ModelKitTestSupport
import XCTest

/// Specs/checkpoint.md section 2, K1–K7: one `.mkit` file that is also a model.
final class CheckpointFileTests: XCTestCase {
    func test_K01_checkpointFileIsAnOrdinaryModel() throws {
        let directory = try FixturePaths.scratchDirectory(for: self)
        let checkpoint = try CheckpointSupport.checkpoint()
        for compression in CheckpointCompression.allCases {
            let path = directory + "/\(compression.rawValue).mkit"
            try checkpoint.write(to: path, compression: compression)
            let loaded = try ModelIO.load(path)
            XCTAssertEqual(loaded.formatVersion, compression == .none ? "1.0" : "1.1", "\(compression)")
            XCTAssertEqual(loaded.model.layers.map(\.name), checkpoint.model.layers.map(\.name))
            let analysis = loaded.model.analyze()
            XCTAssertEqual(analysis.issues.filter { $0.severity == .error }.map(\.message), [], "\(compression)")
            XCTAssertTrue(loaded.model.tensors.contains { $0.name == "optimizer/fc1.weight.exp_avg" })
            // The model runs: the inference engine accepts the file's model with the extra tensors.
            _ = try InferenceSession(model: loaded.model)
        }
    }

    func test_K02_metadataHoldsTheCheckpointJSONInOrder() throws {
        let directory = try FixturePaths.scratchDirectory(for: self)
        let path = directory + "/c.mkit"
        try CheckpointSupport.checkpoint().write(to: path, compression: .none)
        let model = try ModelFile.read(path: path).model
        let text = try XCTUnwrap(model.info.metadata[Checkpoint.metadataKey])
        let json = try Array(text.utf8).withUnsafeBufferPointer { try JSONParser.parse($0) }
        XCTAssertEqual(json.objectValue?.keys, ["checkpoint_version", "training_state", "configuration", "optimizer",
                                                "source_model", "data", "notes"])
        XCTAssertEqual(json["checkpoint_version"]?.intValue, 1)
        XCTAssertEqual(json["training_state"]?["global_step"]?.intValue, 3)
        XCTAssertEqual(json["source_model"]?["algorithm"]?.stringValue, "crc32")

        let plain = directory + "/plain.mkit"
        try MKitWriter.write(try CheckpointSupport.exampleModel(), to: plain)
        XCTAssertThrowsError(try Checkpoint.read(from: plain)) { error in
            XCTAssertEqual((error as? CheckpointError)?.kind, .notACheckpoint)
            XCTAssertTrue("\(error)".contains("plain model"), "\(error)")
        }
    }

    func test_K03_optimizerBuffersUnderTheReservedPrefix() throws {
        let directory = try FixturePaths.scratchDirectory(for: self)
        let checkpoint = try CheckpointSupport.checkpoint()
        let file = try checkpoint.fileModel()
        let stored = file.tensors.filter { $0.name.hasPrefix("optimizer/") }
        XCTAssertEqual(stored.map(\.name), checkpoint.optimizerState.tensors.map { "optimizer/" + $0.name })
        XCTAssertTrue(stored.map(\.name).contains("optimizer/fc1.weight.exp_avg_sq"))
        XCTAssertTrue(stored.allSatisfy { $0.layout == nil && $0.tensor.dtype == .float32 })

        // A listed buffer that is missing, and an unlisted tensor under the prefix, are refused by name.
        var missing = Model(info: file.info, layers: file.layers, tensors: file.tensors.filter { $0.name != "optimizer/fc1.bias.exp_avg" })
        try MKitWriter.write(missing, to: directory + "/missing.mkit")
        XCTAssertThrowsError(try Checkpoint.read(from: directory + "/missing.mkit")) { error in
            XCTAssertEqual((error as? CheckpointError)?.kind, .invalid)
            XCTAssertTrue("\(error)".contains("optimizer/fc1.bias.exp_avg"), "\(error)")
        }
        missing = file
        missing.addTensor(ModelTensor(name: "optimizer/stray", tensor: Tensor(float32: [1], shape: [1])))
        try MKitWriter.write(missing, to: directory + "/stray.mkit")
        XCTAssertThrowsError(try Checkpoint.read(from: directory + "/stray.mkit")) { error in
            XCTAssertTrue("\(error)".contains("'optimizer/stray'"), "\(error)")
        }

        // A layer may not use a tensor under the prefix.
        var reserved = checkpoint
        var model = Model(info: checkpoint.model.info)
        for tensor in checkpoint.model.tensors {
            model.addTensor(ModelTensor(name: tensor.name == "fc1.bias" ? "optimizer/b" : tensor.name, tensor: tensor.tensor,
                                        layout: tensor.layout, layoutSource: tensor.layoutSource))
        }
        model.layers = checkpoint.model.layers.map { layer in
            var layer = layer
            if layer.parameters["bias"] == "fc1.bias" { layer.parameters["bias"] = "optimizer/b" }
            return layer
        }
        reserved.model = model
        XCTAssertThrowsError(try reserved.write(to: directory + "/reserved.mkit")) { error in
            XCTAssertEqual((error as? CheckpointError)?.kind, .invalidRequest)
            XCTAssertTrue("\(error)".contains("reserved"), "\(error)")
        }
    }

    func test_K04_everyPartReadsBackExactly() throws {
        let directory = try FixturePaths.scratchDirectory(for: self)
        let checkpoint = try CheckpointSupport.checkpoint(steps: 12)
        XCTAssertEqual(checkpoint.trainingState.epoch, 1)
        XCTAssertEqual(checkpoint.trainingState.stepInEpoch, 2)
        for compression in CheckpointCompression.allCases {
            let path = directory + "/\(compression.rawValue).mkit"
            try checkpoint.write(to: path, compression: compression)
            let read = try Checkpoint.read(from: path)
            CheckpointSupport.assertSameTensors(read.model.tensors, checkpoint.model.tensors, "\(compression) model")
            XCTAssertEqual(read.model.layers, checkpoint.model.layers)
            XCTAssertEqual(read.model.info, checkpoint.model.info, "the model part carries no checkpoint metadata")
            CheckpointSupport.assertSameOptimizerState(read.optimizerState, checkpoint.optimizerState, "\(compression)")
            XCTAssertEqual(read.trainingState, checkpoint.trainingState, "\(compression)")
            XCTAssertEqual(read.configuration, checkpoint.configuration, "\(compression)")
            XCTAssertEqual(read.sourceModel, checkpoint.sourceModel)
            XCTAssertEqual(read.data, checkpoint.data)
            XCTAssertEqual(read.notes, checkpoint.notes)
        }
        // Compression applies to the tensors that shrink (K1 with Z5).
        let loaded = try ModelFile.read(path: directory + "/best.mkit")
        XCTAssertEqual(loaded.tensorEncodings["fc1.weight"], ShuffleZlibEncoding.name)
    }

    func test_K04_fingerprintIsCRC32AndLengthOfTheFile() throws {
        let directory = try FixturePaths.scratchDirectory(for: self)
        try FixturePaths.write(Array("123456789".utf8), to: directory + "/check.txt")
        let print = try FileFingerprint.of(file: directory + "/check.txt")
        // The CRC-32 check value of the ISO-HDLC parameters (Specs/format.md C1).
        XCTAssertEqual(print, FileFingerprint(algorithm: "crc32", value: "cbf43926", byteCount: 9))
        var checkpoint = try CheckpointSupport.checkpoint(steps: 1)
        checkpoint.data = print
        XCTAssertEqual(checkpoint.fingerprintWarnings(sourceModel: nil, data: print), [])
        let other = FileFingerprint(value: "cbf43926", byteCount: 10)
        XCTAssertEqual(checkpoint.fingerprintWarnings(sourceModel: nil, data: other).count, 1)
    }

    func test_K05_flippedByteInATensorIsRefusedNamingTheTensor() throws {
        let directory = try FixturePaths.scratchDirectory(for: self)
        let checkpoint = try CheckpointSupport.checkpoint()
        for compression in [CheckpointCompression.none, .fast] {
            for name in ["fc1.weight", "optimizer/fc1.weight.exp_avg_sq"] {
                let path = directory + "/\(compression.rawValue)-\(name.replacingOccurrences(of: "/", with: "_")).mkit"
                try checkpoint.write(to: path, compression: compression)
                try CheckpointSupport.flipByte(of: name, in: path)
                XCTAssertThrowsError(try CheckpointDirectory.load(path)) { error in
                    XCTAssertEqual((error as? CheckpointError)?.kind, .damaged, "\(error)")
                    XCTAssertTrue("\(error)".contains("tensor '\(name)'"), "\(error)")
                    XCTAssertTrue("\(error)".hasPrefix(path), "\(error)")
                }
            }
        }
    }

    func test_K06_newerVersionAndMalformedKeysAreRefused() throws {
        let directory = try FixturePaths.scratchDirectory(for: self)
        let file = try CheckpointSupport.checkpoint().fileModel()
        func rewrite(_ edit: (inout JSONObject) -> Void) throws -> String {
            var model = file
            let text = try XCTUnwrap(model.info.metadata[Checkpoint.metadataKey])
            var object = try XCTUnwrap(try Array(text.utf8).withUnsafeBufferPointer { try JSONParser.parse($0) }.objectValue)
            edit(&object)
            model.info.metadata[Checkpoint.metadataKey] = JSONWriter().string(.object(object))
            let path = directory + "/\(UUID().uuidString).mkit"
            try MKitWriter.write(model, to: path)
            return path
        }
        XCTAssertThrowsError(try Checkpoint.read(from: try rewrite { $0["checkpoint_version"] = .integer(2) })) { error in
            XCTAssertEqual((error as? CheckpointError)?.kind, .unsupported)
            XCTAssertTrue("\(error)".contains("version 2"), "\(error)")
        }
        XCTAssertThrowsError(try Checkpoint.read(from: try rewrite { $0["training_state"] = .object(JSONObject()) })) { error in
            XCTAssertEqual((error as? CheckpointError)?.kind, .invalid)
            XCTAssertTrue("\(error)".contains("training_state"), "\(error)")
        }
        XCTAssertThrowsError(try Checkpoint.read(from: try rewrite { $0["optimizer"] = .string("adam") })) { error in
            XCTAssertTrue("\(error)".contains("optimizer"), "\(error)")
        }
    }

    func test_K07_aCheckpointAsStartingModelIsNotDuplicated() throws {
        let directory = try FixturePaths.scratchDirectory(for: self)
        let first = directory + "/first.mkit"
        try CheckpointSupport.checkpoint().write(to: first)
        // `finetune first.mkit`: the starting model is the whole file, checkpoint parts included.
        let asModel = try ModelIO.load(first).model
        let trainer = try Trainer(model: asModel, configuration: CheckpointSupport.configuration(.adam(learningRate: 1e-3)))
        let second = directory + "/second.mkit"
        try Checkpoint(trainer: trainer).write(to: second)
        let read = try Checkpoint.read(from: second)
        XCTAssertFalse(read.model.tensors.contains { $0.name.hasPrefix("optimizer/") })
        XCTAssertNil(read.model.info.metadata[Checkpoint.metadataKey])
        XCTAssertEqual(read.optimizerState.tensors.count, 0, "a fresh trainer has no buffers yet")
        let plain = Checkpoint.removingCheckpointParts(from: asModel)
        XCTAssertEqual(plain.tensors.map(\.name), try CheckpointSupport.exampleModel().tensors.map(\.name))
    }
}
