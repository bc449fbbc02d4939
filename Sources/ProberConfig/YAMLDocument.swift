import CYaml // libyaml, as built by Yams (its own dependency): the event stream Yams does not expose.
import Foundation // memcmp
import ProberCore

/// One value of a probe file as written: its place among the nodes of the file's `YAMLDocument`, which says
/// what it is. What `FileReader` walks.
///
/// A number, not a tree of its own: the first composer built a node per value (a class and an array for each
/// list or mapping, a string for each scalar), and building, copying and freeing them cost more than libyaml's
/// parsing. A file's nodes now live in three arrays, and a node is copied, kept and compared as an integer.
struct YAMLNode: Hashable {
    let index: Int32
}

/// A probe file as composed by `YAMLDocument.compose`: every node of its first document, in flat arrays.
///
/// Composed from libyaml's events, not by Yams: Yams' `Node` carries a tag object, a mark and an anchor inline
/// (a copy retains each), and its composer hashes every key node for the duplicate check. Every scalar is text;
/// the reader converts it (see `FileReader.isNull`).
struct YAMLDocument {
    enum Kind: UInt8 {
        case scalar, mapping, sequence
    }

    /// A scalar's tag, as far as the reader looks at it: a byte, not the tag's text.
    enum Tag: UInt8 {
        /// No tag written.
        case none
        /// `!!null`.
        case null
        /// `!!merge`.
        case merge
        /// Any other: `!!str` (which a quoted scalar has, as Yams has it), `!!int`, a local `!tag`...
        case other

        /// `text` as libyaml spells a tag (`tag:yaml.org,2002:null`); nil is no tag.
        init(_ text: String?) {
            switch text {
            case nil: self = .none
            case "tag:yaml.org,2002:null": self = .null
            case "tag:yaml.org,2002:merge": self = .merge
            default: self = .other
            }
        }
    }

    /// Where a node starts, 1-based, columns in Unicode scalars (as libyaml counts them).
    struct Mark: Hashable {
        var line: Int32
        var column: Int32
    }

    /// One node. A scalar's text is `count` bytes of `bytes` from `start`; a list's items are `count` nodes of
    /// `children` from `start`, a mapping's pairs `count` pairs (key, value) of them.
    struct Record {
        var kind: Kind
        var tag: Tag
        /// A scalar written without quotes or block style (`foo`, not `"foo"`, `|`, `>`).
        var isPlain: Bool
        var mark: Mark
        var start: Int32
        var count: Int32
    }

    let records: [Record]
    let children: [YAMLNode]
    /// Every scalar's text, UTF-8, one after another.
    let bytes: [UInt8]
    /// The first document's root; nil for a file with no document.
    let root: YAMLNode?

    func kind(_ node: YAMLNode) -> Kind { records[Int(node.index)].kind }
    func mark(_ node: YAMLNode) -> Mark { records[Int(node.index)].mark }

    /// A scalar's record; nil for a list or mapping.
    func scalar(_ node: YAMLNode) -> Record? {
        let record = records[Int(node.index)]
        return record.kind == .scalar ? record : nil
    }

    /// A scalar's text; nil for a list or mapping.
    func text(_ node: YAMLNode) -> String? {
        guard let record = scalar(node) else { return nil }
        return text(of: record)
    }

    func text(of scalar: Record) -> String {
        let start = Int(scalar.start)
        return String(decoding: bytes[start..<start + Int(scalar.count)], as: UTF8.self)
    }

    /// A scalar's length in bytes, and whether its bytes are `text`'s: no string made.
    func scalar(_ scalar: Record, is text: StaticString) -> Bool {
        guard Int(scalar.count) == text.utf8CodeUnitCount else { return false }
        let start = Int(scalar.start)
        return bytes.withUnsafeBufferPointer { all in
            memcmp(all.baseAddress! + start, text.utf8Start, Int(scalar.count)) == 0
        }
    }

    /// Whether `node` is a scalar whose bytes are `text`'s. No string made.
    func scalar(_ node: YAMLNode, is text: StaticString) -> Bool {
        scalar(node).map { scalar($0, is: text) } ?? false
    }

