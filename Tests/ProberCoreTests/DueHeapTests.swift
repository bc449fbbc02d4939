import ProberCore
import ProberTestSupport
import Testing

/// The min-heap of due times the scheduler and the libcurl engine share.
@Suite struct DueHeapTests {
    @Test func emptyHeapHasNothingToGive() {
        var heap = DueHeap<String>()
        #expect(heap.isEmpty)
        #expect(heap.first == nil)
        #expect(heap.firstDue == nil)
        #expect(heap.first { $0.count } == nil)
        #expect(heap.removeFirst() == nil)
    }

    @Test func elementsComeOutInDueOrder() {
        var random = SeededRandom(seed: 16)
        var heap = DueHeap<Int>()
        var dues: [Int64] = []
        for i in 0..<2_000 {
            // Many equal due times too: a grid of probes shares them.
            let due = Int64.random(in: -500...500, using: &random)
            dues.append(due)
            heap.push(i, due: due)
        }
        #expect(heap.count == 2_000)
        var out: [Int64] = []
        while let due = heap.firstDue {
            #expect(heap.first { $0 } == heap.first)
            let i = heap.removeFirst()!
            #expect(dues[i] == due)
            out.append(due)
        }
        #expect(out == dues.sorted())
        #expect(heap.isEmpty)
    }

    @Test func pushesBetweenRemovalsKeepTheOrder() {
        var random = SeededRandom(seed: 14)
        var heap = DueHeap<Int64>()
        var now: Int64 = 0
        for _ in 0..<100 { heap.push(0, due: Int64.random(in: 0..<1_000, using: &random)) }
        // As the scheduler does: take the earliest, put it back one interval later.
        for _ in 0..<5_000 {
            let due = heap.firstDue!
            #expect(due >= now)
            now = due
            heap.removeFirst()
            heap.push(0, due: due + Int64.random(in: 1..<1_000, using: &random))
        }
        #expect(heap.count == 100)
    }

    @Test func removeAllTakesThePickedAndKeepsTheRestInOrder() {
        var heap = DueHeap<Int>()
        for i in (0..<100).reversed() { heap.push(i, due: Int64(i)) }
        let removed = heap.removeAll { $0 % 3 == 0 }
        #expect(removed.map(\.element).sorted() == Array(stride(from: 0, to: 100, by: 3)))
        #expect(removed.allSatisfy { $0.due == Int64($0.element) })
        #expect(heap.removeAll { _ in false }.isEmpty)
        var rest: [Int] = []
        while let i = heap.removeFirst() { rest.append(i) }
        #expect(rest == (0..<100).filter { $0 % 3 != 0 })
    }

    /// The sifts move elements through a hole in the heap's buffer: every reference must still be held exactly once.
    @Test func referencesAreHeldWhileInsideAndReleasedWhenOut() {
        final class Box { let n: Int; init(_ n: Int) { self.n = n } }
        struct Weak { weak var box: Box? }
        var random = SeededRandom(seed: 9)
        var heap = DueHeap<Box>()
        var watched: [Int: Weak] = [:]
        for i in 0..<500 {
            let box = Box(i)
            watched[i] = Weak(box: box)
            heap.push(box, due: Int64.random(in: 0..<100, using: &random))
        }
        #expect(watched.values.allSatisfy { $0.box != nil })
        var out: [Int] = []
        for _ in 0..<250 { out.append(heap.removeFirst()!.n) }
        #expect(out.allSatisfy { watched[$0]!.box == nil })
        #expect(watched.filter { $0.value.box != nil }.count == 250)
        while heap.removeFirst() != nil {}
        #expect(watched.values.allSatisfy { $0.box == nil })
    }
}
