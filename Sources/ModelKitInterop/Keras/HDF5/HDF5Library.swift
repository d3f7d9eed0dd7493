import CModelKitHDF5
import Foundation

/// Access to libhdf5: one lock for every call, handles that close themselves, and libhdf5's own error text.
///
/// The serial build of libhdf5 (the one Debian and Homebrew ship) is not thread-safe, so every use goes through
/// ``withLock(_:)``; objects are created and released inside the closure, so none outlives the lock.
enum HDF5Library {
    private static let lock = NSLock()

    /// Runs `body` holding the library lock, with HDF5's automatic error printing switched off (errors are read
    /// from the error stack and thrown; a library never prints).
    static func withLock<Result>(_ body: () throws(KerasError) -> Result) throws(KerasError) -> Result {
        lock.lock()
        defer { lock.unlock() }
        _ = H5Eset_auto2(modelkit_h5e_default(), nil, nil)
        defer { _ = H5Eclear2(modelkit_h5e_default()) }
        return try body()
    }

    /// The most specific message on libhdf5's error stack (e.g. `truncated file: eof = 800, …`), cleared after
    /// reading; `fallback` when the stack is empty.
    static func lastError(or fallback: String) -> String {
        final class Messages { var items: [String] = [] }
        let messages = Messages()
        let walker: H5E_walk2_t = { _, error, data in
            guard let error, let data, let description = error.pointee.desc else { return 0 }
            let box = Unmanaged<Messages>.fromOpaque(data).takeUnretainedValue()
            if box.items.count < 32 { box.items.append(String(cString: description)) }
            return 0
        }
        withExtendedLifetime(messages) {
            _ = H5Ewalk2(modelkit_h5e_default(), H5E_WALK_DOWNWARD, walker, Unmanaged.passUnretained(messages).toOpaque())
        }
        _ = H5Eclear2(modelkit_h5e_default())
        guard let deepest = messages.items.last(where: { !$0.isEmpty }) else { return fallback }
        let text = String(deepest.unicodeScalars.filter { $0.value >= 0x20 && $0.value != 0x7F }.map(Character.init))
        return text.count > 200 ? String(text.prefix(200)) + "…" : text
    }
}

/// An HDF5 identifier that is closed when the last reference goes away (only ever held inside
/// ``HDF5Library/withLock(_:)``).
final class HDF5Handle {
    /// Which `H5?close` function releases the identifier.
    enum Kind { case file, group, dataset, dataspace, datatype, attribute, propertyList }

    let id: hid_t
    private let kind: Kind

    init(_ id: hid_t, _ kind: Kind) {
        self.id = id
        self.kind = kind
    }

    deinit {
        switch kind {
        case .file: _ = H5Fclose(id)
        case .group: _ = H5Gclose(id)
        case .dataset: _ = H5Dclose(id)
        case .dataspace: _ = H5Sclose(id)
        case .datatype: _ = H5Tclose(id)
        case .attribute: _ = H5Aclose(id)
        case .propertyList: _ = H5Pclose(id)
        }
    }
}

/// Turns libhdf5's negative return codes into ``KerasError``s naming the file and the object.
struct HDF5Checker {
    /// The file in messages.
    let label: String

    /// `id` wrapped in a handle, or an error when it is negative.
    func handle(_ id: hid_t, _ kind: HDF5Handle.Kind, _ operation: @autoclosure () -> String,
                object: String) throws(KerasError) -> HDF5Handle {
        guard id >= 0 else { throw failure(operation(), object: object) }
        return HDF5Handle(id, kind)
    }

    /// Throws unless `status` is non-negative.
    func check(_ status: herr_t, _ operation: @autoclosure () -> String, object: String) throws(KerasError) {
        guard status >= 0 else { throw failure(operation(), object: object) }
    }

    /// The error for a failed call, with libhdf5's reason.
    func failure(_ operation: String, object: String) -> KerasError {
        .hdf5(path: label, object: object, reason: "cannot \(operation): \(HDF5Library.lastError(or: "libhdf5 reported an error"))")
    }
}
