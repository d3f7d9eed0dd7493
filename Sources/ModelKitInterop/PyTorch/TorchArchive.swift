import ModelKitCore
import ModelKitFormat

/// A `torch.save` file opened and unpickled: where its storages are, the object graph of its pickle, and what the
/// other records say (byte order, version).
///
/// Zip layout (torch ≥ 1.6): `<archive>/data.pkl`, `<archive>/data/<key>` (one record per storage, stored and
/// 64-byte aligned), `<archive>/byteorder`, `<archive>/version`, `<archive>/.data/serialization_id`. `<archive>` is
/// the first path component of the first member, whatever it is called (torch uses the file's stem, or `archive`).
/// The legacy layout (every torch before 1.6) is read by `TorchArchive+Legacy.swift`.
struct TorchArchive {
    /// How storages are laid out on disk.
    enum ByteOrder: String, Sendable {
        case little, big
    }

    /// Where the storages' bytes are.
    enum Records {
        /// A zip archive; `prefix` is the first path component shared by the records.
        case zip(ZipArchive, prefix: String)
        /// The legacy stream: each storage key's bytes in the mapped file.
        case legacy(TensorStorage, ranges: [String: Range<Int>])
    }

    let path: String
    let records: Records
    let byteOrder: ByteOrder
    /// The `version` record (torch writes `3`), or `nil` when absent.
    let version: String?
    let root: PickleValue
    let heap: PickleHeap

    /// Opens `path`, refusing the formats ModelKit does not read with an error that says how to re-save the file.
    ///
    /// - Throws: ``PyTorchError``: ``PyTorchError/legacyFormat(path:)``, ``PyTorchError/torchScript(path:)``,
    ///   ``PyTorchError/refusedGlobal(source:offset:global:)`` (also for raw pickles), archive and pickle errors.
    static func open(_ path: String, limits: RestrictedUnpickler.Limits = .init()) throws(PyTorchError) -> TorchArchive {
        let storage: TensorStorage
        do { storage = try MappedFile.open(path) } catch { throw .fileAccess(error) }
        return try open(storage: storage, path: path, limits: limits)
    }

    /// Reads the file held in `storage`; `path` names it in errors.
    static func open(storage: TensorStorage, path: String,
                     limits: RestrictedUnpickler.Limits = .init()) throws(PyTorchError) -> TorchArchive {
        let detected = FileSniffer.detect(storage.bytes)
        switch detected {
        case .zip:
            break
        case .pickle:
            if let legacy = try openLegacy(storage: storage, path: path, limits: limits) { return legacy }
            throw try rawPickleError(storage.bytes, path: path, limits: limits)
        default:
            throw .notPyTorch(path: path, detected: detected.rawValue)
        }
        let zip: ZipArchive
        do { zip = try ZipArchive(storage: storage, path: path) } catch { throw .archive(error) }
        guard let first = zip.members.first?.name, let slash = first.firstIndex(of: "/") else {
            throw .notATorchArchive(path: path, members: zip.memberNames)
        }
        let prefix = String(first[..<slash])
        if zip.member(named: "\(prefix)/constants.pkl") != nil || zip.members.contains(where: { $0.name.hasPrefix("\(prefix)/code/") }) {
            throw .torchScript(path: path)
        }
        guard let dataMember = zip.member(named: "\(prefix)/data.pkl") else {
            throw .notATorchArchive(path: path, members: zip.memberNames)
        }
        let byteOrder = try readByteOrder(zip, prefix: prefix, path: path)
        let version = try smallRecord(zip, "\(prefix)/version").map { $0.filter { !$0.isWhitespace } }
        let pickle: ZipMemberContents
        do { pickle = try zip.contents(of: dataMember) } catch { throw .archive(error) }
        // The contents must outlive the read: a deflated data.pkl lives in memory only `pickle` holds.
        let (root, heap) = try withExtendedLifetime(pickle) { () throws(PyTorchError) in
            try RestrictedUnpickler.load(UnsafeRawBufferPointer(rebasing: pickle.storage.bytes[pickle.range]),
                                         source: "\(path)[\(dataMember.name)]", allowsStorages: true, limits: limits)
        }
        return TorchArchive(path: path, records: .zip(zip, prefix: prefix), byteOrder: byteOrder, version: version,
                            root: root, heap: heap)
    }

