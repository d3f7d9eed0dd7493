import Foundation
import ModelKitCore
import ModelKitFormat
import ModelKitInterop
import ModelKitTestSupport
import XCTest

/// Reading the GGUF files gguf-py wrote (Fixtures/models/gguf) against what gguf-py itself reads from them.
final class GGUFReaderTests: XCTestCase {
    /// Every valid fixture: version, alignment, data offset, every metadata entry and every tensor info equal to
    /// gguf.GGUFReader's view (expected/gguf/headers.json).
    func test_G4_everyFixtureHeaderMatchesGGUFPy() throws {
        guard case .object(let files) = try XCTUnwrap(try GGUFFixtures.readerViews()["files"]) else { return XCTFail("headers.json") }
        XCTAssertGreaterThanOrEqual(files.count, 7)
        for (name, view) in files {
            let header = try GGUFFormat.readHeader(path: try GGUFFixtures.model(name))
            XCTAssertEqual(Int(header.version), view["version"]?.intValue, "\(name): version")
            XCTAssertEqual(header.alignment, view["alignment"]?.intValue, "\(name): alignment")
            XCTAssertEqual(header.dataOffset, view["data_offset"]?.intValue, "\(name): data offset")
            XCTAssertEqual(header.fileSize, view["file_size"]?.intValue, "\(name): file size")
            let metadata = try XCTUnwrap(view["metadata"]?.arrayValue)
            XCTAssertEqual(header.metadata.map(\.key), metadata.compactMap { $0["key"]?.stringValue }, "\(name): keys in order")
            for (entry, want) in zip(header.metadata, metadata) {
                assertMatchesGGUFReader(entry.value, types: want["types"]?.arrayValue ?? [], contents: want["contents"] ?? .null,
                                    "\(name) \(entry.key)")
            }
            let tensors = try XCTUnwrap(view["tensors"]?.arrayValue)
            XCTAssertEqual(header.tensors.count, tensors.count, "\(name): tensor count")
            for (info, want) in zip(header.tensors, tensors) {
                let label = "\(name) \(info.name)"
                XCTAssertEqual(info.name, want["name"]?.stringValue, label)
                XCTAssertEqual(Int(info.type.rawValue), want["type"]?.intValue, "\(label): type")
                XCTAssertEqual(info.type.name, want["type_name"]?.stringValue, "\(label): type name")
                XCTAssertEqual(info.dimensions, want["dimensions"]?.arrayValue?.compactMap(\.intValue), "\(label): dimensions")
                XCTAssertEqual(info.elementCount, want["n_elements"]?.intValue, "\(label): elements")
                XCTAssertEqual(info.byteCount, want["n_bytes"]?.intValue, "\(label): bytes")
                XCTAssertEqual(info.fileOffset, want["data_offset"]?.intValue, "\(label): file offset")
            }
        }
    }

    /// The example network written by gguf-py as F32, bound with --arch, equals the torch weights of example.json
    /// bit for bit, each weight `[out, in]` (GGUF `[in, out]` reversed), viewed in the mapped file.
    func test_G9_exampleF32EqualsTorchWeightsWithoutCopy() throws {
        let path = try GGUFFixtures.model("example_f32.gguf")
        let loaded = try GGUFFormat.read(path: path, architecture: try Architecture(parsing: GGUFFixtures.exampleArchitecture))
        let reference = try GGUFFixtures.exampleModel()
        XCTAssertEqual(loaded.formatName, "GGUF")
        XCTAssertEqual(loaded.formatVersion, "3")
        XCTAssertEqual(loaded.model.info.name, "example")
        XCTAssertEqual(loaded.model.layers.map(\.kind), reference.layers.map(\.kind))
        let ours = loaded.model.layers.filter { $0.kind == .dense }, theirs = reference.layers.filter { $0.kind == .dense }
        XCTAssertEqual(ours.count, 3)
        for (layer, referenceLayer) in zip(ours, theirs) {
            for role in ["weight", "bias"] {
                let actual = try XCTUnwrap(loaded.model.parameter(role, of: layer)), expected = try XCTUnwrap(reference.parameter(role, of: referenceLayer))
                XCTAssertEqual(actual.tensor.dtype, .float32)
                XCTAssertEqual(actual.tensor.shape, expected.tensor.shape, "\(layer.name).\(role)")
                XCTAssertTrue(actual.tensor.bytes.elementsEqual(expected.tensor.bytes), "\(layer.name).\(role) differs from torch")
                XCTAssertEqual(actual.layout, expected.layout, "\(layer.name).\(role) layout")
                // Zero-copy: the tensor views the memory-mapped file.
                XCTAssertEqual(actual.tensor.storage.bytes.count, loaded.fileSize, "\(layer.name).\(role) is not a view of the file")
            }
        }
        XCTAssertEqual(loaded.tensorEncodings["0.weight"], "F32")
        XCTAssertEqual(loaded.storedBytes["0.weight"], 200 * 400 * 4)
        XCTAssertTrue(loaded.model.analyze().issues.isEmpty, "\(loaded.model.analyze().issues)")
    }

