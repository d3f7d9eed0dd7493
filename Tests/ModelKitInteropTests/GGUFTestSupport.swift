import Foundation
import ModelKitCore
import ModelKitFormat
import ModelKitInterop
import ModelKitTestSupport
import XCTest

/// Paths and expected values of the GGUF fixtures (written by Fixtures/generate/gguf_fixtures.py with gguf-py).
enum GGUFFixtures {
    static func model(_ name: String) throws -> String { try FixturePaths.require("models/gguf/" + name) }
    static func expected(_ name: String) throws -> String { try FixturePaths.require("expected/gguf/" + name) }
    static func malformed(_ name: String) throws -> String { try FixturePaths.require("malformed/gguf/" + name) }

    /// `expected/gguf/headers.json`: what gguf.GGUFReader reported for each valid file.
    static func readerViews() throws -> JSONValue {
        try JSONValue.parse(try FixturePaths.bytes(try expected("headers.json")))
    }

    static func json(_ path: String) throws -> JSONValue { try JSONValue.parse(try FixturePaths.bytes(path)) }

    /// The example network as torch wrote it (Fixtures/models/example/example.json).
    static func exampleModel() throws -> Model {
        try ModelJSONForm.read(path: try FixturePaths.require("models/example/example.json")).model
    }

    /// The activation zoo (in_out weights, a float16 weight, model metadata).
    static func zooModel() throws -> Model {
        try ModelJSONForm.read(path: try FixturePaths.require("models/example/zoo.json")).model
    }

    static let exampleArchitecture = "linear(400,200) relu linear(200,100) relu linear(100,2) softmax"
}

/// Builds GGUF bytes by hand for tests of hostile and edge-case input.
enum GGUFBytes {
    static func u32(_ value: UInt32) -> [UInt8] { withUnsafeBytes(of: value.littleEndian, Array.init) }
    static func u64(_ value: UInt64) -> [UInt8] { withUnsafeBytes(of: value.littleEndian, Array.init) }
    static func string(_ text: String) -> [UInt8] { string(Array(text.utf8)) }
    static func string(_ bytes: [UInt8]) -> [UInt8] { u64(UInt64(bytes.count)) + bytes }

    /// A metadata entry: key, value type, and the value's bytes.
    static func entry(_ key: String, _ type: GGUFValueType, _ payload: [UInt8]) -> [UInt8] {
        string(key) + u32(type.rawValue) + payload
    }

    /// A tensor info; `dimensions` in GGUF order (fastest first).
    static func tensorInfo(_ name: String, _ dimensions: [UInt64], _ type: GGUFTensorType, offset: UInt64) -> [UInt8] {
        string(name) + u32(UInt32(dimensions.count)) + dimensions.flatMap(u64) + u32(type.rawValue) + u64(offset)
    }

    /// A whole file: preamble, entries, infos, zero padding to `alignment`, then `data`.
    static func file(entries: [[UInt8]], infos: [[UInt8]], data: [UInt8], version: UInt32 = 3,
                     tensorCount: UInt64? = nil, entryCount: UInt64? = nil, alignment: Int = 32) -> [UInt8] {
        var bytes = Array("GGUF".utf8) + u32(version)
        bytes += u64(tensorCount ?? UInt64(infos.count)) + u64(entryCount ?? UInt64(entries.count))
        bytes += entries.flatMap { $0 } + infos.flatMap { $0 }
        bytes += [UInt8](repeating: 0, count: (alignment - bytes.count % alignment) % alignment)
        return bytes + data
    }

    /// Little-endian float32 bytes.
    static func floats(_ values: [Float]) -> [UInt8] { values.flatMap { u32($0.bitPattern) } }
}

/// Runs a Python that has the `gguf` package, for live checks against gguf-py, or skips.
enum GGUFPython {
    /// `MODELKIT_PYTHON` (a Python with gguf installed); without it the live checks are skipped.
    static var interpreter: String? { ProcessInfo.processInfo.environment["MODELKIT_PYTHON"] }

    static func runJSON(_ script: String, arguments: [String]) throws -> JSONValue {
        guard let interpreter, FileManager.default.isExecutableFile(atPath: interpreter) else {
            throw XCTSkip("set MODELKIT_PYTHON to a Python with the gguf package (e.g. /work/venv-gen/py/bin/python) to run live gguf-py checks")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: interpreter)
        process.arguments = ["-c", script] + arguments
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let errorText = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        if process.terminationStatus != 0, errorText.contains("No module named 'gguf'") {
            throw XCTSkip("\(interpreter) has no gguf package; pip install gguf==0.19.0 to run live gguf-py checks")
        }
        guard process.terminationStatus == 0 else {
            XCTFail("python failed (\(process.terminationStatus)): \(errorText)")
            throw XCTSkip("python failed")
        }
        return try JSONValue.parse([UInt8](data))
    }
}

