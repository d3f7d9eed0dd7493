import XCTest
import ModelKitCore
import ModelKitFormat
import ModelKitTestSupport

/// Tests named after the rules of Specs/checkpoint.md section 1.
final class CompressionTests: XCTestCase {
    func trainedLooking(_ count: Int, seed: UInt64 = 5) -> Tensor {
        var generator = SplitMix64(seed: seed)
        // Roughly normal weights of small magnitude, like a trained layer's.
        let values = (0..<count).map { _ -> Float in
            let u = Float.random(in: 0.0001...1, using: &generator), v = Float.random(in: 0...1, using: &generator)
            return 0.05 * (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
        }
        return Tensor(float32: values, shape: [count])
    }

    func test_Z02_shuffleIsInvertibleForEveryStride() {
        var generator = SplitMix64(seed: 1)
        for stride in [1, 2, 4, 8] {
            let bytes = (0..<(stride * 37)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            var planes = [UInt8](repeating: 0, count: bytes.count), back = planes
            bytes.withUnsafeBytes { source in planes.withUnsafeMutableBytes { ByteShuffle.shuffle(source, into: $0, stride: stride) } }
            planes.withUnsafeBytes { source in back.withUnsafeMutableBytes { ByteShuffle.unshuffle(source, into: $0, stride: stride) } }
            XCTAssertEqual(back, bytes)
            if stride == 4 { XCTAssertEqual(planes[1], bytes[4], "plane 0 holds byte 0 of every element") }
        }
    }

    func test_Z01_Z02_roundTripIsExactAcrossChunksAndDTypes() throws {
        var model = Model(info: ModelInfo(name: "c", producer: "t", sourceFormat: "modelkit", inputShape: [nil, 2]))
        let big = trainedLooking(ShuffleZlibEncoding.chunkSize / 4 * 2 + 1234)  // three chunks, the last short
        model.addTensor(ModelTensor(name: "big", tensor: big))
        model.addTensor(ModelTensor(name: "half", tensor: try trainedLooking(1001).converted(to: .float16)))
        model.addTensor(ModelTensor(name: "empty", tensor: Tensor(float32: [], shape: [0, 3])))
        var noise = SplitMix64(seed: 11)
        model.addTensor(ModelTensor(name: "bytes", tensor: Tensor.make(dtype: .uint8, shape: [17]) { raw in
            for index in 0..<17 { raw[index] = UInt8.random(in: 0...255, using: &noise) }
        }))
        let directory = try FixturePaths.scratchDirectory(for: self)
        for level in Zlib.Level.allCases {
            try MKitWriter.write(model, to: directory + "/c.mkit", compression: level)
            let loaded = try MKitReader.read(path: directory + "/c.mkit")
            XCTAssertEqual(loaded.formatVersion, "1.1")
            XCTAssertEqual(loaded.tensorEncodings["big"], "shuffle-zlib")
            XCTAssertEqual(loaded.tensorEncodings["bytes"], "raw", "a tensor that does not shrink stays raw (Z5)")
            for entry in model.tensors {
                XCTAssertTrue(try XCTUnwrap(loaded.model.tensor(named: entry.name)).tensor.hasSameContents(as: entry.tensor), "\(entry.name) at \(level)")
            }
        }
    }

    func test_Z05_uncompressibleFileStaysVersion1Point0() throws {
        let directory = try FixturePaths.scratchDirectory(for: self)
        try MKitWriter.write(SampleModels.dense([2, 2]), to: directory + "/tiny.mkit", compression: .best)
        XCTAssertEqual(try MKitReader.read(path: directory + "/tiny.mkit").formatVersion, "1.0")
    }

    func test_shuffleSavesAtLeastTenPercentOnTrainedLookingWeights() throws {
        let tensor = trainedLooking(1 << 20)
        let encoded = try ShuffleZlibEncoding.encode(tensor, level: .fast)
        let ratio = Double(encoded.bytes.count) / Double(tensor.byteCount)
        XCTAssertLessThan(ratio, 0.90, "ratio \(ratio)")
    }

    func test_Z03_damagedChunkIsRefusedNamingTensorAndChunk() throws {
        var model = Model(info: ModelInfo(name: "c", producer: "t", sourceFormat: "modelkit", inputShape: [nil, 2]))
        model.addTensor(ModelTensor(name: "w", tensor: trainedLooking(5000)))
        let directory = try FixturePaths.scratchDirectory(for: self)
        try MKitWriter.write(model, to: directory + "/c.mkit", compression: .fast)
        var bytes = try FixturePaths.bytes(directory + "/c.mkit")
        bytes[bytes.count - 100] ^= 0x10
        XCTAssertThrowsError(try MKitReader.read(storage: TensorStorage(copying: bytes))) { error in
            XCTAssertTrue("\(error)".contains("tensor 'w' checksum mismatch"), "\(error)")
        }
        // With the stored checksum skipped, the damage is still caught by zlib or by the chunk's own CRC.
        XCTAssertThrowsError(try MKitReader.read(storage: TensorStorage(copying: bytes), checksums: .skip)) { error in
            XCTAssertTrue("\(error)".contains("tensor 'w' chunk 0"), "\(error)")
        }
        // Every truncation still fails cleanly.
        let layoutEnd = bytes.count
        MalformedInput.assertEveryTruncationThrows(Array(bytes), boundaries: [layoutEnd - 50], exhaustiveUpTo: 64) { prefix in
            _ = try MKitReader.read(storage: TensorStorage(copying: prefix), checksums: .skip)
        }
    }

    func test_Z04_decodedSizeIsBoundedByStoredSize() throws {
        let data = try Zlib.compress([UInt8](repeating: 0, count: 64).withUnsafeBytes { $0 }, level: .fast)
        let crc = CRC32.hex(CRC32.checksum(data))
        let header = """
        {"model":{"input":{"shape":[null,2]}},"layers":[],"tensors":[{"name":"bomb","dtype":"float32","shape":[1099511627776],\
        "offset":0,"length":\(data.count),"encoding":"shuffle-zlib","crc32":"\(crc)","chunks":[{"length":\(data.count),\
        "raw_length":4398046511104,"crc32":"00000000"}]}],"data_size":\(data.count)}
        """
        XCTAssertThrowsError(try MKitReader.read(storage: TensorStorage(copying: buildFile(header: header, data: data)))) { error in
            XCTAssertTrue("\(error)".contains("more than deflate can produce (Z4)"), "\(error)")
        }
    }

    func test_Z01_chunkSumsMustMatch() throws {
        let data = try Zlib.compress([UInt8](repeating: 1, count: 16).withUnsafeBytes { $0 }, level: .fast)
        let crc = CRC32.hex(CRC32.checksum(data))
        let header = """
        {"model":{"input":{"shape":[null,2]}},"layers":[],"tensors":[{"name":"t","dtype":"float32","shape":[8],\
        "offset":0,"length":\(data.count),"encoding":"shuffle-zlib","crc32":"\(crc)","chunks":[{"length":\(data.count),\
        "raw_length":16,"crc32":"00000000"}]}],"data_size":\(data.count)}
        """
        XCTAssertThrowsError(try MKitReader.read(storage: TensorStorage(copying: buildFile(header: header, data: data)))) { error in
            XCTAssertTrue("\(error)".contains("chunks decode to 16 bytes"), "\(error)")
        }
    }

    func buildFile(header: String, data: [UInt8]) -> [UInt8] {
        MKitBytes.build(header: header, data: data, minor: 1)
    }
}