    /// The F16 file holds the torch weights rounded to half precision by numpy (round to nearest even).
    func test_G9_exampleF16IsTorchWeightsRoundedToHalf() throws {
        let contents = try GGUFFormat.readContents(path: try GGUFFixtures.model("example_f16.gguf"))
        let reference = try GGUFFixtures.exampleModel()
        let names = ["0.weight": "fc1.weight", "0.bias": "fc1.bias", "2.weight": "fc2.weight", "2.bias": "fc2.bias",
                     "4.weight": "fc3.weight", "4.bias": "fc3.bias"]
        XCTAssertEqual(contents.tensors.count, 6)
        for entry in contents.tensors {
            let expected = try XCTUnwrap(reference.tensor(named: try XCTUnwrap(names[entry.name]))).tensor
            XCTAssertEqual(entry.tensor.dtype, .float16, entry.name)
            XCTAssertEqual(entry.tensor.shape, expected.shape, entry.name)
            let rounded = expected.floatValues().map { Float(Float16($0)) }
            XCTAssertEqual(entry.tensor.floatValues(), rounded, "\(entry.name) is not torch's weight rounded to float16")
        }
    }

    /// Q8_0 and Q4_0 tensors dequantize to exactly the values gguf-py's `quants.dequantize` computes.
    func test_G9_quantizedTensorsEqualGGUFPyDequantization() throws {
        let path = try GGUFFixtures.model("quantized.gguf")
        let contents = try GGUFFormat.readContents(path: path)
        XCTAssertEqual(contents.tensors.map(\.name), ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"])
        for entry in contents.tensors {
            let expected = try NumPyFile.readArray(path: try GGUFFixtures.expected("quantized.\(entry.name).npy"))
            XCTAssertEqual(entry.tensor.dtype, .float32, entry.name)
            XCTAssertEqual(entry.tensor.shape, expected.shape, entry.name)
            let actual = entry.tensor.floatValues(), want = expected.floatValues()
            XCTAssertEqual(actual.map(\.bitPattern), want.map(\.bitPattern), "\(entry.name) differs from gguf-py's dequantization")
        }
        XCTAssertEqual(contents.header.tensor(named: "fc1.weight")?.type, .q8_0)
        XCTAssertEqual(contents.header.tensor(named: "fc2.weight")?.type, .q4_0)
        // As a model: bound with --arch, the dequantized weights are [out, in].
        let loaded = try GGUFFormat.read(path: path, architecture: try Architecture(parsing: "linear(64,32) relu linear(32,4)"))
        XCTAssertEqual(loaded.tensorEncodings["fc1.weight"], "Q8_0")
        XCTAssertEqual(loaded.tensorEncodings["fc2.weight"], "Q4_0")
        XCTAssertEqual(loaded.storedBytes["fc1.weight"], 32 * 2 * 34)
        XCTAssertTrue(loaded.notes.contains { $0.contains("dequantized to float32") && $0.contains("fc2.weight (Q4_0)") }, "\(loaded.notes)")
        XCTAssertEqual(loaded.model.tensor(named: "fc1.weight")?.layout, .outIn)
        XCTAssertTrue(loaded.model.analyze().issues.isEmpty)
    }

    /// F64, I8, I16, I32, I64, BF16, F16, a scalar, a 4-D and an empty tensor, alignment 64, in version 3 and 2.
    func test_G2_plainTypesMatchGGUFPyInVersions3And2() throws {
        let expected = try GGUFFixtures.json(try GGUFFixtures.expected("dtypes.values.json"))
        let dtypes: [String: DType] = ["F64": .float64, "I8": .int8, "I16": .int16, "I32": .int32, "I64": .int64,
                                       "BF16": .bfloat16, "F16": .float16, "F32": .float32]
        for file in ["dtypes.gguf", "dtypes_v2.gguf"] {
            let contents = try GGUFFormat.readContents(path: try GGUFFixtures.model(file))
            XCTAssertEqual(contents.header.alignment, 64, file)
            XCTAssertEqual(contents.header.version, file == "dtypes.gguf" ? 3 : 2)
            XCTAssertEqual(contents.tensors.count, 10)
            for entry in contents.tensors {
                let label = "\(file) \(entry.name)"
                let want = try XCTUnwrap(expected[entry.name], label)
                XCTAssertEqual(entry.tensor.dtype, dtypes[want["type"]?.stringValue ?? ""], label)
                XCTAssertEqual(entry.tensor.shape.dimensions, want["shape"]?.arrayValue?.compactMap(\.intValue), label)
                let values = try XCTUnwrap(want["values"]?.arrayValue)
                XCTAssertEqual(entry.tensor.elementCount, values.count, label)
                for (index, value) in values.enumerated() where index < entry.tensor.elementCount {
                    guard case .number(let text) = value else { return XCTFail("\(label)[\(index)]") }
                    if let integer = entry.tensor.integerElement(at: index) {
                        XCTAssertEqual(String(integer), text, "\(label)[\(index)]")
                    } else {
                        let actual = entry.tensor.element(at: index), wanted = try XCTUnwrap(Double(text))
                        XCTAssertTrue(actual == wanted && actual.sign == wanted.sign, "\(label)[\(index)]: \(actual) vs \(text)")
                    }
                }
            }
        }
    }

    /// Q4_1, Q5_0, Q5_1 and the K-quants Q2_K–Q6_K dequantize to exactly gguf-py's values: every quant, mask and
    /// scale bit pattern (random bytes), finite f16 scales.
    func test_G9_blockTypesEqualGGUFPyDequantization() throws {
        let contents = try GGUFFormat.readContents(path: try GGUFFixtures.model("block_types.gguf"))
        XCTAssertEqual(contents.tensors.map(\.name), ["q4_1.weight", "q5_0.weight", "q5_1.weight", "q2_k.weight",
                                                      "q3_k.weight", "q4_k.weight", "q5_k.weight", "q6_k.weight"])
        for entry in contents.tensors {
            let expected = try NumPyFile.readArray(path: try GGUFFixtures.expected("block_types.\(entry.name).npy"))
            XCTAssertEqual(entry.tensor.shape, expected.shape, entry.name)
            let actual = entry.tensor.floatValues(), want = expected.floatValues()
            let differing = zip(actual, want).filter { $0.bitPattern != $1.bitPattern }.count
            XCTAssertEqual(differing, 0, "\(entry.name): \(differing) of \(want.count) values differ from gguf-py's")
        }
    }

    /// An LLM-like file: `readHeader` lists every tensor (Q4_K and Q6_K included) with row-major shapes; loading
    /// refuses the types it cannot decode, naming the tensor; without --arch the error says what to pass.
    func test_G11_llmLikeFileIsListedAndTypesWithoutADecoderAreRefused() throws {
        let path = try GGUFFixtures.model("llm_like.gguf")
        let header = try GGUFFormat.readHeader(path: path)
        XCTAssertEqual(header.architecture, "llama")
        XCTAssertEqual(header.name, "tiny llama-like")
        XCTAssertEqual(header["llama.context_length"]?.integerValue, 128)
        XCTAssertEqual(header["tokenizer.ggml.tokens"]?.arrayValue?.count, 64)
        XCTAssertEqual(header["tokenizer.ggml.tokens"]?.arrayValue?[7].stringValue, "▁日本")
        XCTAssertEqual(header.tensors.map(\.type.name), ["F16", "F32", "Q8_0", "Q4_K", "F32", "Q6_K"])
        XCTAssertEqual(header.tensor(named: "token_embd.weight")?.shape, [64, 32])
        XCTAssertEqual(header.tensor(named: "blk.0.ffn_down.weight")?.shape, [32, 256])
        XCTAssertEqual(header.tensor(named: "output.weight")?.byteCount, 64 * 210)
        XCTAssertTrue(GGUFTensorType(rawValue: 12).isReadable)
        XCTAssertFalse(GGUFTensorType(rawValue: 20).isReadable, "IQ4_NL")
        XCTAssertTrue(header["tokenizer.ggml.tokens"]?.summary(maximumElements: 3).hasPrefix("[STRING × 64: \"<unk>\", \"<s>\", \"</s>\", …]") ?? false)

        XCTAssertEqual(try GGUFFormat.readContents(path: path).tensors.map(\.tensor.shape),
                       [[64, 32], [32], [32, 32], [32, 256], [32], [64, 256]])
        // The Q4_K tensor retyped as IQ4_NL (the same 144 bytes per row), which ModelKit does not decode.
        var bytes = try FixturePaths.bytes(path)
        let name = Array("blk.0.ffn_down.weight".utf8)
        let start = try XCTUnwrap((0...(bytes.count - name.count)).first { Array(bytes[$0..<($0 + name.count)]) == name })
        let typeOffset = start + name.count + 4 + 2 * 8
        XCTAssertEqual(bytes[typeOffset], 12)
        bytes[typeOffset] = 20
        let retyped = try FixturePaths.scratchDirectory(for: self) + "/iq4_nl.gguf"
        try FixturePaths.write(bytes, to: retyped)
        XCTAssertThrowsError(try GGUFFormat.readContents(path: retyped)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("unsupported tensor type 20 (IQ4_NL) in tensor 'blk.0.ffn_down.weight'"), text)
        }
        let metadataOnly = try GGUFFixtures.model("metadata_types.gguf")
        XCTAssertThrowsError(try GGUFFormat.read(path: metadataOnly)) { error in
            guard case GGUFError.needsArchitecture(_, let architecture, let count) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(architecture, "test")
            XCTAssertEqual(count, 0)
            XCTAssertTrue("\(error)".contains("pass --arch"), "\(error)")
        }
    }

