import CModelKitHDF5
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Builds an HDF5 file in memory (libhdf5's core driver without a backing store) and hands back its bytes, so the
/// caller can put them in a zip or write them with ``AtomicFileWriter``. Strings are stored as h5py stores Python
/// `str`: variable-length UTF-8. Use only inside ``HDF5Library/withLock(_:)``.
final class HDF5Writer {
    let checker: HDF5Checker
    let file: HDF5Handle

    /// A new empty file; `label` names it in errors.
    init(label: String) throws(KerasError) {
        checker = HDF5Checker(label: label)
        let access = try checker.handle(H5Pcreate(modelkit_h5p_file_access()), .propertyList, "create a file access list", object: "/")
        try checker.check(H5Pset_fapl_core(access.id, 1 << 20, false), "select the in-memory driver", object: "/")
        file = try checker.handle(H5Fcreate("modelkit-export.h5", modelkit_h5f_acc_trunc(), modelkit_h5p_default(), access.id),
                                  .file, "create the HDF5 file", object: "/")
    }

    /// The root group.
    func root() throws(KerasError) -> HDF5Handle {
        try checker.handle(H5Gopen2(file.id, "/", modelkit_h5p_default()), .group, "open the root group", object: "/")
    }

    /// A new group `name` in `parent`.
    func createGroup(_ name: String, in parent: HDF5Handle, path: String) throws(KerasError) -> HDF5Handle {
        try checker.handle(H5Gcreate2(parent.id, name, modelkit_h5p_default(), modelkit_h5p_default(), modelkit_h5p_default()),
                           .group, "create the group", object: path)
    }

    /// Sets the scalar string attribute `name` of `object`.
    func setString(_ value: String, name: String, on object: HDF5Handle, path: String) throws(KerasError) {
        try setStrings([value], name: name, on: object, path: path, scalar: true)
    }

    /// Sets the attribute `name` of `object` to a 1-D array of strings (an empty array stays a string array).
    func setStrings(_ values: [String], name: String, on object: HDF5Handle, path: String, scalar: Bool = false) throws(KerasError) {
        let where_ = path + "@" + name
        let type = try checker.handle(H5Tcopy(modelkit_h5t_c_s1()), .datatype, "make a string type", object: where_)
        try checker.check(H5Tset_size(type.id, modelkit_h5t_variable()), "make a string type", object: where_)
        try checker.check(H5Tset_cset(type.id, H5T_CSET_UTF8), "make a string type", object: where_)
        let space: HDF5Handle
        if scalar {
            space = try checker.handle(H5Screate(H5S_SCALAR), .dataspace, "make a scalar dataspace", object: where_)
        } else {
            var dimensions = [hsize_t(values.count)]
            space = try checker.handle(H5Screate_simple(1, &dimensions, nil), .dataspace, "make a dataspace", object: where_)
        }
        let attribute = try checker.handle(H5Acreate2(object.id, name, type.id, space.id, modelkit_h5p_default(), modelkit_h5p_default()),
                                           .attribute, "create the attribute", object: where_)
        var pointers: [UnsafePointer<CChar>?] = values.map { UnsafePointer(strdup($0)) }
        defer { for pointer in pointers { free(UnsafeMutablePointer(mutating: pointer)) } }
        guard !pointers.contains(where: { $0 == nil }) else { throw .cannotExport(path: checker.label, reason: "out of memory") }
        try checker.check(H5Awrite(attribute.id, type.id, &pointers), "write the attribute", object: where_)
    }

    /// Writes `values` as the little-endian float32 dataset `name` of shape `shape` in `group` (contiguous, as
    /// h5py writes by default).
    func writeFloats(_ values: [Float], shape: [Int], name: String, in group: HDF5Handle, path: String) throws(KerasError) {
        precondition(shape.reduce(1, *) == values.count, "shape and values disagree")
        var dimensions = shape.map { hsize_t($0) }
        let space = try checker.handle(H5Screate_simple(Int32(shape.count), &dimensions, nil), .dataspace, "make a dataspace", object: path)
        let dataset = try checker.handle(H5Dcreate2(group.id, name, modelkit_h5t_ieee_f32le(), space.id, modelkit_h5p_default(),
                                                    modelkit_h5p_default(), modelkit_h5p_default()),
                                         .dataset, "create the dataset", object: path)
        let status = values.withUnsafeBufferPointer { buffer in
            H5Dwrite(dataset.id, modelkit_h5t_native_float(), modelkit_h5s_all(), modelkit_h5s_all(), modelkit_h5p_default(), buffer.baseAddress)
        }
        try checker.check(status, "write the dataset", object: path)
    }

    /// The bytes of the finished file.
    func image() throws(KerasError) -> [UInt8] {
        try checker.check(H5Fflush(file.id, H5F_SCOPE_GLOBAL), "flush the file", object: "/")
        let size = H5Fget_file_image(file.id, nil, 0)
        guard size > 0 else { throw checker.failure("read the file image", object: "/") }
        var bytes = [UInt8](repeating: 0, count: size)
        let copied = H5Fget_file_image(file.id, &bytes, size)
        guard copied == size else { throw checker.failure("read the file image", object: "/") }
        return bytes
    }
}
