import XCTest

/// Fails unless every `actual[i]` is within `atol + rtol·|expected[i]|` of `expected[i]`, reporting the worst index.
public func assertClose(_ actual: [Float], _ expected: [Float], rtol: Float = 1e-5, atol: Float = 1e-6,
                        _ message: String = "", file: StaticString = #filePath, line: UInt = #line) {
    guard actual.count == expected.count else {
        XCTFail("count \(actual.count) != expected \(expected.count) \(message)", file: file, line: line)
        return
    }
    var worst = (index: -1, excess: Float(0))
    for index in actual.indices {
        let allowed = atol + rtol * abs(expected[index])
        let error = abs(actual[index] - expected[index])
        if !(error <= allowed), error - allowed > worst.excess || worst.index < 0 || actual[index].isNaN {
            worst = (index, actual[index].isNaN ? .infinity : error - allowed)
        }
    }
    if worst.index >= 0 {
        XCTFail("value \(worst.index): \(actual[worst.index]) vs expected \(expected[worst.index]) (rtol \(rtol), atol \(atol)) \(message)",
                file: file, line: line)
    }
}

/// The tolerance of the project for float32 results against a reference: 1e-5 scaled to the output's magnitude.
public func assertCloseScaled(_ actual: [Float], _ expected: [Float], relative: Float = 1e-5,
                              _ message: String = "", file: StaticString = #filePath, line: UInt = #line) {
    let scale = max(1, expected.map { abs($0) }.max() ?? 1)
    assertClose(actual, expected, rtol: 0, atol: relative * scale, message, file: file, line: line)
}
