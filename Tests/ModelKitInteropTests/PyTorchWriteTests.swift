import Foundation
import ModelKitCore
import ModelKitFormat
@testable import ModelKitInterop
import ModelKitTestSupport
import XCTest

/// Export to a `torch.save` zip: round trips, the archive layout torch expects, and torch itself reading the files.
final class PyTorchWriteTests: XCTestCase {
    func write(_ model: Model, name: String = "model.pt") throws -> String {
        let path = try FixturePaths.scratchDirectory(for: self) + "/" + name
        try PyTorchFormat.write(model, to: path)
        return path
    }

    /// The weight as torch stores it: `[out, in]`.
    func outIn(_ tensor: ModelTensor) -> Tensor {
        tensor.layout == .inOut ? TorchStateDictWriter.transposed(tensor.tensor) : tensor.tensor
    }

    func assertSameNetwork(_ read: Model, _ original: Model, file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(try Architecture(model: read), try Architecture(model: original), file: file, line: line)
        XCTAssertEqual(read.layers.map(\.kind), original.layers.map(\.kind), file: file, line: line)
        let readDense = read.layers.filter { $0.kind == .dense }, originalDense = original.layers.filter { $0.kind == .dense }
        for (readLayer, originalLayer) in zip(readDense, originalDense) {
            let readWeight = try XCTUnwrap(read.parameter("weight", of: readLayer))
            let originalWeight = try XCTUnwrap(original.parameter("weight", of: originalLayer))
            XCTAssertEqual(readWeight.layout, .outIn, file: file, line: line)
            XCTAssertTrue(readWeight.tensor.hasSameContents(as: outIn(originalWeight)), "\(originalWeight.name)", file: file, line: line)
            let readBias = read.parameter("bias", of: readLayer)?.tensor, originalBias = original.parameter("bias", of: originalLayer)?.tensor
            XCTAssertEqual(readBias == nil, originalBias == nil, file: file, line: line)
            if let readBias, let originalBias {
                XCTAssertTrue(readBias.hasSameContents(as: originalBias), "\(originalLayer.name) bias", file: file, line: line)
            }
        }
    }

