import XCTest

/// Feeds a reader damaged versions of a valid file and checks that each gives an error, never a crash.
public enum MalformedInput {
    /// Every prefix of `bytes` shorter than the whole (all of them up to `exhaustiveUpTo`, then a spread of
    /// lengths including every one in `boundaries`), each of which `read` must reject by throwing.
    public static func assertEveryTruncationThrows(_ bytes: [UInt8], boundaries: [Int] = [], exhaustiveUpTo: Int = 512,
                                                   file: StaticString = #filePath, line: UInt = #line,
                                                   read: ([UInt8]) throws -> Void) {
        var lengths = Set(0..<min(bytes.count, exhaustiveUpTo))
        for boundary in boundaries where boundary < bytes.count {
            for delta in -2...2 where boundary + delta >= 0 && boundary + delta < bytes.count { lengths.insert(boundary + delta) }
        }
        var generator = SplitMix64(seed: 42)
        for _ in 0..<64 where bytes.count > 0 { lengths.insert(Int(generator.next() % UInt64(bytes.count))) }
        for length in lengths.sorted() {
            do {
                try read(Array(bytes.prefix(length)))
                XCTFail("a file truncated to \(length) of \(bytes.count) bytes was accepted", file: file, line: line)
            } catch {
                let text = String(describing: error)
                XCTAssertFalse(text.isEmpty, file: file, line: line)
                XCTAssertFalse(text.contains("\n"), "error for length \(length) is not one line: \(text)", file: file, line: line)
            }
        }
    }
}

/// A small deterministic generator for reproducible test data.
public struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