    /// Whether `node` is a scalar whose text is `word` in any case of its ASCII letters (`word` in lower case):
    /// `Auto` is `auto`. No string made.
    func isWord(_ node: YAMLNode, _ word: StaticString) -> Bool {
        guard let s = scalar(node), Int(s.count) == word.utf8CodeUnitCount else { return false }
        let start = Int(s.start)
        for i in 0..<Int(s.count) {
            let b = bytes[start + i], w = word.utf8Start[i]
            guard b == w || ((b | 0x20) == w && w >= 0x61 && w <= 0x7A) else { return false }
        }
        return true
    }

    /// A list's items; nil for a scalar or mapping.
    func items(_ node: YAMLNode) -> ArraySlice<YAMLNode>? {
        let record = records[Int(node.index)]
        guard record.kind == .sequence else { return nil }
        return children[Int(record.start)..<Int(record.start + record.count)]
    }

    /// A mapping's pairs, in file order; nil for a scalar or list.
    func pairs(_ node: YAMLNode) -> Pairs? {
        let record = records[Int(node.index)]
        guard record.kind == .mapping else { return nil }
        return Pairs(nodes: children[Int(record.start)..<Int(record.start + 2 * record.count)])
    }

    /// A mapping's (key, value) pairs, read from its children.
    struct Pairs: RandomAccessCollection {
        let nodes: ArraySlice<YAMLNode>
        var startIndex: Int { 0 }
        var endIndex: Int { nodes.count / 2 }
        subscript(i: Int) -> (key: YAMLNode, value: YAMLNode) {
            let k = nodes.startIndex + 2 * i
            return (nodes[k], nodes[k + 1])
        }
    }
}

extension YAMLDocument {
    /// What one pass over libyaml's events gave.
    struct Composed {
        /// The first document's nodes: complete unless `complete` is false.
        var document: YAMLDocument
        /// Whether Yams must be asked if the file is valid: libyaml reported an error, or the file holds what
        /// Yams refuses (a second document, an undefined alias) or may refuse (two keys of one mapping written
        /// alike, a key that is a list or mapping). Yams' messages are the loader's; when it accepts the file,
        /// `document` is what it would have built.
        var askYams = false
        /// False when libyaml stopped at an error: `document` is then incomplete.
        var complete = true
    }

    /// Composes `text` in one pass, checking `FileLimits` on the way: a file over them is refused (its
    /// diagnostic) wherever it is, as long as no syntax error comes first.
    static func compose(_ text: String, path: String) -> Result<Composed, Diagnostic> {
        var parser = yaml_parser_t()
        var builder = Builder(expectedBytes: text.utf8.count)
        guard yaml_parser_initialize(&parser) == 1 else {
            return .success(Composed(document: builder.document, askYams: true, complete: false))
        }
        defer { yaml_parser_delete(&parser) }
        var utf8 = Array(text.utf8)
        return utf8.withUnsafeMutableBufferPointer { buffer -> Result<Composed, Diagnostic> in
            yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
            var walk = FileLimits.Walk(path: path)
            while true {
                var event = yaml_event_t()
                guard yaml_parser_parse(&parser, &event) == 1 else {
                    return .success(Composed(document: builder.document, askYams: true, complete: false))
                }
                defer { yaml_event_delete(&event) }
                if event.type == YAML_STREAM_END_EVENT {
                    return .success(Composed(document: builder.document, askYams: builder.askYams))
                }
                if let problem = walk.step(event) { return .failure(problem) }
                builder.add(event)
            }
        }
    }

    /// Builds the first document's nodes from its events, as Yams' `Parser` would (anchors, aliases sharing the
    /// node they name), without judging what only Yams judges (see `Composed.askYams`).
    ///
    /// A list or mapping's children wait on one stack until it closes; then they are copied to `children`
    /// together, and its record is written. So a node's children come before it, and the root is last.
    private struct Builder {
        /// A list or mapping not closed yet.
        struct Open {
            var kind: Kind
            var mark: Mark
            var anchor: String?
            /// Where its children start on `pending`.
            var first: Int
        }
        var open: [Open] = []
        var pending: [YAMLNode] = []
        var records: [Record] = []
        var children: [YAMLNode] = []
        var bytes: [UInt8] = []
        var anchors: [String: YAMLNode] = [:]
        var root: YAMLNode?
        var documents = 0
        var askYams = false

