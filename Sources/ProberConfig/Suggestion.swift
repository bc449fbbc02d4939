/// "Did you mean" for near misses: a key a few typos, a case or a `-`/`_` away from a known one.
enum Suggestion {
    /// The known key closest to `word`, when it is close enough to be a likely typo.
    static func nearest(to word: String, in candidates: [String]) -> String? {
        let normalized = normalize(word)
        if let exact = candidates.first(where: { normalize($0) == normalized }) { return exact }
        let limit = word.count <= 4 ? 1 : 2
        var best: (key: String, distance: Int)?
        for candidate in candidates {
            let d = distance(normalized, normalize(candidate))
            if d <= limit, d < (best?.distance ?? .max) { best = (candidate, d) }
        }
        return best?.key
    }

    private static func normalize(_ s: String) -> String {
        s.lowercased().replacingOccurrences(of: "-", with: "_")
    }

    /// Levenshtein distance over Characters.
    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}
