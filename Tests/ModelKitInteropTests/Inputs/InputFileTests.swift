import Foundation
import ModelKitCore
import ModelKitInterop
import ModelKitTestSupport
import XCTest

/// `modelkit run` inputs: the reader is picked by content and extension; CSV and JSON errors name line or element.
final class InputFileTests: XCTestCase {
    private var directory = ""

    override func setUpWithError() throws {
        directory = try FixturePaths.scratchDirectory(for: self)
    }

    private func file(_ name: String, _ text: String) throws -> String {
        let path = directory + "/" + name
        try FixturePaths.write(Array(text.utf8), to: path)
        return path
    }

    private func assertError(_ path: String, arrayName: String? = nil, contains fragments: [String],
                             file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try InputFile.read(path: path, arrayName: arrayName), file: file, line: line) { error in
            let text = "\(error)"
            XCTAssertTrue(error is InputFileError, "\(type(of: error))", file: file, line: line)
            XCTAssertFalse(text.contains("\n"), "not one line: \(text)", file: file, line: line)
            for fragment in fragments {
                XCTAssertTrue(text.contains(fragment), "expected '\(fragment)' in: \(text)", file: file, line: line)
            }
        }
    }

    // MARK: CSV

    func test_I3_csvWithoutHeader() throws {
        let tensor = try InputFile.read(path: try file("a.csv", "1,2.5,-3\n4, 5e-1 ,6\n"))
        XCTAssertEqual(tensor.dtype, .float32)
        XCTAssertEqual(tensor.shape, [2, 3])
        XCTAssertEqual(tensor.floatValues(), [1, 2.5, -3, 4, 0.5, 6])
    }

    func test_I3_csvHeaderBOMCRLFCommentsQuotesAndBlankLines() throws {
        let text = "\u{FEFF}# written by np.savetxt\r\n\"x 1\",x2\r\n\r\n\"1.5\",2\r\n  \r\n3,\"-4\"\r\n"
        let tensor = try InputFile.read(path: try file("b.csv", text))
        XCTAssertEqual(tensor.shape, [2, 2])
        XCTAssertEqual(tensor.floatValues(), [1.5, 2, 3, -4])
    }

    func test_I3_csvSingleColumnAndSpecialValues() throws {
        let tensor = try InputFile.read(path: try file("c.csv", "value\nnan\ninf\n-Infinity\n0x1p-3\n"))
        XCTAssertEqual(tensor.shape, [4, 1])
        let values = tensor.floatValues()
        XCTAssertTrue(values[0].isNaN)
        XCTAssertEqual(Array(values[1...]), [.infinity, -.infinity, 0.125])
    }

    func test_I3_I5_csvErrorsNameTheLineAndColumn() throws {
        assertError(try file("r.csv", "1,2,3\n4,5,6\n7,8\n"), contains: ["r.csv:3:", "2 columns, but line 1 has 3"])
        assertError(try file("h.csv", "a,b,c\n1,2,3\n4,5\n"), contains: ["h.csv:3:", "the header on line 1 has 3"])
        assertError(try file("n.csv", "1,2\n3,abc\n"), contains: ["n.csv:2:", "column 2: 'abc' is not a number"])
        assertError(try file("e.csv", "1,,3\n"), contains: ["e.csv:1:", "column 2: empty value"])
        assertError(try file("o.csv", "1,1e39\n"), contains: ["o.csv:1:", "1e39 is outside the float32 range"])
        assertError(try file("q.csv", "\"1,2\n"), contains: ["q.csv:1:", "quoted field is not closed"])
        assertError(try file("only_header.csv", "a,b\n"), contains: ["only_header.csv", "holds no numbers"])
        assertError(try file("two_headers.csv", "a,b\nc,d\n"), contains: ["two_headers.csv:2:", "'c' is not a number"])
    }

    // MARK: JSON

    func test_I4_jsonNestedListsFlatListsAndHigherRanks() throws {
        let matrix = try InputFile.read(path: try file("m.json", "[[1, 2, 3], [4, 5, 6.5]]"))
        XCTAssertEqual(matrix.shape, [2, 3])
        XCTAssertEqual(matrix.floatValues(), [1, 2, 3, 4, 5, 6.5])
        let flat = try InputFile.read(path: try file("f.json", "[0.25, -1e-3, 7]"))
        XCTAssertEqual(flat.shape, [1, 3])
        XCTAssertEqual(flat.floatValues(), [0.25, -1e-3, 7])
        let cube = try InputFile.read(path: try file("c.json", "[[[1],[2]],[[3],[4]]]"))
        XCTAssertEqual(cube.shape, [2, 2, 1])
    }

    func test_I4_jsonObjectOfNamedArrays() throws {
        let path = try file("o.json", #"{"x": [[1, 2]], "y": [[3], [4]]}"#)
        XCTAssertEqual(try InputFile.read(path: path, arrayName: "y").shape, [2, 1])
        assertError(path, contains: ["several arrays", "'x', 'y'"])
        assertError(path, arrayName: "z", contains: ["no array named 'z'", "'x', 'y'"])
        XCTAssertEqual(try InputFile.read(path: try file("one.json", #"{"only": [5, 6]}"#)).floatValues(), [5, 6])
    }

    func test_I4_I5_jsonErrorsNameTheElement() throws {
        assertError(try file("r.json", "[[1, 2, 3], [4, 5, 6], [7, 8]]"),
                    contains: ["r.json: at [2]:", "has 2 elements but the first row at this depth has 3", "ragged"])
        assertError(try file("s.json", #"[[1, 2], [3, "4"]]"#), contains: ["at [1][1]", "expected a number, found a string"])
        assertError(try file("u.json", "[[1, 2], 3]"), contains: ["at [1]", "expected a list of 2 elements, found a number"])
        assertError(try file("d.json", "[[1, [2]], [3, 4]]"), contains: ["at [0][1]", "nested unevenly"])
        assertError(try file("big.json", "[1e39]"), contains: ["at [0]", "outside the float32 range"])
        assertError(try file("n.json", "3"), contains: ["n.json", "expected a list of numbers"])
        assertError(try file("e.json", "[]"), contains: ["holds no numbers"])
        assertError(try file("bad.json", "[[1, 2],\n [3, 4]"), contains: ["bad.json: at line 2, column"])
        let deep = String(repeating: "[", count: 100) + "1" + String(repeating: "]", count: 100)
        assertError(try file("deep.json", deep), contains: ["deep.json"])
        assertError(try file("nine.json", String(repeating: "[", count: 9) + "1" + String(repeating: "]", count: 9)),
                    contains: ["at most 8 dimensions"])
    }

    // MARK: NumPy and detection

    func test_I2_numPyInputsKeepTheirDType() throws {
        let float64 = try InputFile.read(path: try NumPyFixtures.path("float64.npy"))
        XCTAssertEqual(float64.dtype, .float64)
        let float16 = try InputFile.read(path: try NumPyFixtures.path("float16.npy"))
        XCTAssertEqual(float16.dtype, .float16)
    }

    func test_I2_npzInputsNeedANameWhenThereAreSeveralArrays() throws {
        let single = try InputFile.read(path: try NumPyFixtures.path("single.npz"))
        XCTAssertEqual(single.shape, [2, 3, 4])
        let stored = try NumPyFixtures.path("stored.npz")
        assertError(stored, contains: ["stored.npz holds several arrays", "'weights', 'labels', 'scale'"])
        XCTAssertEqual(try InputFile.read(path: stored, arrayName: "labels").dtype, .int64)
        assertError(stored, arrayName: "x_test", contains: ["no array named 'x_test'", "'weights', 'labels', 'scale'"])
    }

    func test_I1_contentWinsOverTheExtension() throws {
        let npy = try FixturePaths.bytes(try NumPyFixtures.path("float32_v1.npy"))
        try FixturePaths.write(npy, to: directory + "/misnamed.csv")
        XCTAssertEqual(try InputFile.read(path: directory + "/misnamed.csv").shape, [2, 3])
        XCTAssertEqual(try InputFile.read(path: try file("data.txt", "1,2\n")).shape, [1, 2])
        XCTAssertEqual(try InputFile.read(path: try file("data", "[[1,2]]")).shape, [1, 2])
    }

    func test_I1_unsupportedInputsSayWhatTheFileIs() throws {
        assertError(try NumPyFixtures.malformed("x.npy"), contains: ["git-lfs pointer"])
        try FixturePaths.write([0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0], to: directory + "/m.h5")
        assertError(directory + "/m.h5", contains: ["HDF5", "use a .npy, .npz, .csv or .json file"])
        assertError(try file("empty.csv", ""), contains: ["holds no numbers"])
        assertError(try file("model.json", #"{"format": "modelkit-json", "layers": []}"#), contains: ["ModelKit JSON"])
        assertError(directory + "/missing.csv", contains: ["missing.csv", "cannot open"])
        assertError(try file("page.json", "<html><body>404</body></html>"), contains: ["HTML"])
    }
}