    /// GGUF lists dimensions fastest-first: `ne = [3, 2]` is the row-major `[2, 3]` matrix.
    func test_G8_dimensionsAreReversedIntoRowMajorShape() throws {
        let bytes = GGUFBytes.file(entries: [GGUFBytes.entry("general.architecture", .string, GGUFBytes.string("test"))],
                                   infos: [GGUFBytes.tensorInfo("w", [3, 2], .f32, offset: 0)],
                                   data: GGUFBytes.floats([0, 1, 2, 3, 4, 5]))
        let contents = try GGUFFormat.readContents(storage: TensorStorage(copying: bytes), source: "built")
        let tensor = try XCTUnwrap(contents.tensors.first).tensor
        XCTAssertEqual(tensor.shape, [2, 3])
        XCTAssertEqual(contents.header.tensors[0].dimensions, [3, 2])
        XCTAssertEqual(tensor.element(at: 1 * 3 + 0), 3)  // row 1, column 0
    }

    /// Q4_0: the 16 low nibbles are elements 0…15, the high nibbles 16…31, each `(nibble − 8) · d`.
    func test_G9_q4_0ElementOrderLowNibblesFirst() throws {
        var block: [UInt8] = [0x00, 0x40]  // f16 2.0
        for index in 0..<16 { block.append(UInt8(index) | UInt8(15 - index) << 4) }
        let bytes = GGUFBytes.file(entries: [], infos: [GGUFBytes.tensorInfo("q", [32], .q4_0, offset: 0)], data: block)
        let tensor = try XCTUnwrap(try GGUFFormat.readContents(storage: TensorStorage(copying: bytes), source: "built").tensors.first).tensor
        let low: [Float] = (0..<16).map { Float($0 - 8) * 2 }
        let high: [Float] = (0..<16).map { Float(7 - $0) * 2 }  // nibble 15 − j, minus 8
        let expected = low + high
        XCTAssertEqual(tensor.floatValues(), expected)
    }

