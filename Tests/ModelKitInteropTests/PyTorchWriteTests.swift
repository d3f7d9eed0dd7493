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
    func outIn(_ tensor: ModelTensor) throws -> Tensor {
        tensor.layout == .inOut ? try tensor.tensor.transposed2D() : tensor.tensor
    }

    func assertSameNetwork(_ read: Model, _ original: Model, file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(try Architecture(model: read), try Architecture(model: original), file: file, line: line)
        XCTAssertEqual(read.layers.map(\.kind), original.layers.map(\.kind), file: file, line: line)
        let readDense = read.layers.filter { $0.kind == .dense }, originalDense = original.layers.filter { $0.kind == .dense }
        for (readLayer, originalLayer) in zip(readDense, originalDense) {
            let readWeight = try XCTUnwrap(read.parameter("weight", of: readLayer))
            let originalWeight = try XCTUnwrap(original.parameter("weight", of: originalLayer))
            XCTAssertEqual(readWeight.layout, .outIn, file: file, line: line)
            XCTAssertTrue(readWeight.tensor.hasSameContents(as: try outIn(originalWeight)), "\(originalWeight.name)", file: file, line: line)
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

        // torch's zip layout, which `.format_version` 1 lets torch assume (calculate_storage_offsets): each local
        // header has bit 3 set for a non-empty record, zero CRC and sizes, an `FB` padding field (even when no
        // padding is needed), and a 16-byte data descriptor follows the data; from the first storage on, each
        // record's data lie where torch's arithmetic puts them.
        let bytes = try FixturePaths.bytes(path)
        func u16(_ at: Int) -> Int { Int(bytes[at]) | Int(bytes[at + 1]) << 8 }
        func u32(_ at: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(bytes[at + $1]) << (8 * $1) } }
        var torchCursor: Int?
        var header = 0
        for member in archive.members {
            XCTAssertEqual(u32(header), 0x0403_4B50, "\(member.name): local header right after the previous descriptor")
            let nameLength = u16(header + 26), extraLength = u16(header + 28)
            XCTAssertEqual(u16(header + 6), member.uncompressedSize > 0 ? 0x0808 : 0x0800, member.name)
            XCTAssertEqual([u32(header + 14), u32(header + 18), u32(header + 22)], [0, 0, 0], member.name)
            let extraStart = header + 30 + nameLength
            XCTAssertEqual(Array(bytes[extraStart..<extraStart + 2]), Array("FB".utf8), member.name)
            XCTAssertEqual(u16(extraStart + 2) + 4, extraLength, member.name)
            XCTAssertTrue(bytes[(extraStart + 4)..<(extraStart + extraLength)].allSatisfy { $0 == 0x5A }, member.name)
            let end = member.dataOffset + member.uncompressedSize
            XCTAssertEqual(u32(end), 0x0807_4B50, "\(member.name): data descriptor")
            XCTAssertEqual(u32(end + 4), CRC32.checksum(try archive.contents(of: member).copyBytes()), member.name)
            XCTAssertEqual([u32(end + 8), u32(end + 12)], [UInt32(member.uncompressedSize), UInt32(member.uncompressedSize)])
            header = end + 16
            // torch.serialization._load's _get_offset: the next header starts after the data and its descriptor.
            guard member.name.hasPrefix("archive/data/") else { continue }
            if let cursor = torchCursor {
                let start = cursor + 30 + member.name.utf8.count + 4
                XCTAssertEqual(member.dataOffset, (start + 63) / 64 * 64, "\(member.name): where torch computes it")
            }
            torchCursor = end + 16
        }
    }

    /// The data offsets torch's reader computes (`get_record_offset_no_read`, recorded by the generator) for header
    /// offsets and sizes at and beyond the ZIP64 limits, which no small file reaches: the writer's local headers put
    /// the data exactly there.
    func test_P15_localHeadersMatchTorchsOffsetArithmeticUpToZIP64() throws {
        let rows = try XCTUnwrap(try TorchFixture.expected("modelkit_export_check")["computed_offsets"]?.arrayValue)
        XCTAssertGreaterThan(rows.count, 20)
        for row in rows {
            let record = try XCTUnwrap(row["record"]?.stringValue)
            let offset = try XCTUnwrap(row["header_offset"]?.intValue), size = try XCTUnwrap(row["size"]?.intValue)
            let header = AlignedZipWriter.localHeader(name: "archive/" + record, size: size, offset: offset)
            XCTAssertEqual(offset + header.count, row["data_offset"]?.intValue, "header at \(offset), size \(size)")
            // torch adds 24 bytes of descriptor when the header offset or the size reaches 0xFFFFFFFF, else 16.
            let descriptor = AlignedZipWriter.dataDescriptor(crc: 0, size: size, offset: offset)
            XCTAssertEqual(descriptor.count, offset >= 0xFFFF_FFFF || size >= 0xFFFF_FFFF ? 24 : 16, "header at \(offset), size \(size)")
        }
        // An empty record has no descriptor and no bit 3.
        XCTAssertEqual(AlignedZipWriter.localHeader(name: "archive/data/0", size: 0, offset: 0)[6...7], [0x00, 0x08])
    }

    func test_P14_aRefusedModelLeavesTheExistingFileUntouched() throws {
        let path = try write(SampleModels.dense([5, 4, 3]), name: "kept.pt")
        let folder = (path as NSString).deletingLastPathComponent
        let before = try FixturePaths.bytes(path)
        var refused = SampleModels.dense([3, 2])
        refused.layers.insert(Layer(name: "first", kind: .relu), at: 0)
        let error = TorchFixture.error { try PyTorchFormat.write(refused, to: path) }
        guard case .cannotExport? = error else { return XCTFail("\(String(describing: error))") }
        XCTAssertEqual(try FixturePaths.bytes(path), before, "the refused export touched the existing file")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder), ["kept.pt"], "no temporary file is left behind")
    }

    func test_P14_anIOErrorLeavesNothingBehindAndAWriteReplacesTheWholeFile() throws {
        let folder = try FixturePaths.scratchDirectory(for: self)
        // A parent that is a file: the temporary file cannot even be created.
        let blocker = folder + "/not-a-folder"
        try FixturePaths.write(Array("x".utf8), to: blocker)
        let error = TorchFixture.error { try PyTorchFormat.write(SampleModels.dense([3, 2]), to: blocker + "/model.pt") }
        guard case .fileAccess? = error else { return XCTFail("\(String(describing: error))") }
        XCTAssertEqual(error?.kind, .io)
        XCTAssertEqual(try FixturePaths.bytes(blocker), Array("x".utf8))
        // A successful write over a longer file replaces it entirely (renamed into place, not written over it).
        let path = folder + "/model.pt"
        try FixturePaths.write([UInt8](repeating: 0xEE, count: 100_000), to: path)
        try PyTorchFormat.write(SampleModels.dense([3, 2]), to: path)
        XCTAssertEqual(try FixturePaths.bytes(path), try FixturePaths.bytes(try write(SampleModels.dense([3, 2]), name: "fresh.pt")))
        XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: folder)), ["not-a-folder", "model.pt"])
    }

    func test_P15_zip64RecordsAreWrittenWhenNeededAndReadBack() throws {
        let model = SampleModels.dense([6, 5, 2])
        let path = try FixturePaths.scratchDirectory(for: self) + "/zip64.pt"
        try TorchStateDictWriter.write(model, to: path, zip64Threshold: 100)
        let archive = try ZipArchive.open(path)
        XCTAssertTrue(archive.members.allSatisfy { $0.dataOffset % 64 == 0 })
        // This layout is not the one torch computes offsets for, so the file does not claim it can.
        XCTAssertNil(archive.member(named: "archive/.format_version"))
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
            // With `.format_version` 1 torch may compute the offsets itself; it did, with its debug check on.
            XCTAssertEqual(entry["format_version"]?.stringValue, "1", file)
            XCTAssertEqual(entry["computed_offsets_load"]?.stringValue?.contains("calculate_storage_offsets = True and TORCH_SERIALIZATION_DEBUG=1"),
                           true, file)
            XCTAssertEqual(entry["computed_offsets_values_equal"], .bool(true), file)
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
    /// weights), also computing the storage offsets itself where the file allows it, builds the nn.Sequential from
    /// the recorded architecture, load_state_dict(strict=True) accepts them, and the values torch sees are the ones
    /// we wrote.
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
        import os, zipfile
        from torch.utils.serialization import config
        results = []
        for path in sys.argv[1:]:
            state = torch.load(path, weights_only=True)
            # With `.format_version` torch may compute storage offsets; the debug flag makes it check each one.
            computed = None
            if "archive/.format_version" in zipfile.ZipFile(path).namelist():
                config.load.calculate_storage_offsets = True
                os.environ["TORCH_SERIALIZATION_DEBUG"] = "1"
                again = torch.load(path, weights_only=True, mmap=True)
                config.load.calculate_storage_offsets = False
                del os.environ["TORCH_SERIALIZATION_DEBUG"]
                computed = list(again) == list(state) and all(torch.equal(again[k], state[k]) for k in state)
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
                            "computed_offsets_equal": computed,
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
            // Every file but the one with a lowered ZIP64 threshold promises torch's layout, and keeps the promise.
            XCTAssertEqual(result["computed_offsets_equal"], path.hasSuffix("zip64.pt") ? .null : .bool(true), path)
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
