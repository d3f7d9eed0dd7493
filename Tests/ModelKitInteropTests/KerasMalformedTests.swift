import Foundation
import ModelKitCore
@testable import ModelKitInterop
import ModelKitTestSupport
import XCTest

/// The damaged and hostile files of Fixtures/malformed/keras (made by Fixtures/generate/keras_fixtures.py): each
/// gets one clean line naming what is wrong; nothing is run and nothing is allocated from an unchecked size.
final class KerasMalformedTests: XCTestCase {
    private func error(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws -> KerasError {
        try XCTUnwrap(KerasFixture.readError(try KerasFixture.malformed(name), file: file, line: line), file: file, line: line)
    }

    private func assertMessage(_ error: KerasError, contains parts: [String], file: StaticString = #filePath, line: UInt = #line) {
        for part in parts {
            XCTAssertTrue(error.description.contains(part), "'\(part)' not in: \(error.description)", file: file, line: line)
        }
    }

    func test_K21_truncatedArchive() throws {
        let error = try error("truncated.keras")
        guard case .archive = error else { return XCTFail("\(error)") }
    }

    func test_K21_memberNamedDotDotIsRefused() throws {
        let error = try error("zip_dotdot.keras")
        guard case .archive(.unsafeMemberName) = error else { return XCTFail("\(error)") }
        assertMessage(error, contains: ["../evil.txt"])
    }

    func test_K3_invalidConfigJSON() throws {
        let error = try error("bad_config.keras")
        guard case .invalidConfig = error else { return XCTFail("\(error)") }
        assertMessage(error, contains: ["config.json", "not valid JSON"])
    }

    func test_K3_missingWeightsMember() throws {
        let error = try error("no_weights.keras")
        guard case .missingMember(_, "model.weights.h5", _) = error else { return XCTFail("\(error)") }
    }

    func test_K3_weightsOnlyFileHasNoConfig() throws {
        guard case .noModelConfig = try error("weights_only.weights.h5") else { return XCTFail() }
    }

    func test_K6_lambdaLayerIsRefusedByName() throws {
        let error = try error("lambda.keras")
        guard case .refusedLayer(_, "double", "Lambda", _) = error else { return XCTFail("\(error)") }
        assertMessage(error, contains: ["never runs code"])
    }

    func test_K7_customObjectIsRefused() throws {
        let error = try error("custom_object.keras")
        guard case .refusedLayer(_, "custom", "CustomDense", _) = error else { return XCTFail("\(error)") }
        assertMessage(error, contains: ["custom object", "evil>CustomDense"])
    }

    func test_K8_unknownActivationIsNamed() throws {
        let error = try error("unknown_activation.keras")
        guard case .unsupportedActivation(_, "d", "elu") = error else { return XCTFail("\(error)") }
    }

    func test_K16_kernelShapeMustMatchConfig() throws {
        let error = try error("shape_lying.keras")
        guard case .weightShape(_, "d1", "kernel", [4, 5], [4, 3]) = error else { return XCTFail("\(error)") }
    }

    func test_K10_hugeDeclaredDatasetIsRefusedBeforeReading() throws {
        for name in ["huge_dataset.keras", "huge_dataset.h5"] {
            let error = try error(name)
            guard case .unsafeHDF5 = error else { return XCTFail("\(name): \(error)") }
            assertMessage(error, contains: ["[1048576, 1048576]", "4398046511104 bytes"])
        }
    }

    func test_K11_integerKernelIsRefused() throws {
        let error = try error("int_kernel.keras")
        guard case .unsupportedDType(_, "layers/dense/vars/0", _) = error else { return XCTFail("\(error)") }
        assertMessage(error, contains: ["integer of 4 bytes"])
    }

    func test_K12_externalLinkIsNeverFollowed() throws {
        let error = try error("external_link.h5")
        guard case .unsafeHDF5 = error else { return XCTFail("\(error)") }
        assertMessage(error, contains: ["external link"])
    }

    func test_K13_cyclesOfHardLinksAreRefused() throws {
        for name in ["cycle.h5", "cycle.keras"] {
            let error = try error(name)
            guard case .unsafeHDF5 = error else { return XCTFail("\(name): \(error)") }
            assertMessage(error, contains: ["cycle"])
        }
    }

    func test_K1_otherFormatsAreNotKeras() throws {
        let error = try XCTUnwrap(KerasFixture.readError(try FixturePaths.require("models/example/example.json")))
        guard case .notKeras = error else { return XCTFail("\(error)") }
    }

    /// Every prefix of a small valid HDF5 weights file (cut at many points) gives an error, never a crash.
    func test_K10_everyTruncationOfLegacyFileThrows() throws {
        let bytes = try FixturePaths.bytes(try KerasFixture.model("leaky.h5"))
        let directory = try FixturePaths.scratchDirectory(for: self)
        for cut in stride(from: 0, to: bytes.count, by: max(1, bytes.count / 97)) {
            let path = directory + "/cut.h5"
            try FixturePaths.write(Array(bytes.prefix(cut)), to: path)
            XCTAssertNotNil(KerasFixture.readError(path), "prefix of \(cut) bytes")
        }
    }
}
