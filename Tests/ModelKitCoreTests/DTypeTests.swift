import XCTest
import ModelKitCore
import ModelKitTestSupport

final class DTypeTests: XCTestCase {
    func test_bfloat16WideningIsExactAndNarrowingRoundsToNearestEven() {
        for bits in stride(from: 0, through: 0xFFFF, by: 1) {
            let value = BFloat16Bits.toFloat(UInt16(bits))
            if value.isNaN { XCTAssertTrue(BFloat16Bits.toFloat(BFloat16Bits.fromFloat(value)).isNaN); continue }
            XCTAssertEqual(BFloat16Bits.fromFloat(value), UInt16(bits), "bf16 \(bits) does not survive a round trip")
        }
        // Halfway cases: ties go to the even neighbour.
        XCTAssertEqual(BFloat16Bits.fromFloat(Float(bitPattern: 0x3F80_8000)), 0x3F80)  // 1 + 2^-8 → 1.0 (even)
        XCTAssertEqual(BFloat16Bits.fromFloat(Float(bitPattern: 0x3F81_8000)), 0x3F82)  // → up to even
        XCTAssertEqual(BFloat16Bits.fromFloat(Float(bitPattern: 0x3F80_8001)), 0x3F81)  // above half → up
        XCTAssertEqual(BFloat16Bits.fromFloat(.infinity), 0x7F80)
        XCTAssertEqual(BFloat16Bits.fromFloat(Float(bitPattern: 0x7F7F_FFFF)), 0x7F80, "max float rounds to infinity")
        XCTAssertTrue(BFloat16Bits.toFloat(BFloat16Bits.fromFloat(Float(bitPattern: 0x7F80_0001))).isNaN, "signalling NaN stays NaN")
    }

    func test_float16ConversionsMatchIEEE() throws {
        let values: [Float] = [0.1, 65504, 65520, 1e-8, -2.5, 6.1e-5]
        let half = try Tensor(float32: values, shape: [6]).converted(to: .float16)
        XCTAssertEqual(half.floatValues(), values.map { Float(Float16($0)) })
        XCTAssertEqual(half.floatValues()[2], .infinity, "65520 rounds up to infinity in float16")
    }

    func test_everyDTypeReadsAsFloatAndConversionsRoundTrip() throws {
        let source = Tensor(float32: [1.5, -2, 0, 3.25], shape: [2, 2])
        for dtype in [DType.float16, .bfloat16, .float64] {
            let converted = try source.converted(to: dtype)
            XCTAssertEqual(converted.dtype, dtype)
            XCTAssertEqual(converted.byteCount, 4 * dtype.byteSize)
            XCTAssertEqual(converted.floatValues(), source.floatValues())
            XCTAssertTrue(try converted.converted(to: .float32).hasSameContents(as: source))
        }
        XCTAssertThrowsError(try source.converted(to: .int32))
    }

    func test_integerDTypesAreExact() {
        let tensor = Tensor.make(dtype: .int16, shape: [2]) { raw in
            raw.storeBytes(of: Int16(-32768).littleEndian, toByteOffset: 0, as: Int16.self)
            raw.storeBytes(of: Int16(1234).littleEndian, toByteOffset: 2, as: Int16.self)
        }
        XCTAssertEqual(tensor.integerElement(at: 0), -32768)
        XCTAssertEqual(tensor.floatValues(), [-32768, 1234])
        XCTAssertNil(Tensor(float32: [1], shape: [1]).integerElement(at: 0))
    }

    func test_shapesRefuseOverflowAndTensorsRefuseOutOfBounds() {
        XCTAssertNil(Shape([1 << 40, 1 << 40]).elementCount)
        XCTAssertNil(Shape([1 << 61]).byteCount(for: .float32))
        let storage = TensorStorage(copying: [UInt8](repeating: 0, count: 16))
        XCTAssertThrowsError(try Tensor(dtype: .float32, shape: [5], storage: storage))
        XCTAssertThrowsError(try Tensor(dtype: .float32, shape: [2], storage: storage, byteOffset: 12))
        XCTAssertThrowsError(try Tensor(dtype: .float32, shape: [2], storage: storage, byteOffset: Int.max))
        XCTAssertNoThrow(try Tensor(dtype: .float32, shape: [2], storage: storage, byteOffset: 8))
        XCTAssertEqual(DType(name: "bf16"), .bfloat16)
        XCTAssertEqual(DType(name: "fp16"), .float16)
        XCTAssertNil(DType(name: "complex64"))
    }

    func test_byteReaderNeverReadsPastTheEnd() throws {
        let bytes: [UInt8] = [1, 0, 0, 0, 0xFF]
        try bytes.withUnsafeBytes { raw in
            var reader = ByteReader(raw)
            XCTAssertEqual(try reader.read(UInt32.self), 1)
            XCTAssertThrowsError(try reader.read(UInt16.self))
            XCTAssertThrowsError(try reader.readBytes(2))
            XCTAssertThrowsError(try reader.readBytes(-1))
            XCTAssertEqual(try reader.read(UInt8.self), 0xFF)
            var lengths = ByteReader(raw)
            XCTAssertThrowsError(try lengths.readLength(UInt32.self, limit: 0))
        }
    }
}

final class TransposeTests: XCTestCase {
    func test_transposeSwapsAxesForEveryElementSize() throws {
        let matrix = Tensor(float32: (0..<(70 * 3)).map(Float.init), shape: [70, 3])
        let transposed = try matrix.transposed2D()
        XCTAssertEqual(transposed.shape, [3, 70])
        let values = transposed.floatValues()
        for row in 0..<70 { for column in 0..<3 { XCTAssertEqual(values[column * 70 + row], Float(row * 3 + column)) } }
        XCTAssertTrue(try transposed.transposed2D().hasSameContents(as: matrix))
        let half = try matrix.converted(to: .float16)
        XCTAssertEqual(try half.transposed2D().floatValues(), values)
        XCTAssertThrowsError(try Tensor(float32: [1, 2], shape: [2]).transposed2D())
    }
}
