/// Decoding and safety rules for the names of zip members.
///
/// We never extract to disk, but names still travel: into error messages, into tensor names, and into whatever a
/// caller does with them. A name that could escape a directory is a sign of a hostile archive, so it is refused
/// rather than cleaned up.
enum ZipMemberName {
    /// The decoded name, when it is safe.
    ///
    /// Names must be valid UTF-8 whether or not the archive sets the UTF-8 flag (bit 11): Python's `zipfile`, which
    /// writes `.npz` files, writes ASCII names without the flag and other names as flagged UTF-8. Legacy code page
    /// 437 names are refused rather than guessed at.
    static func validated(_ raw: UnsafeRawBufferPointer, archive: String) throws(ZipArchiveError) -> String {
        guard let name = String(validating: raw, as: UTF8.self) else {
            let shown = String(decoding: raw, as: UTF8.self)
            throw .unsafeMemberName(path: archive, member: shown, reason: "the name is not valid UTF-8")
        }
        if let reason = problem(with: name) {
            throw .unsafeMemberName(path: archive, member: name, reason: reason)
        }
        return name
    }

    /// Why `name` is unsafe as a member (or array) name, or `nil` when it is fine.
    static func problem(with name: String) -> String? {
        if name.isEmpty { return "the name is empty" }
        if name.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            return "the name contains control characters"
        }
        if name.contains("\\") { return "the name contains a backslash (a Windows path separator)" }
        if name.hasPrefix("/") { return "the name is an absolute path" }
        let components = name.split(separator: "/", omittingEmptySubsequences: false)
        if components.contains("..") { return "the name contains a '..' component that points outside the archive" }
        if let first = components.first, first.count == 2, first.last == ":" {
            return "the name starts with a drive letter"
        }
        return nil
    }
}
