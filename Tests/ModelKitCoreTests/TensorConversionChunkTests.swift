import XCTest
import ModelKitCore

/// `converted(to:)` works through a bounded buffer; every chunk boundary must be exact.
final class TensorConversionChunkTests: XCTestCase {
    func test_conversionAcrossChunkBoundariesMatchesElementByElement() throws {
        let count = 65_536 * 2 + 17
        let values = (0..<count).map { Float($0 % 1000) * 0.37 - 150 }
        let source = Tensor(float32: values, shape: [count])
        for target in [DType.float16, .bfloat16, .float64] {
            let converted = try source.converted(to: target)
            XCTAssertEqual(converted.dtype, target)
            for index in [0, 1, 65_535, 65_536, 65_537, 131_071, 131_072, count - 1] {
                let expected: Double
                switch target {
                case .float16: expected = Double(Float(Float16(values[index])))
                case .bfloat16: expected = Double(BFloat16Bits.toFloat(BFloat16Bits.fromFloat(values[index])))
                default: expected = Double(values[index])
                }
                XCTAssertEqual(converted.element(at: index), expected, "\(target) element \(index)")
            }
            let back = try converted.converted(to: .float32)
            XCTAssertEqual(back.elementCount, count)
        }
    }
}
