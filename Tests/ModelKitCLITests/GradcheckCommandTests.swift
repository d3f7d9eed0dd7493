import XCTest
import ModelKitTestSupport

final class GradcheckCommandTests: XCTestCase {
    func test_everyLayerKindOfTheZooPasses() throws {
        // zoo.json has every activation kind (Fixtures/generate/generate.py).
        let result = try BinaryRunner.run(["gradcheck", "Fixtures/models/example/zoo.json", "--rows", "3"])
        XCTAssertEqual(result.exitCode, 0, result.standardOutput + result.standardError)
        XCTAssertEqual(result.standardOutput.components(separatedBy: " ok\n").count - 1, 8, result.standardOutput)
        let softmax = try BinaryRunner.run(["gradcheck", "Fixtures/models/example/zoo_softmax.json", "--loss", "cross-entropy"])
        XCTAssertEqual(softmax.exitCode, 0, softmax.standardOutput + softmax.standardError)
    }

    func test_anImpossibleToleranceFails() throws {
        // Finite differences are never exact: a tolerance of 1e-300 must fail, proving the comparison is made.
        let result = try BinaryRunner.run(["gradcheck", "Fixtures/models/example/example.mkit", "--tolerance", "1e-300", "--elements", "4"])
        XCTAssertEqual(result.exitCode, 1)
        XCTAssertTrue(result.standardError.contains("gradient check failed"), result.standardError)
        XCTAssertTrue(result.standardOutput.contains("FAILED"), result.standardOutput)
    }

    func test_onABatchFromAFile() throws {
        let result = try BinaryRunner.run(["gradcheck", "Fixtures/models/training/regression.json",
                                           "--data", "Fixtures/models/training/regression.npz", "--rows", "5"])
        XCTAssertEqual(result.exitCode, 0, result.standardOutput + result.standardError)
        XCTAssertTrue(result.standardOutput.contains("mse loss, 5 rows"), result.standardOutput)
    }
}