        init(expectedBytes: Int) {
            // A probe file's scalars hold about half its bytes, and it has a node per 12 bytes or so.
            bytes.reserveCapacity(expectedBytes / 2)
            records.reserveCapacity(expectedBytes / 12)
            children.reserveCapacity(expectedBytes / 12)
        }

        var document: YAMLDocument { YAMLDocument(records: records, children: children, bytes: bytes, root: root) }

        mutating func add(_ event: yaml_event_t) {
            if event.type == YAML_DOCUMENT_START_EVENT {
                documents += 1
                if documents > 1 { askYams = true }
                return
            }
            guard documents == 1 else { return }
            let mark = Mark(line: Int32(clamping: event.start_mark.line + 1), column: Int32(clamping: event.start_mark.column + 1))
            switch event.type {
            case YAML_SCALAR_EVENT:
                let s = event.data.scalar
                let start = Int32(bytes.count)
                bytes.append(contentsOf: UnsafeBufferPointer(start: s.value, count: s.length))
                let tag = s.quoted_implicit == 1 ? Tag.other : Tag(Self.text(s.tag))
                let node = record(Record(kind: .scalar, tag: tag, isPlain: s.style == YAML_PLAIN_SCALAR_STYLE, mark: mark,
                                         start: start, count: Int32(s.length)))
                if let anchor = Self.text(s.anchor) { anchors[anchor] = node }
                finished(node)
            case YAML_ALIAS_EVENT:
                guard let name = Self.text(event.data.alias.anchor), let node = anchors[name] else {
                    askYams = true // "found undefined alias"
                    return
                }
                finished(node)
            case YAML_SEQUENCE_START_EVENT:
                open.append(Open(kind: .sequence, mark: mark, anchor: Self.text(event.data.sequence_start.anchor), first: pending.count))
            case YAML_MAPPING_START_EVENT:
                open.append(Open(kind: .mapping, mark: mark, anchor: Self.text(event.data.mapping_start.anchor), first: pending.count))
            case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                guard let closed = open.popLast() else { return }
                let start = Int32(children.count)
                let count = pending.count - closed.first
                children.append(contentsOf: pending[closed.first...])
                pending.removeSubrange(closed.first...)
                if closed.kind == .mapping, mayHoldDuplicates(Int(start), pairs: count / 2) { askYams = true }
                let node = record(Record(kind: closed.kind, tag: .none, isPlain: false, mark: closed.mark, start: start,
                                         count: Int32(closed.kind == .mapping ? count / 2 : count)))
                if let anchor = closed.anchor { anchors[anchor] = node }
                finished(node)
            default:
                return
            }
        }

        private mutating func record(_ record: Record) -> YAMLNode {
            records.append(record)
            return YAMLNode(index: Int32(records.count - 1))
        }

        private mutating func finished(_ node: YAMLNode) {
            if open.isEmpty { root = node } else { pending.append(node) }
        }

        /// Whether Yams might find a key twice among the `count` pairs of `children` from `start`: two scalar keys
        /// of the same text (Yams also compares their tags), or a key that is not a scalar (Yams compares those whole).
        private func mayHoldDuplicates(_ start: Int, pairs count: Int) -> Bool {
            var keys: [Record] = []
            keys.reserveCapacity(count)
            var ascii = true
            for i in 0..<count {
                let record = records[Int(children[start + 2 * i].index)]
                guard record.kind == .scalar else { return true }
                keys.append(record)
                ascii = ascii && bytes[Int(record.start)..<Int(record.start + record.count)].allSatisfy { $0 < 0x80 }
            }
            // ASCII keys are the same text when they are the same bytes; others are compared as Yams does, as
            // strings (canonically equivalent ones are equal).
            if ascii, count <= 16 {
                for i in keys.indices {
                    for j in keys.indices where j > i && sameBytes(keys[i], keys[j]) { return true }
                }
                return false
            }
            let document = self.document
            var texts = Set<String>()
            for key in keys {
                guard texts.insert(document.text(of: key)).inserted else { return true }
            }
            return false
        }

        private func sameBytes(_ a: Record, _ b: Record) -> Bool {
            a.count == b.count && bytes.withUnsafeBufferPointer { all in
                memcmp(all.baseAddress! + Int(a.start), all.baseAddress! + Int(b.start), Int(a.count)) == 0
            }
        }

        private static func text(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
            pointer.map { String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)) }
        }
    }
}