/// Compares one of our metadata values with what gguf.GGUFReader reported: its type chain (`["ARRAY", "INT32"]`,
/// following first elements as gguf-py does) and its contents (nested arrays flattened, as gguf-py does).
func assertMatchesGGUFReader(_ value: GGUFValue, types: [JSONValue], contents: JSONValue, _ label: String,
                         file: StaticString = #filePath, line: UInt = #line) {
    var chain: [String] = []
    var cursor: GGUFValue? = value
    while let current = cursor {
        chain.append(current.type.description)
        if case .array(_, let elements) = current {
            cursor = elements.first  // gguf-py lists no element type for an empty array
        } else {
            cursor = nil
        }
    }
    XCTAssertEqual(chain, types.compactMap(\.stringValue), "\(label): type chain", file: file, line: line)
    var leaves: [GGUFValue] = []
    func flatten(_ value: GGUFValue) {
        if case .array(_, let elements) = value { elements.forEach(flatten) } else { leaves.append(value) }
    }
    flatten(value)
    let expected: [JSONValue] = value.type == .array ? (contents.arrayValue ?? []) : [contents]
    guard leaves.count == expected.count else {
        XCTFail("\(label): \(leaves.count) values, gguf-py has \(expected.count)", file: file, line: line)
        return
    }
    for (index, (leaf, want)) in zip(leaves, expected).enumerated() {
        XCTAssertTrue(ggufLeafEquals(leaf, want), "\(label)[\(index)]: \(leaf) vs gguf-py \(want)", file: file, line: line)
    }
}

/// Whether a scalar metadata value equals a JSON value exactly (integers as text, floats as their exact double).
func ggufLeafEquals(_ value: GGUFValue, _ json: JSONValue) -> Bool {
    switch (value, json) {
    case (.string(let text), .string(let want)): return text == want
    case (.bool(let flag), .bool(let want)): return flag == want
    case (.float32(let number), .number(let text)):
        guard let want = Double(text) else { return false }
        return Double(number) == want && Double(number).sign == want.sign
    case (.float64(let number), .number(let text)):
        guard let want = Double(text) else { return false }
        return number == want && number.sign == want.sign
    case (.uint64(let number), .number(let text)): return String(number) == text
    case (.int64(let number), .number(let text)): return String(number) == text
    case (_, .number(let text)): return value.integerValue.map(String.init) == text
    default: return false
    }
}

/// The tensor's values as `Double`, row-major.
func ggufValues(_ tensor: Tensor) -> [Double] { (0..<tensor.elementCount).map { tensor.element(at: $0) } }

/// SHA-256 of `bytes` as lowercase hex (FIPS 180-4), to tie a committed file to the one gguf-py checked.
func ggufSHA256Hex(_ bytes: [UInt8]) -> String {
    let k: [UInt32] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01,
        0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc,
        0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
        0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08,
        0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
        0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ]
    var h: [UInt32] = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]
    var message = bytes
    message.append(0x80)
    while message.count % 64 != 56 { message.append(0) }
    withUnsafeBytes(of: (UInt64(bytes.count) * 8).bigEndian) { message.append(contentsOf: $0) }
    func rotate(_ x: UInt32, _ n: UInt32) -> UInt32 { (x >> n) | (x << (32 - n)) }
    var w = [UInt32](repeating: 0, count: 64)
    for chunk in stride(from: 0, to: message.count, by: 64) {
        for i in 0..<16 {
            w[i] = (0..<4).reduce(UInt32(0)) { ($0 << 8) | UInt32(message[chunk + 4 * i + $1]) }
        }
        for i in 16..<64 {
            let s0 = rotate(w[i - 15], 7) ^ rotate(w[i - 15], 18) ^ (w[i - 15] >> 3)
            let s1 = rotate(w[i - 2], 17) ^ rotate(w[i - 2], 19) ^ (w[i - 2] >> 10)
            w[i] = w[i - 16] &+ s0 &+ w[i - 7] &+ s1
        }
        var (a, b, c, d, e, f, g, hh) = (h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7])
        for i in 0..<64 {
            let t1 = hh &+ (rotate(e, 6) ^ rotate(e, 11) ^ rotate(e, 25)) &+ ((e & f) ^ (~e & g)) &+ k[i] &+ w[i]
            let t2 = (rotate(a, 2) ^ rotate(a, 13) ^ rotate(a, 22)) &+ ((a & b) ^ (a & c) ^ (b & c))
            (hh, g, f, e, d, c, b, a) = (g, f, e, d &+ t1, c, b, a, t1 &+ t2)
        }
        for (index, value) in [a, b, c, d, e, f, g, hh].enumerated() { h[index] = h[index] &+ value }
    }
    return h.map { String($0, radix: 16) }.map { String(repeating: "0", count: 8 - $0.count) + $0 }.joined()
}
