import ModelKitCore
import ModelKitInterop
import XCTest

/// The header dictionary parser accepts what numpy (old and new) writes and refuses everything else by name.
final class NumPyHeaderTests: XCTestCase {
    /// A .npy file with `header` as its dictionary text, padded as numpy pads, followed by `data`.
    private func npy(_ header: String, data: [UInt8], version: UInt8 = 1) -> [UInt8] {
        var body = Array(header.utf8)
        let lengthSize = version == 1 ? 2 : 4
        let unpadded = 8 + lengthSize + body.count + 1
        body += [UInt8](repeating: 0x20, count: (64 - unpadded % 64) % 64) + [0x0A]
        var bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [version, 0]
        for index in 0..<lengthSize { bytes.append(UInt8(truncatingIfNeeded: body.count >> (8 * index))) }
        return bytes + body + data
    }

    private let sixFloats: [UInt8] = [Float](arrayLiteral: 1, 2, 3, 4, 5, 6).withUnsafeBytes { Array($0) }

    func test_N4_acceptsKeyOrdersQuotesSpacingAndTrailingCommas() throws {
        let headers = [
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
            "{'shape': (2, 3), 'fortran_order': False, 'descr': '<f4'}",
            "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (2, 3)}",
            "{'descr':'<f4','fortran_order':False,'shape':(2,3)}",
            "{ 'descr' : '<f4' ,\n 'fortran_order' : False ,\t'shape' : ( 2 , 3 , ) , }",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 3L), }",  // Python 2 numpy
            "{'descr': '=f4', 'fortran_order': False, 'shape': (2, 3), }",
            "{'descr': 'f4', 'fortran_order': False, 'shape': (2, 3), }",
        ]
        for header in headers {
            let tensor = try NumPyFile.readArray(bytes: npy(header, data: sixFloats))
            XCTAssertEqual(tensor.shape, [2, 3], header)
            XCTAssertEqual(tensor.floatValues(), [1, 2, 3, 4, 5, 6], header)
        }
    }

    func test_N6_scalarAndOneDimensionalShapes() throws {
        let scalar = try NumPyFile.readArray(bytes: npy("{'descr': '<f4', 'fortran_order': False, 'shape': (), }",
                                                        data: Array(sixFloats.prefix(4))))
        XCTAssertEqual(scalar.shape, [])
        XCTAssertEqual(scalar.floatValues(), [1])
        let vector = try NumPyFile.readArray(bytes: npy("{'descr': '<f4', 'fortran_order': True, 'shape': (6,), }",
                                                        data: sixFloats))
        XCTAssertEqual(vector.shape, [6])
        XCTAssertEqual(vector.floatValues(), [1, 2, 3, 4, 5, 6])
    }

    func test_N8_fortranOrderIsTransposedIntoCOrder() throws {
        // Column-major [2, 3]: memory holds column by column, so (1, 2, 3, 4, 5, 6) is [[1, 3, 5], [2, 4, 6]].
        let tensor = try NumPyFile.readArray(bytes: npy("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }",
                                                        data: sixFloats))
        XCTAssertEqual(tensor.floatValues(), [1, 3, 5, 2, 4, 6])
        // Axes of length 1 do not change the order, so the data is viewed without a copy.
        let columnBytes = npy("{'descr': '<f4', 'fortran_order': True, 'shape': (1, 6, 1), }", data: sixFloats)
        let column = try NumPyFile.readArray(bytes: columnBytes)
        XCTAssertEqual(column.floatValues(), [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(column.byteOffset, columnBytes.count - sixFloats.count)
    }

    func test_N8_boolBytesOtherThanOneAreTrue() throws {
        let tensor = try NumPyFile.readArray(bytes: npy("{'descr': '|b1', 'fortran_order': False, 'shape': (4,), }",
                                                        data: [0, 1, 2, 255]))
        XCTAssertEqual(Array(tensor.bytes), [0, 1, 1, 1])
    }

    func test_N4_N5_N6_refusesMalformedHeadersWithAReason() {
        let cases: [(String, String)] = [
            ("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)", "unterminated dictionary"),
            ("{'descr': '<f4' 'fortran_order': False, 'shape': (2, 3)}", "expected ',' or '}'"),
            ("{'descr': '<f4, 'fortran_order': False, 'shape': (2, 3)}", "expected ',' or '}', found 'f'"),
            ("{'descr' '<f4', 'fortran_order': False, 'shape': (2, 3)}", "expected ':' after the key 'descr'"),
            ("{'descr': '<f4', 'fortran_order': false, 'shape': (2, 3)}", "'false' is not a literal"),
            ("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)} x", "unexpected text after"),
            ("{'descr': '<f4', 'fortran_order': False, 'shape': [2, 3]}", "must be a tuple"),
            ("{'descr': '<f4', 'fortran_order': False, 'shape': (2.5, 3)}", "2.5 is not an integer"),
            ("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999, 1)}", "does not fit in 64 bits"),
            ("{'descr': '<f4', 'fortran_order': None, 'shape': (2, 3)}", "'fortran_order' is None"),
            ("{'descr': 4, 'fortran_order': False, 'shape': (2, 3)}", "'descr' is 4"),
            ("{1: '<f4', 'fortran_order': False, 'shape': (2, 3)}", "key 1 is not a string"),
            ("{'descr': '|f4', 'fortran_order': False, 'shape': (2, 3)}", "needs a byte order"),
            ("{'descr': '<f3', 'fortran_order': False, 'shape': (2, 3)}", "not a NumPy type this reader knows"),
            ("{'descr': ('<f4', (2,)), 'fortran_order': False, 'shape': (3,)}", "structured"),
            ("{'descr': '<f4', 'fortran_order': False, 'shape': (((((((((((((((((((1,),),),),),),),),),),),),),),),),),),)}",
             "nested more than 16 deep"),
        ]
        for (header, fragment) in cases {
            XCTAssertThrowsError(try NumPyFile.readArray(bytes: npy(header, data: sixFloats), source: "h.npy"), header) { error in
                XCTAssertTrue("\(error)".contains(fragment), "expected '\(fragment)' in: \(error)")
            }
        }
    }

    func test_N2_version3HeaderMustBeUTF8() {
        var bytes = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", data: sixFloats, version: 3)
        bytes[14] = 0xFF
        XCTAssertThrowsError(try NumPyFile.readArray(bytes: bytes)) { error in
            XCTAssertTrue("\(error)".contains("must be UTF-8"), "\(error)")
        }
    }

    func test_W1_headersAreAlignedAndVersion1WhenTheyFit() throws {
        let small = try NumPyFile.encode(Tensor(float32: [1, 2], shape: [2]))
        XCTAssertEqual(Array(small[6...7]), [1, 0])
        XCTAssertEqual(small.count, 128 + 8)
        XCTAssertEqual(small[127], 0x0A)
        // Every header numpy writes is a multiple of 64 long and ends with a newline.
        for shape: Shape in [[], [0], [1], [3, 4], [2, 3, 4, 5, 6, 7, 8, 9], [123_456_789_012, 0]] {
            let bytes = try NumPyFile.encode(Tensor.make(dtype: .uint8, shape: shape) { _ in })
            let headerEnd = 10 + Int(bytes[8]) + Int(bytes[9]) << 8
            XCTAssertEqual(headerEnd % 64, 0, "\(shape)")
            XCTAssertEqual(bytes[headerEnd - 1], 0x0A, "\(shape)")
        }
    }
}
