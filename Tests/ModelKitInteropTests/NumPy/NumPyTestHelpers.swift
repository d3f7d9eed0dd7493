import Foundation
import ModelKitCore
import ModelKitInterop
import ModelKitTestSupport
import XCTest

/// What numpy reported for one array in Fixtures/models/numpy/expected.json.
struct NumPyExpectedArray {
    let label: String
    let dtype: DType
    let shape: Shape
    /// The values in C order as JSON literals (kept as text so int64 beyond 2^53 compares exactly).
    let values: [JSONValue]
    let entry: JSONValue

    init(_ entry: JSONValue, label: String) throws {
        self.label = label
        self.entry = entry
        let dtypeName = try XCTUnwrap(entry["dtype"]?.stringValue, "\(label): dtype")
        dtype = try XCTUnwrap(DType(rawValue: dtypeName), "\(label): unknown dtype \(dtypeName)")
        let dims = try XCTUnwrap(entry["shape"]?.arrayValue, "\(label): shape")
        shape = Shape(try dims.map { try XCTUnwrap($0.intValue, "\(label): shape entry") })
        values = try XCTUnwrap(entry["values"]?.arrayValue, "\(label): values")
    }

    /// Fails unless `tensor` has numpy's dtype, shape and exactly its values.
    func assertMatches(_ tensor: Tensor, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(tensor.dtype, dtype, "\(label): dtype", file: file, line: line)
        XCTAssertEqual(tensor.shape, shape, "\(label): shape", file: file, line: line)
        guard tensor.dtype == dtype, tensor.shape == shape, tensor.elementCount == values.count else {
            XCTFail("\(label): \(tensor.elementCount) elements, numpy has \(values.count)", file: file, line: line)
            return
        }
        for (index, expected) in values.enumerated() {
            switch (dtype, expected) {
            case (.bool, .bool(let flag)):
                XCTAssertEqual(tensor.bytes[index], flag ? 1 : 0, "\(label)[\(index)]", file: file, line: line)
            case (.int64, .number(let text)):
                let actual = Int64(littleEndian: tensor.bytes.loadUnaligned(fromByteOffset: 8 * index, as: Int64.self))
                XCTAssertEqual(actual, Int64(text), "\(label)[\(index)]", file: file, line: line)
            case (_, .number(let text)):
                let actual = tensor.element(at: index)
                let wanted = Double(text) ?? .nan
                // Exact: float16/float32 values are exactly representable as the doubles numpy printed.
                XCTAssertTrue(actual == wanted && actual.sign == wanted.sign,
                              "\(label)[\(index)]: \(actual) vs numpy \(text)", file: file, line: line)
            default:
                XCTFail("\(label)[\(index)]: unexpected JSON \(expected)", file: file, line: line)
            }
        }
    }
}

enum NumPyFixtures {
    static let directory = "models/numpy"

    /// expected.json, parsed.
    static func expected() throws -> JSONValue {
        let path = try FixturePaths.require(directory + "/expected.json")
        return try JSONValue.parse(try FixturePaths.bytes(path))
    }

    static func path(_ name: String) throws -> String { try FixturePaths.require(directory + "/" + name) }

    static func malformed(_ name: String) throws -> String { try FixturePaths.require("malformed/numpy/" + name) }
}

/// Runs Python with numpy for live interop checks, or skips when it is not installed.
enum NumPyPython {
    /// `MODELKIT_PYTHON` when set (scripts/python-env.sh sets it), else the project's generator venv.
    static var interpreter: String {
        ProcessInfo.processInfo.environment["MODELKIT_PYTHON"] ?? "/work/venv-gen/py/bin/python"
    }

    /// Runs `script` with `arguments` and returns its standard output parsed as JSON.
    static func runJSON(_ script: String, arguments: [String]) throws -> JSONValue {
        guard FileManager.default.isExecutableFile(atPath: interpreter) else {
            throw XCTSkip("no Python with numpy at \(interpreter); set MODELKIT_PYTHON to run live numpy checks")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: interpreter)
        process.arguments = ["-c", script] + arguments
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let errorText = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            XCTFail("python failed (\(process.terminationStatus)): \(errorText)")
            throw XCTSkip("python failed")
        }
        return try JSONValue.parse([UInt8](data))
    }
}

/// A tensor of `dtype` and `shape` filled with a varied, exactly representable pattern.
func numpyPatternTensor(_ dtype: DType, _ shape: Shape) -> Tensor {
    let count = shape.elementCount ?? 0
    return Tensor.make(dtype: dtype, shape: shape) { raw in
        for index in 0..<count {
            let value = Double(index % 17) * 0.75 - 5.25 + (index % 2 == 0 ? 0.125 : 0)
            switch dtype {
            case .float32: raw.storeBytes(of: Float(value).bitPattern.littleEndian, toByteOffset: 4 * index, as: UInt32.self)
            case .float16: raw.storeBytes(of: Float16(value).bitPattern.littleEndian, toByteOffset: 2 * index, as: UInt16.self)
            case .bfloat16:
                raw.storeBytes(of: BFloat16Bits.fromFloat(Float(value)).littleEndian, toByteOffset: 2 * index, as: UInt16.self)
            case .float64: raw.storeBytes(of: (value / 3).bitPattern.littleEndian, toByteOffset: 8 * index, as: UInt64.self)
            case .int8: raw[index] = UInt8(bitPattern: Int8(index % 200 - 100))
            case .uint8: raw[index] = UInt8(index % 256)
            case .bool: raw[index] = UInt8(index % 3 == 0 ? 1 : 0)
            case .int16: raw.storeBytes(of: Int16(index * 97 % 30000 - 15000).littleEndian, toByteOffset: 2 * index, as: Int16.self)
            case .int32: raw.storeBytes(of: Int32(index * 7919 - 40000).littleEndian, toByteOffset: 4 * index, as: Int32.self)
            case .int64:
                raw.storeBytes(of: (Int64(index) * 1_000_000_007 - (1 << 60)).littleEndian, toByteOffset: 8 * index, as: Int64.self)
            }
        }
    }
}

/// The dtypes NumPy has (all of ours but bfloat16).
let numpyDTypes: [DType] = [.float16, .float32, .float64, .int8, .int16, .int32, .int64, .uint8, .bool]
