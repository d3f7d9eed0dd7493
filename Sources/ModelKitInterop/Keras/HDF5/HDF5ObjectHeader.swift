/// The messages of an HDF5 object header (version 1, or version 2 `OHDR`), gathered across its continuation chunks.
struct HDF5ObjectHeader {
    /// One header message: its type and where its data lies in the file.
    struct Message {
        let type: Int
        let flags: UInt8
        let data: Range<Int>
        /// The message is stored elsewhere and referenced ("shared"), which ModelKit does not follow.
        var isShared: Bool { flags & 0x02 != 0 }
    }

    enum MessageType {
        static let dataspace = 0x01
        static let linkInfo = 0x02
        static let datatype = 0x03
        static let link = 0x06
        static let externalFiles = 0x07
        static let layout = 0x08
        static let attribute = 0x0C
        static let continuation = 0x10
        static let symbolTable = 0x11
        static let attributeInfo = 0x15
    }

    /// The most continuation chunks one object may have, and the most messages in all.
    static let maximumChunks = 1_024
    static let maximumMessages = 65_536

    let address: Int
    let messages: [Message]

    func first(_ type: Int) -> Message? { messages.first { $0.type == type } }
    func all(_ type: Int) -> [Message] { messages.filter { $0.type == type } }

    /// Reads the header at `address` (an offset into the file) of the object named `object`.
    init(at address: Int, in image: HDF5Image, object: String) throws(KerasError) {
        self.address = address
        var cursor = try image.cursor(at: address, object: object)
        var chunks: [(range: Range<Int>, version: Int)] = []
        let version: Int
        // Version 2 headers may store a creation order with each message.
        var creationOrderTracked = false
        if image.bytes[address..<min(image.count, address + 4)].elementsEqual(Array("OHDR".utf8)) {
            version = 2
            try cursor.skip(4)
            let headerVersion = try cursor.byte()
            guard headerVersion == 2 else {
                throw .hdf5(path: image.label, object: object, reason: "object header version \(headerVersion) after 'OHDR' (expected 2)")
            }
            let flags = try cursor.byte()
            if flags & 0x20 != 0 { try cursor.skip(16) }  // access, modification, change and birth times
            if flags & 0x10 != 0 { try cursor.skip(4) }  // attribute storage phase change values
            let chunkSize = try cursor.unsigned(1 << Int(flags & 0x03))
            guard chunkSize <= UInt64(cursor.remaining) else {
                throw .hdf5(path: image.label, object: object,
                            reason: "its header claims \(chunkSize) bytes at byte \(cursor.offset); the file has \(cursor.remaining) left (truncated or damaged)")
            }
            chunks.append((try cursor.take(Int(chunkSize)), 2))
            creationOrderTracked = flags & 0x04 != 0
        } else {
            version = 1
            let headerVersion = try cursor.byte()
            guard headerVersion == 1 else {
                throw .hdf5(path: image.label, object: object, reason: "no object header at byte \(address) (version byte \(headerVersion))")
            }
            try cursor.skip(1 + 2 + 4)  // reserved, message count, reference count
            let chunkSize = try cursor.u32()
            try cursor.skip(4)  // padding to 8 bytes
            guard chunkSize <= cursor.remaining else {
                throw .hdf5(path: image.label, object: object,
                            reason: "its header claims \(chunkSize) bytes at byte \(cursor.offset); the file has \(cursor.remaining) left (truncated or damaged)")
            }
            chunks.append((try cursor.take(chunkSize), 1))
        }

        var messages: [Message] = []
        var visited: Set<Int> = [address]
        var next = 0
        while next < chunks.count {
            let chunk = chunks[next]
            next += 1
            var reader = try image.cursor(chunk.range, object: object)
            let headerSize = version == 1 ? 8 : (creationOrderTracked ? 6 : 4)
            while reader.remaining >= headerSize {
                let type: Int
                let size: Int
                let flags: UInt8
                if version == 1 {
                    type = try reader.u16()
                    size = try reader.u16()
                    flags = try reader.byte()
                    try reader.skip(3)
                } else {
                    type = Int(try reader.byte())
                    size = try reader.u16()
                    flags = try reader.byte()
                    if creationOrderTracked { try reader.skip(2) }
                }
                let data = try reader.take(size)
                guard messages.count < Self.maximumMessages else {
                    throw .unsafeHDF5(path: image.label, object: object, reason: "the object has more than \(Self.maximumMessages) header messages")
                }
                messages.append(Message(type: type, flags: flags, data: data))
                guard type == MessageType.continuation else { continue }
                var continuation = try image.cursor(data, object: object)
                let target = try image.resolve(try continuation.rawAddress(), object: object, what: "a header continuation")
                let length = try continuation.length()
                guard let target else { continue }
                guard visited.insert(target).inserted else {
                    throw .unsafeHDF5(path: image.label, object: object, reason: "its header continues into itself at byte \(target) (a loop)")
                }
                guard chunks.count < Self.maximumChunks else {
                    throw .unsafeHDF5(path: image.label, object: object, reason: "the header has more than \(Self.maximumChunks) continuation chunks")
                }
                guard length <= image.count - target else {
                    throw .hdf5(path: image.label, object: object,
                                reason: "a header continuation claims \(length) bytes at byte \(target), past the end of the \(image.count)-byte file")
                }
                if version == 1 {
                    chunks.append((target..<(target + length), 1))
                } else {
                    // Version 2 chunks: 'OCHK', the messages, a 4-byte checksum.
                    var signature = try image.cursor(target..<(target + length), object: object)
                    try signature.expect("OCHK", what: "header continuation chunk")
                    guard length >= 8 else {
                        throw .hdf5(path: image.label, object: object, reason: "a header continuation chunk of \(length) bytes")
                    }
                    chunks.append(((target + 4)..<(target + length - 4), 2))
                }
            }
        }
        self.messages = messages
    }
}
