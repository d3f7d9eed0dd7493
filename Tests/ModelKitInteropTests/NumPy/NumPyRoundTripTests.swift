import Foundation
import ModelKitCore
import ModelKitInterop
import ModelKitTestSupport
import XCTest

/// What we write reads back identically, and numpy itself reads it as the same array.
final class NumPyRoundTripTests: XCTestCase {
    private let shapes: [Shape] = [[], [0], [7], [3, 5], [12, 3], [2, 3, 40], [0, 3], [1, 1, 1, 1, 1, 1, 1, 2]]

    func test_W1_npyWriteThenReadGivesTheSameTensorForEveryDTypeAndShape() throws {
        let directory = try FixturePaths.scratchDirectory(for: self)
        for dtype in numpyDTypes {
            for shape in shapes {
                let tensor = numpyPatternTensor(dtype, shape)
                let path = directory + "/t.npy"
                try NumPyFile.writeArray(tensor, to: path)
                let back = try NumPyFile.readArray(path: path)
                XCTAssertTrue(back.hasSameContents(as: tensor), "\(dtype) \(shape)")
                XCTAssertTrue(try NumPyFile.readArray(bytes: NumPyFile.encode(tensor)).hasSameContents(as: tensor))
            }
        }
    }

    func test_Z8_npzWriteThenReadKeepsNamesOrderAndContents() throws {
        let directory = try FixturePaths.scratchDirectory(for: self)
        let arrays: [(name: String, tensor: Tensor)] = [
            ("weights", numpyPatternTensor(.float32, [40, 30])),
            ("bias", numpyPatternTensor(.float64, [30])),
            ("zeros", Tensor.make(dtype: .float32, shape: [100, 100]) { $0.initializeMemory(as: UInt8.self, repeating: 0) }),
            ("layers/0/scale", numpyPatternTensor(.int64, [])),
            ("mask", numpyPatternTensor(.bool, [3, 3])),
        ]
        for compressed in [false, true] {
            let path = directory + "/a.npz"
            try NumPyFile.writeArchive(arrays, to: path, compressed: compressed)
            let back = try NumPyFile.readArchive(path: path)
            XCTAssertEqual(back.map(\.name), arrays.map(\.name))
            for (original, read) in zip(arrays, back) {
                XCTAssertTrue(read.tensor.hasSameContents(as: original.tensor), "\(original.name) compressed=\(compressed)")
            }
            let archive = try ZipArchive.open(path)
            XCTAssertEqual(archive.members.map(\.method), Array(repeating: compressed ? .deflated : .stored, count: arrays.count))
        }
        // The same arrays give the same bytes every time (fixed timestamps).
        try NumPyFile.writeArchive(arrays, to: directory + "/b.npz", compressed: true)
        XCTAssertEqual(try FixturePaths.bytes(directory + "/a.npz"), try FixturePaths.bytes(directory + "/b.npz"))
    }

    func test_Z8_W2_writingRefusesBFloat16AndBadNames() throws {
        let directory = try FixturePaths.scratchDirectory(for: self)
        let bf16 = numpyPatternTensor(.bfloat16, [2])
        XCTAssertThrowsError(try NumPyFile.writeArray(bf16, to: directory + "/x.npy")) { error in
            XCTAssertTrue("\(error)".contains("no bfloat16"), "\(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory + "/x.npy"))
        let tensor = numpyPatternTensor(.float32, [2])
        for (name, fragment) in [("../up", "'..'"), ("/abs", "absolute"), ("a\\b", "backslash"), ("", "empty")] {
            XCTAssertThrowsError(try NumPyFile.writeArchive([(name, tensor)], to: directory + "/x.npz")) { error in
                XCTAssertTrue("\(error)".contains(fragment), "\(name): \(error)")
            }
        }
        XCTAssertThrowsError(try NumPyFile.writeArchive([("a", tensor), ("a", tensor)], to: directory + "/x.npz")) { error in
            XCTAssertTrue("\(error)".contains("used twice"), "\(error)")
        }
        XCTAssertThrowsError(try NumPyFile.writeArray(tensor, to: directory + "/missing/dir/x.npy")) { error in
            XCTAssertTrue("\(error)".contains("missing/dir/x.npy"), "\(error)")
        }
    }

    /// numpy loads our .npy and .npz files as the arrays we wrote, and np.save of the same array gives our bytes.
    func test_W1_Z8_numPyReadsWhatWeWrite() throws {
        let directory = try FixturePaths.scratchDirectory(for: self)
        var expected: [String: Tensor] = [:]
        for dtype in numpyDTypes {
            for (index, shape) in shapes.enumerated() {
                let tensor = numpyPatternTensor(dtype, shape)
                let name = "\(dtype.rawValue)_\(index)"
                try NumPyFile.writeArray(tensor, to: directory + "/\(name).npy")
                expected[name] = tensor
            }
        }
        let members: [(name: String, tensor: Tensor)] = [
            ("w", numpyPatternTensor(.float32, [4, 5])), ("b", numpyPatternTensor(.int32, [5])),
        ]
        try NumPyFile.writeArchive(members, to: directory + "/stored.npz", compressed: false)
        try NumPyFile.writeArchive(members, to: directory + "/deflated.npz", compressed: true)

        let script = """
        import io, json, os, sys
        import numpy as np
        names = {np.dtype(t): n for t, n in [('f2', 'float16'), ('f4', 'float32'), ('f8', 'float64'), ('i1', 'int8'),
                 ('i2', 'int16'), ('i4', 'int32'), ('i8', 'int64'), ('u1', 'uint8'), ('?', 'bool')]}
        def describe(a):
            flat = a.reshape(-1)
            values = [bool(v) for v in flat] if a.dtype == np.bool_ else flat.tolist()
            return {'dtype': names[a.dtype], 'shape': list(a.shape), 'values': values}
        out = {'files': {}, 'archives': {}}
        d = sys.argv[1]
        for f in sorted(os.listdir(d)):
            p = os.path.join(d, f)
            if f.endswith('.npy'):
                a = np.load(p, allow_pickle=False)
                e = describe(a)
                buf = io.BytesIO(); np.save(buf, a)
                e['same_bytes_as_np_save'] = buf.getvalue() == open(p, 'rb').read()
                out['files'][f[:-4]] = e
            elif f.endswith('.npz'):
                with np.load(p, allow_pickle=False) as z:
                    out['archives'][f] = [dict(name=k, **describe(z[k])) for k in z.files]
        print(json.dumps(out))
        """
        let result = try NumPyPython.runJSON(script, arguments: [directory])
        let files = try XCTUnwrap(result["files"]?.objectValue)
        XCTAssertEqual(files.count, expected.count)
        for (name, tensor) in expected {
            let entry = try XCTUnwrap(files[name], name)
            try NumPyExpectedArray(entry, label: name).assertMatches(tensor)
            XCTAssertEqual(entry["same_bytes_as_np_save"]?.boolValue, true, "\(name): np.save writes different bytes")
        }
        for archive in ["stored.npz", "deflated.npz"] {
            let read = try XCTUnwrap(result["archives"]?[archive]?.arrayValue, archive)
            XCTAssertEqual(read.compactMap { $0["name"]?.stringValue }, members.map(\.name))
            for (entry, member) in zip(read, members) {
                try NumPyExpectedArray(entry, label: "\(archive)[\(member.name)]").assertMatches(member.tensor)
            }
        }
    }
}
