/// A global heap collection (`GCOL`): where variable-length strings such as Keras's `model_config` live.
///
/// The walk is checked at each step. libhdf5 1.10.8 steps from object to object by each recorded size without
/// checking that a step makes progress or stays inside the collection, and trusts the object index a string refers
/// to; `fuzz-keras` found a hang and a wild read there while ModelKit still used libhdf5 to read, which is why
/// ModelKit reads HDF5 itself (Specs/interop/keras.md, K23).
struct HDF5GlobalHeapCollection {
    /// Objects start on 8-byte boundaries.
    static let alignment = 8

    /// Each object's bytes by index; the free space (index 0) is left out.
    let objects: [Int: Range<Int>]
    /// How many objects the walk stepped over (what reading it cost).
    let steps: Int

    init(at offset: Int, in image: HDF5Image, object: String) throws(KerasError) {
        var cursor = try image.cursor(at: offset, object: object)
        try cursor.expect("GCOL", what: "global heap collection")
        let version = try cursor.byte()
        guard version == 1 else {
            throw .hdf5(path: image.label, object: object, reason: "global heap collection version \(version) at byte \(offset) (expected 1)")
        }
        try cursor.skip(3)
        let size = try cursor.length()
        guard size <= image.count - offset else {
            throw .hdf5(path: image.label, object: object,
                        reason: "the global heap collection at byte \(offset) claims \(size) bytes, more than the file holds after it")
        }
        let end = offset + size
        let objectHeaderSize = 8 + image.lengthSize
        var objects: [Int: Range<Int>] = [:]
        var steps = 0
        var position = cursor.offset
        while position + objectHeaderSize <= end {
            var header = try image.cursor(position..<end, object: object)
            let index = try header.u16()
            try header.skip(2 + 4)  // reference count, reserved
            let objectSize = try header.length()
            // The free space's size counts its own header; the others' sizes count only their data.
            guard objectSize <= end - (index == 0 ? position : header.offset) else {
                throw .unsafeHDF5(path: image.label, object: object,
                                  reason: "global heap object \(index) at byte \(position) is larger than its collection")
            }
            // Object 0 is the free space, whose size already includes its header; the others are padded.
            let step = index == 0 ? objectSize : objectHeaderSize + (objectSize + Self.alignment - 1) / Self.alignment * Self.alignment
            guard step > 0 else {
                throw .unsafeHDF5(path: image.label, object: object,
                                  reason: "global heap object \(index) at byte \(position) has size 0 (a walk over it would never end)")
            }
            guard step <= end - position else {
                throw .unsafeHDF5(path: image.label, object: object,
                                  reason: "global heap object \(index) at byte \(position) runs past the end of its collection")
            }
            if index > 0 { objects[index] = header.offset..<(header.offset + objectSize) }
            position += step
            steps += 1
        }
        self.objects = objects
        self.steps = steps
    }
}
