import Foundation
import ModelKitCore
import ModelKitFormat
import ModelKitInterop
import ModelKitTestSupport
import XCTest

/// Live checks against gguf-py: a file ModelKit writes now is read by gguf.GGUFReader in a subprocess.
/// Runs when `MODELKIT_PYTHON` names a Python with the `gguf` package; skipped otherwise.
final class GGUFLiveInteropTests: XCTestCase {
    static let readerScript = #"""
import json, sys
import numpy as np
from gguf import GGUFReader
reader = GGUFReader(sys.argv[1])
fields = {k: f.contents() for k, f in reader.fields.items() if not k.startswith("GGUF.")}
tensors = []
for t in reader.tensors:
    data = np.asarray(t.data)
    tensors.append({"name": t.name, "type": t.tensor_type.name, "dimensions": [int(d) for d in t.shape],
                    "numpy_shape": list(data.shape), "values": [float(v) for v in data.reshape(-1).astype(np.float64)]})
print(json.dumps({"version": int(reader.fields["GGUF.version"].contents()), "alignment": int(reader.alignment),
                  "fields": fields, "tensors": tensors}))
"""#

    /// The zoo (float16 weight, in_out weights written transposed, every activation) as gguf-py sees it: the same
    /// names, the weights `[out, in]` as numpy shapes, identical values, and our modelkit.* keys.
    func test_G13_ggufPyReadsOurFile() throws {
        let model = try GGUFFixtures.zooModel()
        let path = try FixturePaths.scratchDirectory(for: self) + "/zoo.gguf"
        try GGUFFormat.write(model, to: path, alignment: 64)
        let view = try GGUFPython.runJSON(Self.readerScript, arguments: [path])
        XCTAssertEqual(view["version"]?.intValue, 3)
        XCTAssertEqual(view["alignment"]?.intValue, 64)
        XCTAssertEqual(view["fields"]?["general.architecture"]?.stringValue, "modelkit-dense")
        XCTAssertEqual(view["fields"]?["general.name"]?.stringValue, model.info.name)
        XCTAssertEqual(view["fields"]?["modelkit.layers"]?.arrayValue?.count, model.layers.count)
        let tensors = try XCTUnwrap(view["tensors"]?.arrayValue)
        XCTAssertEqual(tensors.compactMap { $0["name"]?.stringValue }, model.tensors.map(\.name))
        for (entry, seen) in zip(model.tensors, tensors) {
            var expected = entry.tensor
            if entry.layout == .inOut { expected = try expected.transposed2D() }
            XCTAssertEqual(seen["numpy_shape"]?.arrayValue?.compactMap(\.intValue), expected.shape.dimensions, entry.name)
            XCTAssertEqual(seen["dimensions"]?.arrayValue?.compactMap(\.intValue), expected.shape.dimensions.reversed(), entry.name)
            XCTAssertEqual(seen["type"]?.stringValue, entry.tensor.dtype == .float16 ? "F16" : "F32", entry.name)
            let values = try XCTUnwrap(seen["values"]?.arrayValue).compactMap(\.doubleValue)
            XCTAssertEqual(values, ggufValues(expected), "\(entry.name): gguf-py reads other values")
        }
    }
}
