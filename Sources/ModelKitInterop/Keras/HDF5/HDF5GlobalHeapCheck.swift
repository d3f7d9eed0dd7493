#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Walks every HDF5 global heap collection in a file image the way libhdf5 will, before libhdf5 sees it.
///
/// libhdf5 1.10 decodes a collection (`GCOL`: the storage of variable-length strings such as Keras's
/// `model_config`) by stepping from object to object by each object's recorded size, with no check that a step makes
/// progress: an object of size 0 makes `H5Aread` loop forever (found by `fuzz-keras`), and an object larger than its
/// collection makes the read run past the heap's buffer. libhdf5 is not ours to fix, so the image is checked first
/// and such a file is refused (Specs/interop/keras.md, K23). Every `GCOL` signature is checked, wherever it sits,
/// because libhdf5 goes wherever a (possibly forged) heap address points; a genuine file's collections all pass.
enum HDF5GlobalHeapCheck {
    /// Why a collection would hang or overrun libhdf5.
    struct Failure: Error, Equatable {
        /// The byte offset of the collection's signature.
        let offset: Int
        let reason: String
    }

    static let superblockSignature: [UInt8] = [0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A]
    static let collectionSignature: [UInt8] = Array("GCOL".utf8)
    /// Objects in a collection start on 8-byte boundaries (`H5HG_ALIGNMENT`).
    static let alignment = 8

    /// Checks every global heap collection in `image`. An image whose superblock libhdf5 would not find passes
    /// untouched: libhdf5 refuses it itself.
    static func check(_ image: UnsafeRawBufferPointer) throws(Failure) {
        guard let lengthSize = sizeOfLengths(in: image), let base = image.baseAddress else { return }
        var searchFrom = 0
        while searchFrom < image.count, let offset = find(collectionSignature, in: image, base: base, from: searchFrom) {
            try checkCollection(at: offset, in: image, lengthSize: lengthSize)
            searchFrom = offset + 1
        }
    }

    /// The "size of lengths" of the superblock libhdf5 would use: the first HDF5 signature at byte 0, 512, 1024, ….
    static func sizeOfLengths(in image: UnsafeRawBufferPointer) -> Int? {
        var offset = 0
        while offset + 16 <= image.count {
            if image[offset..<offset + 8].elementsEqual(superblockSignature) {
                let version = image[offset + 8]
                // Superblock versions 0 and 1 keep the size of lengths at byte 14, versions 2 and 3 at byte 10.
                let size = Int(image[offset + (version < 2 ? 14 : 10)])
                return [2, 4, 8, 16, 32].contains(size) ? size : nil
            }
            offset = offset == 0 ? 512 : offset * 2
        }
        return nil
    }

    /// Replays libhdf5's object walk over the collection at `offset`.
    static func checkCollection(at offset: Int, in image: UnsafeRawBufferPointer, lengthSize: Int) throws(Failure) {
        // libhdf5 reads only version 1 collections; another version is refused by libhdf5 itself.
        guard offset + 8 + lengthSize <= image.count, image[offset + 4] == 1 else { return }
        guard let size = length(in: image, at: offset + 8, byteCount: lengthSize), size <= image.count - offset else {
            throw Failure(offset: offset, reason: "the collection claims more bytes than the file holds after it")
        }
        let headerSize = 8 + lengthSize
        let objectHeaderSize = 8 + lengthSize
        let end = offset + size
        var position = offset + headerSize
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
            position += step
        }
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
