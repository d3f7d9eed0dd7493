import Foundation
import XCTest
import ModelKitCore
import ModelKitInterop
import ModelKitTestSupport

final class TrainingDataFileTests: XCTestCase {
    func test_npzWithXAndYFromNumPy() throws {
        // Written by np.savez in Fixtures/generate/training_fixtures.py.
        let data = try TrainingDataFile.read(path: FixturePaths.fixture("models/training/classify.npz"))
        XCTAssertEqual(data.inputs.shape.rank, 2)
        XCTAssertEqual(data.targets.dtype, .int64)
        XCTAssertEqual(data.targets.shape, [data.inputs.shape.dimensions[0]])
        let regression = try TrainingDataFile.read(path: FixturePaths.fixture("models/training/regression.npz"))
        XCTAssertEqual(regression.targets.dtype, .float32)
        XCTAssertEqual(regression.targets.shape.rank, 2)
    }

    func test_csvTargetByNameOrIndex() throws {
        let directory = try FixturePaths.scratchDirectory(for: self)
        let path = directory + "/data.csv"
        try "a,label,b\n1,0,2\n3,1,4\n5,2,6\n".write(toFile: path, atomically: true, encoding: .utf8)
        for target in ["label", "1"] {
            let data = try TrainingDataFile.read(path: path, target: target)
            XCTAssertEqual(data.inputs.shape, [3, 2])
            XCTAssertEqual(data.inputs.floatValues(), [1, 2, 3, 4, 5, 6])
            XCTAssertEqual(data.targets.floatValues(), [0, 1, 2])
        }
        XCTAssertThrowsError(try TrainingDataFile.read(path: path)) { error in
            XCTAssertTrue("\(error)".contains("--target"), "\(error)")
        }
        XCTAssertThrowsError(try TrainingDataFile.read(path: path, target: "nope")) { error in
            XCTAssertTrue("\(error)".contains("columns: a, label, b"), "\(error)")
        }
    }

    func test_mismatchedRowsAndMissingArraysAreExplained() throws {
        let directory = try FixturePaths.scratchDirectory(for: self)
        try NumPyFile.writeArchive([("x", Tensor(float32: [1, 2, 3, 4], shape: [2, 2])), ("y", Tensor(float32: [1, 2, 3], shape: [3]))],
                                   to: directory + "/bad.npz")
        XCTAssertThrowsError(try TrainingDataFile.read(path: directory + "/bad.npz")) { error in
            XCTAssertTrue("\(error)".contains("y has shape [3] but x has 2 samples"), "\(error)")
        }
        try NumPyFile.writeArchive([("inputs", Tensor(float32: [1, 2], shape: [1, 2]))], to: directory + "/names.npz")
        XCTAssertThrowsError(try TrainingDataFile.read(path: directory + "/names.npz")) { error in
            XCTAssertTrue("\(error)".contains("arrays named 'x' and 'y'"), "\(error)")
        }
    }
}
