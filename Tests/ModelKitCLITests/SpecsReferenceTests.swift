import Foundation
import XCTest
import ModelKitTestSupport

/// The specs name the tests that prove their rules (Specs/security.md's threat table, the interop rules). A renamed
/// or deleted test would leave a spec pointing at nothing, so every name they cite must be a test that exists.
final class SpecsReferenceTests: XCTestCase {
    func test_everyTestNamedInSpecsExists() throws {
        let root = URL(fileURLWithPath: FixturePaths.root)
        let defined = try Self.files(under: root.appendingPathComponent("Tests"), suffix: ".swift")
            .flatMap { Self.matches(of: #"func (test_[A-Za-z0-9_]+)"#, inFile: $0) }
        XCTAssertGreaterThan(defined.count, 400, "the test sources were not found")
        let definedSet = Set(defined)
        var cited = 0
        for spec in try Self.files(under: root.appendingPathComponent("Specs"), suffix: ".md") {
            let text = try String(contentsOfFile: spec, encoding: .utf8)
            // A name may be cited whole, or as a prefix ending in `…` or `*` for a family of tests.
            for name in Self.matches(of: #"(test_[A-Za-z0-9_]*[A-Za-z0-9])"#, inText: text) where name != "test_name" {
                cited += 1
                if !definedSet.contains(name) && !defined.contains(where: { $0.hasPrefix(name) }) {
                    XCTFail("\((spec as NSString).lastPathComponent) cites \(name), which no test defines")
                }
            }
        }
        XCTAssertGreaterThan(cited, 100, "the specs were not found")
    }

    private static func files(under directory: URL, suffix: String) throws -> [String] {
        guard let walker = FileManager.default.enumerator(atPath: directory.path) else { return [] }
        return walker.compactMap { $0 as? String }.filter { $0.hasSuffix(suffix) }.map { directory.path + "/" + $0 }
    }

    private static func matches(of pattern: String, inFile path: String) -> [String] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        return matches(of: pattern, inText: text)
    }

    private static func matches(of pattern: String, inText text: String) -> [String] {
        guard let expression = try? NSRegularExpression(pattern: pattern) else { return [] }
        let range = NSRange(text.startIndex..., in: text)
        return expression.matches(in: text, range: range).compactMap { match in
            Range(match.range(at: 1), in: text).map { String(text[$0]) }
        }
    }
}
