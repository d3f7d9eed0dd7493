#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The global heap of an HDF5 file image (the `GCOL` collections where variable-length strings such as Keras's
/// `model_config` live), walked and indexed by ModelKit before libhdf5 sees the file.
///
/// libhdf5 1.10 trusts a collection's layout and a string's heap reference: an object of size 0 makes it step in place
/// forever, an object larger than its collection makes it read past the heap's buffer, and a reference to an index
/// the collection does not have makes it copy from a wild pointer (all three found by `fuzz-keras`). libhdf5 is not
/// ours to fix, so every `GCOL` signature in the image is walked as libhdf5 would walk it (a collection libhdf5 would
/// loop on or overrun refuses the file), and variable-length strings are then read from this index instead of by
/// libhdf5 (``HDF5Reader``; Specs/interop/keras.md, K23). A genuine file's collections all pass.
struct HDF5GlobalHeap {
    /// Why the heap, or a reference into it, would hang or overrun libhdf5.
    struct Failure: Error, Equatable {
        /// The byte offset of the collection's signature (or of the referenced address).
        let offset: Int
        let reason: String
    }

    static let superblockSignature: [UInt8] = [0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A]
    static let collectionSignature: [UInt8] = Array("GCOL".utf8)
    /// Objects in a collection start on 8-byte boundaries (`H5HG_ALIGNMENT`).
    static let alignment = 8

    /// Where the superblock sits: file addresses count from it (libhdf5 sets the base address to it).
    let baseOffset: Int
    /// The superblock's "size of offsets", the width of a heap address in a string reference.
    let offsetSize: Int
    /// Per collection (by image offset), each object's bytes by index (copied: the image may go away before the
    /// strings are read); the free space (index 0) is left out.
    private(set) var collections: [Int: [Int: [UInt8]]] = [:]

    /// Walks every global heap collection in `image`; `nil` when libhdf5 would not find a superblock (it refuses
    /// such an image itself).
    static func scan(_ image: UnsafeRawBufferPointer) throws(Failure) -> HDF5GlobalHeap? {
        guard let superblock = superblock(in: image), let base = image.baseAddress else { return nil }
        var heap = HDF5GlobalHeap(baseOffset: superblock.offset, offsetSize: superblock.offsetSize)
        var searchFrom = 0
        while searchFrom < image.count, let offset = find(collectionSignature, in: image, base: base, from: searchFrom) {
            if let objects = try walkCollection(at: offset, in: image, lengthSize: superblock.lengthSize) {
                heap.collections[offset] = objects
            }
            searchFrom = offset + 1
        }
        return heap
    }

    /// The superblock libhdf5 would use (the first HDF5 signature at byte 0, 512, 1024, …): its offset and its
    /// "size of offsets" and "size of lengths".
    static func superblock(in image: UnsafeRawBufferPointer) -> (offset: Int, offsetSize: Int, lengthSize: Int)? {
        var offset = 0
        while offset + 16 <= image.count {
            if image[offset..<offset + 8].elementsEqual(superblockSignature) {
                // Superblock versions 0 and 1 keep the sizes at bytes 13 and 14, versions 2 and 3 at bytes 9 and 10.
                let first = image[offset + 8] < 2 ? 13 : 9
                let sizes = (Int(image[offset + first]), Int(image[offset + first + 1]))
                let valid = [2, 4, 8, 16, 32]
                guard valid.contains(sizes.0), valid.contains(sizes.1) else { return nil }
                return (offset, sizes.0, sizes.1)
            }
            offset = offset == 0 ? 512 : offset * 2
        }
        return nil
    }

    /// Replays libhdf5's object walk (`H5HG__cache_heap_deserialize`) over the collection at `offset`; its objects,
    /// or `nil` for a collection libhdf5 would refuse by itself (another version).
    static func walkCollection(at offset: Int, in image: UnsafeRawBufferPointer,
                               lengthSize: Int) throws(Failure) -> [Int: [UInt8]]? {
        guard offset + 8 + lengthSize <= image.count, image[offset + 4] == 1 else { return nil }
        guard let size = length(in: image, at: offset + 8, byteCount: lengthSize), size <= image.count - offset else {
            throw Failure(offset: offset, reason: "the collection claims more bytes than the file holds after it")
        }
        let objectHeaderSize = 8 + lengthSize
        let end = offset + size
        var objects: [Int: [UInt8]] = [:]
        var position = offset + 8 + lengthSize
        while position < end {
            // Fewer bytes than an object header: libhdf5 takes the rest as free space and stops.
            if position + objectHeaderSize > end { break }
            let index = Int(image[position]) | Int(image[position + 1]) << 8
            guard let objectSize = length(in: image, at: position + 8, byteCount: lengthSize),
                  objectSize <= end - position else {
                throw Failure(offset: offset, reason: "object \(index) at byte \(position) is larger than its collection")
            }
            // Object 0 is the free space, whose size already includes its header and is not padded.
            let step = index == 0
                ? objectSize
                : objectHeaderSize + (objectSize + alignment - 1) / alignment * alignment
            guard step > 0 else {
                throw Failure(offset: offset, reason: "object \(index) at byte \(position) has size 0, on which libhdf5 loops forever")
            }
            guard step <= end - position else {
                throw Failure(offset: offset, reason: "object \(index) at byte \(position) runs past the end of its collection")
            }
            if index > 0 {
                // A repeated index replaces the earlier object, as in libhdf5.
                let start = position + objectHeaderSize
                objects[index] = [UInt8](UnsafeRawBufferPointer(rebasing: image[start..<(start + objectSize)]))
            }
            position += step
        }
        return objects
    }

    /// The bytes of object `index` of the collection at file address `address`.
    func object(address: Int, index: Int) throws(Failure) -> [UInt8] {
        let (offset, overflow) = baseOffset.addingReportingOverflow(address)
        guard !overflow, let objects = collections[offset] else {
            throw Failure(offset: address, reason: "a string refers to address \(address), where no global heap collection is")
        }
        guard let bytes = objects[index] else {
            throw Failure(offset: offset, reason: "a string refers to object \(index), which the collection does not hold")
        }
        return bytes
    }

    /// A little-endian length of `byteCount` bytes; `nil` when it does not fit in an `Int`.
    static func length(in image: UnsafeRawBufferPointer, at offset: Int, byteCount: Int) -> Int? {
        var value: UInt64 = 0
        for index in (0..<byteCount).reversed() {
            let byte = UInt64(image[offset + index])
            if index >= 8 {
                guard byte == 0 else { return nil }
                continue
            }
            value |= byte << (8 * UInt64(index))
        }
        return value <= UInt64(Int.max) ? Int(value) : nil
    }

    /// The offset of the next `needle` at or after `start` (`memchr` for its first byte, then a comparison: fast on
    /// weight data, where the first byte is rarely followed by the rest).
    static func find(_ needle: [UInt8], in image: UnsafeRawBufferPointer, base: UnsafeRawPointer, from start: Int) -> Int? {
        var position = start
        while position + needle.count <= image.count {
            guard let hit = memchr(base + position, Int32(needle[0]), image.count - position) else { return nil }
            let offset = UnsafeRawPointer(hit) - base
            guard offset + needle.count <= image.count else { return nil }
            if image[offset..<offset + needle.count].elementsEqual(needle) { return offset }
            position = offset + 1
        }
        return nil
    }
}
