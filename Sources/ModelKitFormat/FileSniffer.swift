/// What a file's first bytes say it is, so that readers are picked by content, not by name, and a wrong file gets
/// a message that says what it actually looks like.
public enum FileSniffer {
    /// A format recognised from the leading bytes.
    public enum Detected: String, Sendable, Equatable {
        case mkit = "ModelKit binary (.mkit)"
        case mkitTextModeDamaged = "ModelKit binary damaged by a text-mode transfer"
        case modelKitJSON = "ModelKit JSON"
        case json = "JSON"
        case numpy = "NumPy array (.npy)"
        case zip = "zip archive (.npz, .pt, .keras)"
        case gguf = "GGUF"
        case hdf5 = "HDF5 (.h5)"
        case safetensors = "safetensors"
        case pickle = "Python pickle (legacy PyTorch)"
        case gitLFSPointer = "git-lfs pointer file (the real file was never downloaded)"
        case html = "HTML page (a download that returned a web page)"
        case text = "plain text"
        case empty = "empty file"
        case unknown = "unrecognised binary data"
    }

    /// The 8 magic bytes of `.mkit` files (Specs/format.md B1).
    public static let mkitMagic: [UInt8] = [0x89, 0x4D, 0x4B, 0x54, 0x0D, 0x0A, 0x1A, 0x0A]

    /// Identifies `bytes` (the whole file or at least its first 64 KiB).
    public static func detect(_ bytes: UnsafeRawBufferPointer) -> Detected {
        guard !bytes.isEmpty else { return .empty }
        let head = Array(bytes.prefix(4096))
        if head.starts(with: mkitMagic) { return .mkit }
        if head.count >= 4, head[1...3].elementsEqual(Array("MKT".utf8)) { return .mkitTextModeDamaged }
        if head.starts(with: [0x93] + Array("NUMPY".utf8)) { return .numpy }
        if head.starts(with: [0x50, 0x4B, 0x03, 0x04]) || head.starts(with: [0x50, 0x4B, 0x05, 0x06]) { return .zip }
        if head.starts(with: Array("GGUF".utf8)) { return .gguf }
        if head.starts(with: [0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A]) { return .hdf5 }
        // safetensors before pickle: a header length of 640, 896, 1152 or 1408 bytes starts with 0x80 0x02…0x05,
        // which is also how a pickle starts; the `{` at byte 8 decides.
        if looksLikeSafetensors(bytes) { return .safetensors }
        if head.count >= 2, head[0] == 0x80, (2...5).contains(head[1]) { return .pickle }
        let text = String(decoding: head.prefix(512), as: UTF8.self)
        let trimmed = text.drop { $0.isWhitespace }
        if trimmed.hasPrefix("version https://git-lfs") { return .gitLFSPointer }
        let lower = trimmed.lowercased()
        if lower.hasPrefix("<!doctype html") || lower.hasPrefix("<html") { return .html }
        if trimmed.hasPrefix("{") || trimmed.hasPrefix("[") {
            return text.contains("\"modelkit-json\"") ? .modelKitJSON : .json
        }
        let printable = head.prefix(512).allSatisfy { $0 == 0x09 || $0 == 0x0A || $0 == 0x0D || ($0 >= 0x20 && $0 != 0x7F) }
        return printable ? .text : .unknown
    }

    /// safetensors starts with a u64 header length followed by `{`.
    private static func looksLikeSafetensors(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard bytes.count >= 10 else { return false }
        let length = UInt64(littleEndian: bytes.loadUnaligned(as: UInt64.self))
        return length >= 2 && length <= UInt64(bytes.count - 8) && bytes[8] == UInt8(ascii: "{")
    }
}
