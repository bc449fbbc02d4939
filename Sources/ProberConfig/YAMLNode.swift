import CYaml // libyaml, as built by Yams (its own dependency): the event stream Yams does not expose.
import ProberCore

/// One value of a probe file as written: what `FileReader` walks.
///
/// Composed from libyaml's events by `YAMLNode.compose`, not by Yams: Yams' `Node` carries a tag object, a mark
/// and an anchor inline (a copy retains each), and its composer hashes every key node for the duplicate check.
/// A scalar here is a value (most of a probe file's texts fit in a `String` without storage of their own), a list or
/// mapping one reference. Every scalar is text; the reader converts it (see `FileReader.isNull`).
enum YAMLNode {
    case scalar(Scalar)
    case mapping(Mapping)
    case sequence(Sequence)

    struct Scalar {
        let string: String
        /// The tag as written, `""` when none; a quoted scalar's is `!!str` (as Yams has it).
        let tag: String
        let mark: Mark
        /// Written without quotes or block style (`foo`, not `"foo"`, `|`, `>`).
        let isPlain: Bool
    }

    final class Mapping {
        /// In file order.
        let pairs: [(key: YAMLNode, value: YAMLNode)]
        let mark: Mark
        init(pairs: [(key: YAMLNode, value: YAMLNode)], mark: Mark) {
            self.pairs = pairs
            self.mark = mark
        }
    }

    final class Sequence {
        let nodes: [YAMLNode]
        let mark: Mark
        init(nodes: [YAMLNode], mark: Mark) {
            self.nodes = nodes
            self.mark = mark
        }
    }

    /// Where a node starts, 1-based, columns in Unicode scalars (as libyaml counts them). 32 bits each, so that
    /// a scalar takes 48 bytes.
    struct Mark: Hashable {
        var line: Int32
        var column: Int32
    }

    /// The tags the reader looks for, as libyaml spells them.
    enum Tags {
        static let null = "tag:yaml.org,2002:null"
        static let str = "tag:yaml.org,2002:str"
        static let merge = "tag:yaml.org,2002:merge"
    }

    var mark: Mark {
        switch self {
        case .scalar(let s): return s.mark
        case .mapping(let m): return m.mark
        case .sequence(let s): return s.mark
        }
    }

    var scalar: Scalar? {
        if case .scalar(let s) = self { return s }
        return nil
    }

    var mapping: Mapping? {
        if case .mapping(let m) = self { return m }
        return nil
    }

    var sequence: Sequence? {
        if case .sequence(let s) = self { return s }
        return nil
    }
}

extension YAMLNode {
    /// What one pass over libyaml's events gave.
    struct Composed {
        /// The first document's root; nil for a file with no document.
        var root: YAMLNode?
        /// Whether Yams must be asked if the file is valid: libyaml reported an error, or the file holds what
        /// Yams refuses (a second document, an undefined alias) or may refuse (two keys of one mapping written
        /// alike, a key that is a list or mapping). Yams' messages are the loader's; when it accepts the file,
        /// `root` is what it would have built.
        var askYams = false
        /// False when libyaml stopped at an error: `root` is then incomplete.
        var complete = true
    }

    /// Composes `text` in one pass, checking `FileLimits` on the way: a file over them is refused (its
    /// diagnostic) wherever it is, as long as no syntax error comes first.
    static func compose(_ text: String, path: String) -> Result<Composed, Diagnostic> {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else { return .success(Composed(askYams: true, complete: false)) }
        defer { yaml_parser_delete(&parser) }
        var utf8 = Array(text.utf8)
        return utf8.withUnsafeMutableBufferPointer { buffer -> Result<Composed, Diagnostic> in
            yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
            var walk = FileLimits.Walk(path: path)
            var builder = Builder()
            while true {
                var event = yaml_event_t()
                guard yaml_parser_parse(&parser, &event) == 1 else {
                    return .success(Composed(root: nil, askYams: true, complete: false))
                }
                defer { yaml_event_delete(&event) }
                if event.type == YAML_STREAM_END_EVENT {
                    return .success(Composed(root: builder.root, askYams: builder.askYams))
                }
                if let problem = walk.step(event) { return .failure(problem) }
                builder.add(event)
            }
        }
    }

    /// Builds the first document's nodes from its events, as Yams' `Parser` would (anchors, aliases sharing the
    /// node they name), without judging what only Yams judges (see `Composed.askYams`).
    private struct Builder {
        /// A list or mapping not closed yet.
        struct Open {
            var isMapping: Bool
            var mark: Mark
            var anchor: String?
            var nodes: [YAMLNode] = []
            var pairs: [(key: YAMLNode, value: YAMLNode)] = []
            /// A mapping's key whose value is still to come.
            var key: YAMLNode?
        }
        var open: [Open] = []
        var anchors: [String: YAMLNode] = [:]
        var root: YAMLNode?
        var documents = 0
        var askYams = false

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
                let string = String(decoding: UnsafeBufferPointer(start: s.value, count: s.length), as: UTF8.self)
                let tag = s.quoted_implicit == 1 ? Tags.str : (Self.text(s.tag) ?? "")
                let node = YAMLNode.scalar(Scalar(string: string, tag: tag, mark: mark, isPlain: s.style == YAML_PLAIN_SCALAR_STYLE))
                if let anchor = Self.text(s.anchor) { anchors[anchor] = node }
                finished(node)
            case YAML_ALIAS_EVENT:
                guard let name = Self.text(event.data.alias.anchor), let node = anchors[name] else {
                    askYams = true // "found undefined alias"
                    return
                }
                finished(node)
            case YAML_SEQUENCE_START_EVENT:
                open.append(Open(isMapping: false, mark: mark, anchor: Self.text(event.data.sequence_start.anchor)))
            case YAML_MAPPING_START_EVENT:
                open.append(Open(isMapping: true, mark: mark, anchor: Self.text(event.data.mapping_start.anchor)))
            case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                guard let closed = open.popLast() else { return }
                let node: YAMLNode
                if closed.isMapping {
                    if Self.mayHoldDuplicates(closed.pairs) { askYams = true }
                    node = .mapping(Mapping(pairs: closed.pairs, mark: closed.mark))
                } else {
                    node = .sequence(Sequence(nodes: closed.nodes, mark: closed.mark))
                }
                if let anchor = closed.anchor { anchors[anchor] = node }
                finished(node)
            default:
                return
            }
        }

        private mutating func finished(_ node: YAMLNode) {
            guard let last = open.indices.last else {
                root = node
                return
            }
            if !open[last].isMapping {
                open[last].nodes.append(node)
            } else if let key = open[last].key {
                open[last].pairs.append((key, node))
                open[last].key = nil
            } else {
                open[last].key = node
            }
        }

        /// Whether Yams might find a key twice: two scalar keys of the same text (Yams also compares their tags),
        /// or a key that is not a scalar (Yams compares those whole).
        private static func mayHoldDuplicates(_ pairs: [(key: YAMLNode, value: YAMLNode)]) -> Bool {
            guard pairs.count > 16 else {
                for i in pairs.indices {
                    guard case .scalar(let a) = pairs[i].key else { return true }
                    for j in pairs.indices where j > i {
                        if case .scalar(let b) = pairs[j].key, a.string != b.string { continue }
                        return true
                    }
                }
                return false
            }
            var texts = Set<String>()
            for pair in pairs {
                guard case .scalar(let key) = pair.key, texts.insert(key.string).inserted else { return true }
            }
            return false
        }

        private static func text(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
            pointer.map { String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)) }
        }
    }
}
