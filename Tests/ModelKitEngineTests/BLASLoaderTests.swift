import Foundation
@testable import ModelKitEngine
import XCTest

/// How the BLAS library is found and set up.
final class BLASLoaderTests: XCTestCase {
    func testCoreTypeFromCPUFeatures() {
        let skylake = CPUFeatures(cpuinfo: "processor\t: 0\nflags\t\t: fpu sse2 avx2 fma avx512f avx512dq avx512bw avx512vl\n")
        XCTAssertEqual(skylake.openBLASCoreType, "SKYLAKEX")
        XCTAssertEqual(CPUFeatures(flags: ["avx2", "fma", "avx512f"]).openBLASCoreType, "HASWELL")
        XCTAssertNil(CPUFeatures(flags: ["sse2", "avx"]).openBLASCoreType)
        XCTAssertNil(CPUFeatures(cpuinfo: "no flags here").openBLASCoreType)
    }

    func testThreadCountRespectsOpenBLASNumThreads() {
        XCTAssertEqual(BLASLibrary.requestedThreads(environment: "3", processors: 2), 3)
        XCTAssertEqual(BLASLibrary.requestedThreads(environment: nil, processors: 8), 8)
        XCTAssertEqual(BLASLibrary.requestedThreads(environment: "0", processors: 2), 2)
        XCTAssertEqual(BLASLibrary.requestedThreads(environment: "many", processors: 2), 2)
    }

    func testLoadedLibraryAndKernelSelection() throws {
        let info = InferenceSession.blas
        XCTAssertGreaterThanOrEqual(info.threads, 1)
        XCTAssertFalse(info.description.isEmpty)
        let environment = ProcessInfo.processInfo.environment
        if let requested = environment["OPENBLAS_NUM_THREADS"], let count = Int(requested), count > 0 {
            XCTAssertEqual(info.threads, count)
        }
        // Every Debian machine this project supports has libopenblas0-pthread (the README's install step).
        guard FileManager.default.fileExists(atPath: "/usr/lib/x86_64-linux-gnu/libopenblas.so.0") else {
            throw XCTSkip("OpenBLAS is not installed here")
        }
        XCTAssertEqual(info.backend, .openBLAS, "\(info)")
        XCTAssertNotNil(info.libraryPath)
        let coreName = try XCTUnwrap(info.coreName, "\(info)").lowercased()
        if let userChoice = environment["OPENBLAS_CORETYPE"], !userChoice.isEmpty {
            // A user's own choice is respected.
            XCTAssertEqual(coreName, userChoice.lowercased(), "\(info)")
            XCTAssertTrue(info.coreTypeSetting?.contains("set by the user") ?? false)
        } else if let expected = CPUFeatures.current.openBLASCoreType {
            XCTAssertEqual(coreName, expected.lowercased(), "OpenBLAS must not fall back to Prescott here: \(info)")
        }
        XCTAssertNotEqual(coreName, "prescott", "\(info)")
        // The variable we set for the library's constructor does not leak to child processes.
        if environment["OPENBLAS_CORETYPE"] == nil {
            XCTAssertNil(getenv("OPENBLAS_CORETYPE"))
        }
    }
}
