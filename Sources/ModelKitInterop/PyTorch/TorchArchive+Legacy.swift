import ModelKitCore
import ModelKitFormat

/// The legacy `torch.save` format: every torch before 1.6, and `torch.save(obj, f,
/// _use_new_zipfile_serialization=False)` today (Specs/interop/pytorch.md, P17).
///
/// The file is a stream, with no index: five pickles (the magic number 0x1950a86a20f9469cfc6c, the protocol version
/// 1001, a `sys_info` dict with the writer's byte order, the object itself with `('storage', type, key, location,
/// numel, None)` persistent ids, and the list of storage keys), then for each key in that list its element count as
/// an int64 and its bytes. Every pickle goes through the same restricted unpickler as a zip's `data.pkl`, and every
/// count is checked against the bytes that remain before a range is recorded, so the storages stay views of the
/// mapped file.
extension TorchArchive {
    /// The protocol version every legacy stream records in its second pickle (torch's `PROTOCOL_VERSION`).
    static let legacyProtocolVersion: Int64 = 1001

    /// Reads `storage` as a legacy stream, or returns `nil` when its first pickle is not the magic number (a raw
    /// pickle of something else, which the caller describes).
    static func openLegacy(storage: TensorStorage, path: String,
                           limits: RestrictedUnpickler.Limits) throws(PyTorchError) -> TorchArchive? {
        let bytes = storage.bytes
        var offset = 0
        /// The next pickle of the stream; errors name it once the stream is known to be a legacy file.
        func next(_ what: String?, storages: Bool) throws(PyTorchError) -> (PickleValue, PickleHeap) {
            let (root, heap, length) = try RestrictedUnpickler.loadPrefix(
                UnsafeRawBufferPointer(rebasing: bytes[offset...]), source: what.map { "\(path) (\($0) at byte \(offset))" } ?? path,
                allowsStorages: storages, limits: limits)
            offset += length
            return (root, heap)
        }
        // Any raw pickle starts here; only torch's magic number makes it a legacy file.
        guard case (.bigInt(let magic), _) = try next(nil, storages: false), magic == legacyMagic else { return nil }
        func fail(_ reason: String) -> PyTorchError { .legacyFormat(path: path, reason: reason) }

        let (protocolVersion, _) = try next("protocol version", storages: false)
        guard protocolVersion == .int(legacyProtocolVersion) else {
            throw fail("the protocol version (its second pickle) is not 1001")
        }
        let (systemInfo, systemHeap) = try next("sys_info", storages: false)
        let byteOrder = try legacyByteOrder(systemInfo, heap: systemHeap, fail: fail)
        let (root, heap) = try next("object", storages: true)
        let (keyList, keyHeap) = try next("storage keys", storages: false)
        guard case .list(let keyIndex) = keyList else {
            throw fail("the storage key list is \(PickleDescriber.withArticle(keyList.kindName)), not a list")
        }
        var references: [String: TorchStorageReference] = [:]
        for reference in heap.storages { references[reference.key] = reference }
        var ranges: [String: Range<Int>] = [:]
        for item in keyHeap.lists[keyIndex] {
            guard case .string(let key) = item else { throw fail("a storage key is \(PickleDescriber.withArticle(item.kindName)), not a string") }
            guard let reference = references[key] else {
                throw fail("storage \(MessageText.quoted(key)) follows the pickles but no tensor refers to it")
            }
            guard ranges[key] == nil else { throw fail("storage \(MessageText.quoted(key)) is listed twice") }
            guard bytes.count - offset >= 8 else {
                throw fail("the file ends at byte \(bytes.count), inside the size of storage \(MessageText.quoted(key)) (truncated)")
            }
            var countBytes = UInt64(0)
            withUnsafeMutableBytes(of: &countBytes) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + 8)])) }
            let count = byteOrder == .little ? UInt64(littleEndian: countBytes) : UInt64(bigEndian: countBytes)
            let elementSize = reference.elementSize
            // torch.load checks the same ("storage has wrong byte size"): the stream and the pickle must agree.
            guard count == UInt64(reference.count) else {
                throw fail("storage \(MessageText.quoted(key)) holds \(count) elements but the pickle's reference to it says \(reference.count)")
            }
            let start = offset + 8
            let (length, overflow) = Int(clamping: count).multipliedReportingOverflow(by: elementSize)
            guard !overflow, count <= UInt64(Int.max), length <= bytes.count - start else {
                throw fail("storage \(MessageText.quoted(key)) claims \(count) elements of \(elementSize) bytes but only "
                           + "\(bytes.count - start) bytes remain (truncated or corrupt)")
            }
            ranges[key] = start..<(start + length)
            offset = start + length
        }
        return TorchArchive(path: path, records: .legacy(storage, ranges: ranges), byteOrder: byteOrder, version: nil,
                            root: root, heap: heap)
    }

    /// `sys_info['little_endian']`: the byte order of the machine that wrote the file (storages are written as
    /// they are in memory).
    private static func legacyByteOrder(_ info: PickleValue, heap: PickleHeap,
                                        fail: (String) -> PyTorchError) throws(PyTorchError) -> ByteOrder {
        guard case .dict(let index) = info else { throw fail("sys_info is \(PickleDescriber.withArticle(info.kindName)), not a dict") }
        guard let value = heap.dicts[index].value(for: .string("little_endian")) else {
            throw fail("sys_info has no 'little_endian' entry")
        }
        guard case .bool(let little) = value else { throw fail("sys_info['little_endian'] is not a bool") }
        return little ? .little : .big
    }
}

extension TorchStorageReference {
    /// Bytes per element of the storage's type (1 for an untyped storage, whose count is in bytes).
    var elementSize: Int {
        switch type {
        case .typed(let scalar): scalar.byteSize ?? 1
        case .untyped: 1
        }
    }
}