    /// Q8_0: 32 signed bytes times the f16 scale.
    func test_G9_q8_0Dequantization() throws {
        var block: [UInt8] = [0x00, 0x38]  // f16 0.5
        for index in 0..<32 { block.append(UInt8(bitPattern: Int8(index * 8 - 128))) }
        let bytes = GGUFBytes.file(entries: [], infos: [GGUFBytes.tensorInfo("q", [32], .q8_0, offset: 0)], data: block)
        let tensor = try XCTUnwrap(try GGUFFormat.readContents(storage: TensorStorage(copying: bytes), source: "built").tensors.first).tensor
        XCTAssertEqual(tensor.floatValues(), (0..<32).map { Float($0 * 8 - 128) * 0.5 })
    }

    /// An LLM-sized header (a 152,064-token vocabulary with scores and types, 151,387 merges, 291 tensor infos) is
    /// read completely. (How fast is measured by `make bench`, not here.)
    func test_G10_llmSizedHeaderIsReadCompletely() throws {
        let vocabulary = 152_064, merges = 151_387
        func stringArray(_ count: Int, _ make: (Int) -> String) -> [UInt8] {
            var bytes = GGUFBytes.u32(GGUFValueType.string.rawValue) + GGUFBytes.u64(UInt64(count))
            for index in 0..<count { bytes += GGUFBytes.string(make(index)) }
            return bytes
        }
        let entries = [
            GGUFBytes.entry("general.architecture", .string, GGUFBytes.string("qwen2")),
            GGUFBytes.entry("tokenizer.ggml.tokens", .array, stringArray(vocabulary) { "Ġtoken\($0)" }),
            GGUFBytes.entry("tokenizer.ggml.scores", .array, GGUFBytes.u32(GGUFValueType.float32.rawValue) + GGUFBytes.u64(UInt64(vocabulary))
                            + GGUFBytes.floats((0..<vocabulary).map { -Float($0) })),
            GGUFBytes.entry("tokenizer.ggml.token_type", .array, GGUFBytes.u32(GGUFValueType.int32.rawValue) + GGUFBytes.u64(UInt64(vocabulary))
                            + (0..<vocabulary).flatMap { _ in GGUFBytes.u32(1) }),
            GGUFBytes.entry("tokenizer.ggml.merges", .array, stringArray(merges) { "Ġt oken\($0)" }),
        ]
        let infos = (0..<291).map { GGUFBytes.tensorInfo("blk.\($0 / 12).weight\($0 % 12)", [32], .f32, offset: UInt64($0 * 128)) }
        let bytes = GGUFBytes.file(entries: entries, infos: infos, data: [UInt8](repeating: 0, count: 291 * 128))
        let storage = TensorStorage(copying: bytes)
        let header = try GGUFFormat.readHeader(storage: storage, source: "vocabulary.gguf")
        XCTAssertEqual(header["tokenizer.ggml.tokens"]?.arrayValue?.count, vocabulary)
        XCTAssertEqual(header["tokenizer.ggml.merges"]?.arrayValue?.last?.stringValue, "Ġt oken\(merges - 1)")
        XCTAssertEqual(header.tensors.count, 291)
    }

