import Foundation
import ModelKitCore
import ModelKitInterop
import ModelKitTestSupport
import XCTest

/// `modelkit run` outputs: written atomically as .npy, .csv or .json, read back exactly, and readable by numpy.
final class OutputFileTests: XCTestCase {
    private func values(_ count: Int) -> [Float] {
        (0..<count).map { Float($0) * 0.1 - 1.7 + (($0 % 3 == 0) ? 1e-7 : 0) }
    }

    func test_O2_csvAndJSONRoundTripFloat32Exactly() throws {
        let directory = try FixturePaths.scratchDirectory(for: self)
        let tensor = Tensor(float32: values(12) + [3.4e38, -1e-38, 0], shape: [5, 3])
        for name in ["out.csv", "out.json", "out.npy"] {
            let path = directory + "/" + name
            try OutputFile.write(tensor, to: path)
            let back = try InputFile.read(path: path)
            XCTAssertTrue(back.hasSameContents(as: tensor), name)
        }
    }

    func test_O1_O2_textLayout() throws {
        let matrix = Tensor(float32: [1, 2.5, -3, 0.1], shape: [2, 2])
        let directory = try FixturePaths.scratchDirectory(for: self)
        try OutputFile.write(matrix, to: directory + "/m.csv")
        XCTAssertEqual(String(decoding: try FixturePaths.bytes(directory + "/m.csv"), as: UTF8.self), "1.0,2.5\n-3.0,0.1\n")
        try OutputFile.write(matrix, to: directory + "/m.json")
        XCTAssertEqual(String(decoding: try FixturePaths.bytes(directory + "/m.json"), as: UTF8.self),
                       "[\n  [1.0, 2.5],\n  [-3.0, 0.1]\n]\n")
        try OutputFile.write(Tensor(float32: [2], shape: []), to: directory + "/s.json")
        XCTAssertEqual(String(decoding: try FixturePaths.bytes(directory + "/s.json"), as: UTF8.self), "2.0\n")
        let flags = Tensor.make(dtype: .bool, shape: [3]) { raw in [UInt8(1), 0, 1].withUnsafeBytes { raw.copyMemory(from: $0) } }
        try OutputFile.write(flags, to: directory + "/b.json")
        XCTAssertEqual(String(decoding: try FixturePaths.bytes(directory + "/b.json"), as: UTF8.self), "[true, false, true]\n")
        let nonFinite = Tensor(float32: [.nan, .infinity, 1], shape: [3])
        try OutputFile.write(nonFinite, to: directory + "/n.json")
        XCTAssertEqual(String(decoding: try FixturePaths.bytes(directory + "/n.json"), as: UTF8.self), "[null, null, 1.0]\n")
        try OutputFile.write(nonFinite, to: directory + "/n.csv")
        XCTAssertEqual(String(decoding: try FixturePaths.bytes(directory + "/n.csv"), as: UTF8.self), "nan,inf,1.0\n")
    }

    func test_O2_otherDTypesAndBFloat16() throws {
        let directory = try FixturePaths.scratchDirectory(for: self)
        let int64 = numpyPatternTensor(.int64, [2, 2])
        try OutputFile.write(int64, to: directory + "/i.csv")
        let text = String(decoding: try FixturePaths.bytes(directory + "/i.csv"), as: UTF8.self)
        XCTAssertEqual(text, "-1152921504606846976,-1152921503606846969\n-1152921502606846962,-1152921501606846955\n")
        let bf16 = numpyPatternTensor(.bfloat16, [4])
        try OutputFile.write(bf16, to: directory + "/h.npy")
        let back = try NumPyFile.readArray(path: directory + "/h.npy")
        XCTAssertEqual(back.dtype, .float32)
        XCTAssertEqual(back.floatValues(), bf16.floatValues())
    }

    func test_O1_O3_refusesUnknownExtensionsAndCSVAboveRank2() throws {
        let directory = try FixturePaths.scratchDirectory(for: self)
        XCTAssertThrowsError(try OutputFile.write(Tensor(float32: [1], shape: [1]), to: directory + "/o.txt")) { error in
            XCTAssertTrue("\(error)".contains("cannot write outputs as '.txt'; use .npy, .csv or .json"), "\(error)")
        }
        XCTAssertThrowsError(try OutputFile.write(numpyPatternTensor(.float32, [2, 2, 2]), to: directory + "/o.csv")) { error in
            XCTAssertTrue("\(error)".contains("shape [2, 2, 2]"), "\(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory + "/o.csv"))
    }

    /// numpy's own text readers agree with ours: np.loadtxt on CSV (what `run` reads and writes) and json on JSON.
    func test_I3_I4_O2_numPyAgreesOnCSVAndJSONValues() throws {
        let directory = try FixturePaths.scratchDirectory(for: self)
        let csv = "a,b,c\n0.1,-2.5e-3,3.4028234e38\n1e-45,7,0.30000001192092896\n"
        try FixturePaths.write(Array(csv.utf8), to: directory + "/in.csv")
        let json = "[[0.1, -2.5e-3, 3.4028234e38], [1e-45, 7, 0.30000001192092896]]"
        try FixturePaths.write(Array(json.utf8), to: directory + "/in.json")
        let written = Tensor(float32: values(6), shape: [2, 3])
        try OutputFile.write(written, to: directory + "/out.csv")
        try OutputFile.write(written, to: directory + "/out.json")
        let script = """
        import json, sys
        import numpy as np
        d = sys.argv[1]
        def floats(a): return np.asarray(a, dtype=np.float32).astype(np.float64).reshape(-1).tolist()
        print(json.dumps({
            'in_csv': floats(np.loadtxt(d + '/in.csv', delimiter=',', skiprows=1, dtype=np.float32)),
            'in_json': floats(json.load(open(d + '/in.json'))),
            'out_csv': floats(np.loadtxt(d + '/out.csv', delimiter=',', dtype=np.float32)),
            'out_json': floats(json.load(open(d + '/out.json'))),
        }))
        """
        let result = try NumPyPython.runJSON(script, arguments: [directory])
        func expected(_ key: String) throws -> [Float] {
            try XCTUnwrap(result[key]?.arrayValue).map { Float(try XCTUnwrap($0.doubleValue)) }
        }
        XCTAssertEqual(try InputFile.read(path: directory + "/in.csv").floatValues(), try expected("in_csv"))
        XCTAssertEqual(try InputFile.read(path: directory + "/in.json").floatValues(), try expected("in_json"))
        XCTAssertEqual(written.floatValues(), try expected("out_csv"))
        XCTAssertEqual(written.floatValues(), try expected("out_json"))
    }
}