    func test_P13_roundTripIsExactForEachLayoutAndDType() throws {
        for layout in WeightLayout.allCases {
            for dtype in [DType.float32, .float16, .bfloat16, .float64] {
                let original = SampleModels.dense([5, 4, 4, 3], layout: layout, dtype: dtype, seed: 3)
                let loaded = try PyTorchFormat.read(path: try write(original))
                try assertSameNetwork(loaded.model, original)
                XCTAssertEqual(loaded.model.tensors.map(\.name), ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"])
                XCTAssertTrue(loaded.notes.contains { $0.hasPrefix("architecture from the file") }, "\(loaded.notes)")
            }
        }
    }

    func test_P13_zooRoundTripKeepsEveryActivationAndTransposesInOutWeights() throws {
        let zoo = try ModelJSONForm.read(path: try FixturePaths.require("models/example/zoo.json")).model
        let loaded = try PyTorchFormat.read(path: try write(zoo))
        try assertSameNetwork(loaded.model, zoo)
        XCTAssertEqual(loaded.model.tensor(named: "4.weight")?.tensor.dtype, .float16, "fc3's weight stays float16")
        // An explicit architecture wins over the embedded one, and must fit.
        let wrong = TorchFixture.error {
            _ = try PyTorchFormat.read(path: try self.write(zoo, name: "again.pt"), architecture: try Architecture(parsing: "linear(16,10)"))
        }
        guard case .binding? = wrong else { return XCTFail("\(String(describing: wrong))") }
    }

    func test_P15_archiveLayoutMatchesTorch() throws {
        let model = SampleModels.dense([6, 5, 2])
        let path = try write(model)
        let archive = try ZipArchive.open(path)
        XCTAssertEqual(archive.memberNames, ["archive/data.pkl", "archive/.format_version", "archive/.storage_alignment",
                                             "archive/byteorder", "archive/data/0", "archive/data/1", "archive/data/2",
                                             "archive/data/3", "archive/version", "archive/.data/serialization_id"])
        for member in archive.members {
            XCTAssertEqual(member.method, .stored, member.name)
            XCTAssertEqual(member.dataOffset % 64, 0, "\(member.name) is not 64-byte aligned")
            _ = try archive.contents(of: member)  // CRC-32 checked
        }
        func text(_ name: String) throws -> String { String(decoding: try archive.contents(ofMemberNamed: "archive/\(name)").copyBytes(), as: UTF8.self) }
        XCTAssertEqual(try text("byteorder"), "little")
        XCTAssertEqual(try text("version"), "3\n")
        XCTAssertEqual(try text(".format_version"), "1")
        XCTAssertEqual(try text(".storage_alignment"), "64")
        XCTAssertEqual(try text(".data/serialization_id").count, 40)

        let torch = try TorchArchive.open(path)
        guard case .dict(let root) = torch.root, case .dict(let attributes)? = torch.heap.dicts[root].attributes,
              case .dict(let metadata)? = torch.heap.dicts[attributes].value(for: .string("_metadata")) else {
            return XCTFail("no _metadata on the state dict")
        }
        XCTAssertTrue(torch.heap.dicts[root].isOrdered)
        // linear relu linear softmax: four modules, plus the state dict itself ('') and ModelKit's entry.
        XCTAssertEqual(torch.heap.dicts[metadata].keys, ["", "0", "1", "2", "3", "modelkit"].map(PickleValue.string))
        XCTAssertEqual(torch.heap.storages.map(\.key), ["0", "1", "2", "3"])
        XCTAssertEqual(torch.heap.tensors.map(\.stride), [[6, 1], [1], [5, 1], [1]])
        // Identical input, identical bytes.
        XCTAssertEqual(try FixturePaths.bytes(path), try FixturePaths.bytes(try write(model, name: "second.pt")))
    }

    func test_P15_zip64RecordsAreWrittenWhenNeededAndReadBack() throws {
        let model = SampleModels.dense([6, 5, 2])
        let path = try FixturePaths.scratchDirectory(for: self) + "/zip64.pt"
        try TorchStateDictWriter.write(model, to: path, zip64Threshold: 100)
        let archive = try ZipArchive.open(path)
        XCTAssertTrue(archive.members.allSatisfy { $0.dataOffset % 64 == 0 })
        let plain = try PyTorchFormat.readStateDict(path: try write(model))
        let large = try PyTorchFormat.readStateDict(path: path)
        XCTAssertEqual(large.map(\.name), plain.map(\.name))
        for (a, b) in zip(large, plain) { XCTAssertTrue(a.tensor.hasSameContents(as: b.tensor), a.name) }
    }

    func test_P13_modelsThatAreNotDenseChainsAreRefused() throws {
        var activationFirst = SampleModels.dense([3, 2])
        activationFirst.layers.insert(Layer(name: "first", kind: .relu), at: 0)
        let error = TorchFixture.error { _ = try self.write(activationFirst) }
        guard case .cannotExport? = error else { return XCTFail("\(String(describing: error))") }
        XCTAssertTrue(error?.description.contains("relu comes before the first dense layer") == true, error?.description ?? "")

        var integers = SampleModels.dense([3, 2])
        integers.addTensor(ModelTensor(name: "fc1.weight", tensor: Tensor.make(dtype: .int32, shape: [2, 3]) { _ in }, layout: .outIn))
        let integerError = TorchFixture.error { _ = try self.write(integers) }
        XCTAssertTrue(integerError?.description.contains("holds int32 values; nn.Linear needs floating point") == true,
                      integerError?.description ?? "")
    }

    /// The committed exports (checked with torch by Fixtures/generate/pytorch_fixtures.py) are exactly what the
    /// writer produces today. When the writer changes on purpose, copy the file this test leaves in the temporary
    /// directory over the committed one and run the generator again.
    func test_P16_committedExportsAreTheWritersOutputAndTorchAcceptedThem() throws {
        var committedCRCs: [String: Int] = [:]
        for (name, source) in [("modelkit_export_example.pt", "models/example/example.json"), ("modelkit_export_zoo.pt", "models/example/zoo.json")] {
            let committedPath = FixturePaths.fixture("models/torch/\(name)")
            let committed = FileManager.default.fileExists(atPath: committedPath) ? try FixturePaths.bytes(committedPath) : []
            let model = try ModelJSONForm.read(path: try FixturePaths.require(source)).model
            let fresh = try FixturePaths.bytes(try write(model, name: name))
            if fresh != committed {
                let kept = NSTemporaryDirectory() + name
                try FixturePaths.write(fresh, to: kept)
                XCTFail("\(name) differs from the writer's output; if intended: cp \(kept) Fixtures/models/torch/\(name) "
                        + "and run Fixtures/generate/pytorch_fixtures.py")
            }
            committedCRCs["Fixtures/models/torch/\(name)"] = Int(CRC32.checksum(committed))
        }
        let exports = try XCTUnwrap(try TorchFixture.expected("modelkit_export_check")["exports"]?.arrayValue)
        XCTAssertEqual(exports.compactMap { $0["file"]?.stringValue }.sorted(), committedCRCs.keys.sorted())
        for entry in exports {
            let file = entry["file"]?.stringValue ?? "?"
            XCTAssertEqual(entry["crc32"]?.intValue, committedCRCs[file], "\(file): the torch check ran on another file")
            XCTAssertEqual(entry["outputs_equal"], .bool(true), file)
            XCTAssertEqual(entry["max_abs_difference"]?.doubleValue, 0, file)
            XCTAssertEqual(entry["storages_64_byte_aligned"], .bool(true), file)
            XCTAssertEqual(entry["load_state_dict"]?.stringValue, "strict=True: missing [], unexpected []", file)
            XCTAssertEqual(entry["loaded_with"]?.stringValue, "torch.load(path, weights_only=True)", file)
        }
    }

    // MARK: - Live

    func torchPython() throws -> String {
        guard let python = ProcessInfo.processInfo.environment["MODELKIT_PYTHON"], !python.isEmpty else {
            throw XCTSkip("set MODELKIT_PYTHON to a Python with torch (e.g. /work/venv-gen/py/bin/python)")
        }
        let probe = try run(python, ["-c", "import torch"])
        guard probe.status == 0 else { throw XCTSkip("\(python) has no torch (CI does not install it): \(probe.output.prefix(200))") }
        return python
    }

    func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// torch.load(weights_only=True) reads our files (a plain one, one with ZIP64 records, float16 and bfloat16
    /// weights), builds the nn.Sequential from the recorded architecture, load_state_dict(strict=True) accepts
    /// them, and the values torch sees are the ones we wrote.
    func test_P16_liveTorchLoadsOurExportsWithWeightsOnly() throws {
        let python = try torchPython()
        let folder = try FixturePaths.scratchDirectory(for: self)
        let zoo = try ModelJSONForm.read(path: try FixturePaths.require("models/example/zoo.json")).model
        var files = [folder + "/zoo.pt", folder + "/zip64.pt"]
        try PyTorchFormat.write(zoo, to: files[0])
        try TorchStateDictWriter.write(zoo, to: files[1], zip64Threshold: 64)
        for dtype in [DType.float16, .bfloat16] {
            files.append(folder + "/\(dtype.rawValue).pt")
            try PyTorchFormat.write(SampleModels.dense([4, 3, 2], layout: .inOut, dtype: dtype), to: files[files.count - 1])
        }
        let script = """
        import json, sys, torch
        nn = torch.nn
        def module(kind, spec):
            return {"relu": lambda: nn.ReLU(), "sigmoid": lambda: nn.Sigmoid(), "tanh": lambda: nn.Tanh(),
                    "silu": lambda: nn.SiLU(), "identity": lambda: nn.Identity(),
                    "leaky_relu": lambda: nn.LeakyReLU(spec.get("alpha", 0.01)),
                    "gelu": lambda: nn.GELU(approximate=spec.get("approximate", "none")),
                    "dropout": lambda: nn.Dropout(spec.get("rate", 0.5)),
                    "softmax": lambda: nn.Softmax(dim=-1), "log_softmax": lambda: nn.LogSoftmax(dim=-1)}[kind]()
        results = []
        for path in sys.argv[1:]:
            state = torch.load(path, weights_only=True)
            layers = []
            for spec in json.loads(state._metadata["modelkit"]["architecture"]):
                if spec["type"] == "dense":
                    layers.append(nn.Linear(spec["in"], spec["out"], bias=spec.get("bias", True)))
                    if spec.get("activation", "none") != "none":
                        layers.append(module(spec["activation"], spec))
                else:
                    layers.append(module(spec["type"], spec))
            network = nn.Sequential(*layers)
            result = network.load_state_dict(state, strict=True)
            results.append({"path": path, "missing": result.missing_keys, "unexpected": result.unexpected_keys,
                            "tensors": {k: {"dtype": str(v.dtype), "shape": list(v.shape),
                                            "values": v.float().flatten().tolist()} for k, v in state.items()}})
        print(json.dumps(results))
        """
        let (status, output) = try run(python, ["-c", script] + files)
        XCTAssertEqual(status, 0, output)
        guard status == 0 else { return }
        let results = try XCTUnwrap(try JSONValue.parse(output).arrayValue)
        XCTAssertEqual(results.count, files.count)
        let torchNames: [DType: String] = [.float32: "torch.float32", .float16: "torch.float16", .bfloat16: "torch.bfloat16"]
        for (result, path) in zip(results, files) {
            XCTAssertEqual(result["missing"], .array([]), path)
            XCTAssertEqual(result["unexpected"], .array([]), path)
            let written = try PyTorchFormat.readStateDict(path: path)
            let tensors = try XCTUnwrap(result["tensors"]?.objectValue)
            XCTAssertEqual(tensors.keys, written.map(\.name), path)
            for tensor in written {
                let seen = try XCTUnwrap(tensors[tensor.name])
                XCTAssertEqual(seen["dtype"]?.stringValue, torchNames[tensor.tensor.dtype], "\(path) \(tensor.name)")
                XCTAssertEqual(seen["shape"]?.arrayValue?.compactMap(\.intValue), tensor.tensor.shape.dimensions)
                XCTAssertEqual(seen["values"]?.arrayValue?.compactMap(\.doubleValue), tensor.tensor.floatValues().map(Double.init),
                               "\(path) \(tensor.name)")
            }
        }
    }
}
