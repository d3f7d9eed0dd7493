import Foundation
@testable import ModelKitEngine
import XCTest

/// The eight-lane float32 functions against float64 `libm`, across their whole useful range.
final class VectorMathTests: XCTestCase {
    private func lanes(_ values: [Float], _ function: (FloatVector) -> FloatVector) -> [Float] {
        var result: [Float] = []
        var index = 0
        while index < values.count {
            var vector = FloatVector()
            for lane in 0..<8 { vector[lane] = index + lane < values.count ? values[index + lane] : 0 }
            let output = function(vector)
            for lane in 0..<8 where index + lane < values.count { result.append(output[lane]) }
            index += 8
        }
        return result
    }

    func testExpRelativeErrorBelowTwoUlps() {
        let inputs: [Float] = stride(from: -86.99, through: 88.7, by: 0.0173).map { Float($0) } + [0, -0.0, 1, -1, 88.72]
        let results = lanes(inputs, VectorMath.exp)
        for (x, value) in zip(inputs, results) {
            let exact = Foundation.exp(Double(x))
            XCTAssertLessThanOrEqual(abs(Double(value) - exact) / exact, 2.5e-7, "exp(\(x)) = \(value), expected \(exact)")
        }
    }

    func testExpEdges() {
        let results = lanes([100, 89, -88, -200, .infinity, -.infinity, .nan, 0, -86.9], VectorMath.exp)
        XCTAssertEqual(results[0], .infinity)
        XCTAssertEqual(results[1], .infinity)
        // Would-be subnormal results are flushed to zero (subnormal arithmetic is ~100× slower on x86).
        XCTAssertEqual(results[2], 0)
        XCTAssertEqual(results[3], 0)
        XCTAssertEqual(results[4], .infinity)
        XCTAssertEqual(results[5], 0)
        XCTAssertTrue(results[6].isNaN)
        XCTAssertEqual(results[7], 1)
        XCTAssertTrue(results[8].isNormal, "e^-86.9 = 1.8e-38 is still a normal float")
    }

    func testTanhAbsoluteAndRelativeError() {
        let inputs: [Float] = stride(from: -20.0, through: 20.0, by: 0.0091).map { Float($0) } + [1e-6, -1e-6, 0.6249, 0.6251]
        for (x, value) in zip(inputs, lanes(inputs, VectorMath.tanh)) {
            let exact = Foundation.tanh(Double(x))
            XCTAssertLessThanOrEqual(abs(Double(value) - exact), 1.2e-7 * max(abs(exact), 1e-30) + 1e-12,
                                     "tanh(\(x)) = \(value), expected \(exact)")
        }
    }

    func testErfcTailKeepsRelativePrecision() {
        let inputs: [Float] = stride(from: 0.0, through: 9.0, by: 0.011).map { Float($0) }
        for (x, value) in zip(inputs, lanes(inputs, VectorMath.erfcNonNegative)) {
            let exact = Foundation.erfc(Double(x))
            // The fit's 1.2e-7, a few float32 roundings of the evaluation, and the rounding of the exponent −x².
            let allowed = 4e-7 + Double(x * x) * 1.2e-7
            XCTAssertLessThanOrEqual(abs(Double(value) - exact) / exact, allowed, "erfc(\(x)) = \(value), expected \(exact)")
        }
    }

    func testSigmoidBothTails() {
        let inputs: [Float] = [-100, -30, -5, 0, 5, 30, 100]
        for (x, value) in zip(inputs, lanes(inputs, VectorMath.sigmoid)) {
            let exact = 1 / (1 + Foundation.exp(-Double(x)))
            XCTAssertLessThanOrEqual(abs(Double(value) - exact), 3e-7 * exact + 1e-40, "σ(\(x)) = \(value), expected \(exact)")
        }
    }
}