    /// `readHeader` of a 64 GiB (sparse) file returns at once: it never reads the data section.
    func test_G10_readHeaderDoesNotReadTheDataSection() throws {
        let directory = try FixturePaths.scratchDirectory(for: self)
        let path = directory + "/huge.gguf"
        let elements: UInt64 = 1 << 34  // float32: 64 GiB
        let prefix = GGUFBytes.file(entries: [GGUFBytes.entry("general.architecture", .string, GGUFBytes.string("llama"))],
                                    infos: [GGUFBytes.tensorInfo("huge.weight", [1 << 17, elements >> 17], .f32, offset: 0)], data: [])
        try FixturePaths.write(prefix, to: path)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.truncate(atOffset: UInt64(prefix.count) + elements * 4)
        try handle.close()
        let start = Date()
        let header = try GGUFFormat.readHeader(path: path)
        let elapsed = Date().timeIntervalSince(start)
        XCTAssertEqual(header.tensors.first?.byteCount, Int(elements * 4))
        XCTAssertEqual(header.fileSize, prefix.count + Int(elements * 4))
        // Reading 64 GiB (even of a sparse file) takes far longer than this generous bound; the header alone is instant.
        XCTAssertLessThan(elapsed, 30, "readHeader took \(elapsed) s on a 64 GiB file: it must not touch the data")
    }
}