    /// Whether `storage` holds a `torch.save` zip archive (or a TorchScript one): checks the member names only.
    static func recognizes(_ storage: TensorStorage) -> Bool {
        guard FileSniffer.detect(storage.bytes) == .zip,
              let zip = try? ZipArchive(storage: storage, path: "<probe>"),
              let first = zip.members.first?.name, let slash = first.firstIndex(of: "/") else { return false }
        let prefix = first[..<slash]
        return zip.member(named: "\(prefix)/data.pkl") != nil || zip.member(named: "\(prefix)/constants.pkl") != nil
    }

    /// The size of the whole file.
    var fileSize: Int {
        switch records {
        case .zip(let zip, _): zip.storage.bytes.count
        case .legacy(let storage, _): storage.bytes.count
        }
    }

    /// The name of the record holding storage `key`, for messages.
    func storageRecordName(_ key: String) -> String {
        switch records {
        case .zip(_, let prefix): "\(prefix)/data/\(key)"
        case .legacy: "storage \(key)"
        }
    }

    /// The bytes of storage `key` (a view of the mapped file when stored), CRC-checked in a zip.
    ///
    /// - Throws: ``PyTorchError/missingStorage(path:tensor:record:)`` naming `tensor`, or an archive error.
    func storageContents(key: String, tensor: String) throws(PyTorchError) -> ZipMemberContents {
        switch records {
        case .zip(let zip, _):
            let name = storageRecordName(key)
            guard let member = zip.member(named: name) else { throw .missingStorage(path: path, tensor: tensor, record: name) }
            do { return try zip.contents(of: member) } catch { throw .archive(error) }
        case .legacy(let storage, let ranges):
            guard let range = ranges[key] else {
                throw .missingStorage(path: path, tensor: tensor, record: storageRecordName(key))
            }
            return ZipMemberContents(storage: storage, range: range)
        }
    }

    // MARK: - Records

    private static func readByteOrder(_ zip: ZipArchive, prefix: String, path: String) throws(PyTorchError) -> ByteOrder {
        // Archives written before torch 1.10 have no byteorder record; they were little-endian.
        guard let text = try smallRecord(zip, "\(prefix)/byteorder") else { return .little }
        guard let order = ByteOrder(rawValue: text) else {
            throw .invalidByteOrder(path: path, value: text)
        }
        return order
    }

    /// A short text record, or `nil` when the archive has none of that name.
    private static func smallRecord(_ zip: ZipArchive, _ name: String) throws(PyTorchError) -> String? {
        guard let member = zip.member(named: name) else { return nil }
        guard member.uncompressedSize <= 64 else {
            throw .archive(.corrupt(path: zip.path, reason: "record \(MessageText.quoted(name)) holds \(member.uncompressedSize) bytes; torch writes a few"))
        }
        let contents: ZipMemberContents
        do { contents = try zip.contents(of: member) } catch { throw .archive(error) }
        return String(decoding: contents.copyBytes(), as: UTF8.self)
    }

    /// The error for a file that is a raw pickle but neither a zip nor a legacy `torch.save` stream.
    ///
    /// The pickle is read with the same restricted unpickler, so a hostile one is refused naming its global.
    private static func rawPickleError(_ bytes: UnsafeRawBufferPointer, path: String,
                                       limits: RestrictedUnpickler.Limits) throws(PyTorchError) -> PyTorchError {
        let (root, heap) = try RestrictedUnpickler.load(bytes, source: path, allowsStorages: false, limits: limits)
        return .barePickle(path: path, holds: PickleDescriber.withArticle(PickleDescriber(heap: heap).summary(of: root)))
    }

    /// 0x1950a86a20f9469cfc6c, the first value of every legacy `torch.save` file, as LONG1 stores it.
    static let legacyMagic: [UInt8] = [0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19]
}
