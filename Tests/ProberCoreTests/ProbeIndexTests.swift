import Testing
import ProberCore

@Suite struct ProbeIndexTests {
    @Test func slotsFollowTheNamesFirstOccurrenceWins() {
        let index = ProbeIndex(["b", "a", "b", "c"])
        #expect(index.names == ["b", "a", "c"] && index.count == 3)
        #expect(index.slot("b") == 0 && index.slot("a") == 1 && index.slot("c") == 2 && index.slot("d") == nil)
        #expect(ProbeIndex.empty.count == 0)
    }
}
