// The tracker's sockets by cookie, compactly: the items live in a slab of
// fixed-size chunks (so an item never moves once created) and an open-addressing
// index of (slot number, cookie hash) pairs finds them. At a million sockets this
// costs about 16 bytes per socket beyond the items themselves, where a
// std::unordered_map node and bucket cost about 40.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace tcptrail::core {

// Where a SocketTable keeps an item; stable for the item's life.
using SocketSlot = uint32_t;
inline constexpr SocketSlot kNoSocketSlot = UINT32_MAX;

// T: default-constructible, with a `uint64_t cookie` member that the table sets.
template <class T>
class SocketTable {
public:
    using Slot = SocketSlot;
    static constexpr Slot kNoSlot = kNoSocketSlot;

    SocketTable() { clear(); }

    size_t size() const { return size_; }

    T& at(Slot s) { return chunks_[s / kChunkItems][s % kChunkItems]; }
    const T& at(Slot s) const { return chunks_[s / kChunkItems][s % kChunkItems]; }

    Slot find(uint64_t cookie) const {
        const uint32_t h = hash(cookie);
        for (size_t i = home(h);; i = (i + 1) & mask_) {
            const Entry& e = index_[i];
            if (e.slot == kNoSlot || (e.hash == h && at(e.slot).cookie == cookie)) return e.slot;
        }
    }

    // Adds a default-constructed item for `cookie`, which must not be present.
    Slot insert(uint64_t cookie) {
        if ((size_ + 1) * 4 > index_.size() * 3) grow();  // keep the index at most 3/4 full
        const Slot s = take_free_slot();
        at(s).cookie = cookie;
        place(Entry{s, hash(cookie)});
        ++size_;
        return s;
    }

    // Removes the item in slot `s` (it is reset, releasing what it owns).
    void erase(Slot s) {
        size_t i = home(hash(at(s).cookie));
        while (index_[i].slot != s) i = (i + 1) & mask_;
        // Linear probing without tombstones: pull later entries of the run back
        // into the hole when the hole lies between their home and their place.
        for (size_t j = (i + 1) & mask_; index_[j].slot != kNoSlot; j = (j + 1) & mask_) {
            const size_t want = home(index_[j].hash);
            if (((j - want) & mask_) >= ((j - i) & mask_)) {
                index_[i] = index_[j];
                i = j;
            }
        }
        index_[i] = Entry{};
        at(s) = T{};
        free_.push_back(s);
        --size_;
    }

    // Calls f(slot) for every item, in no particular order.
    template <class F>
    void for_each_slot(F f) const {
        for (const Entry& e : index_) {
            if (e.slot != kNoSlot) f(e.slot);
        }
    }

    void clear() {
        chunks_.clear();
        free_.clear();
        next_unused_ = 0;
        size_ = 0;
        index_.assign(kInitialIndexSize, Entry{});
        set_mask();
    }

private:
    static constexpr size_t kChunkItems = 1024;
    static constexpr size_t kInitialIndexSize = 1024;  // a power of two

    struct Entry {
        Slot slot = kNoSlot;  // kNoSlot: empty
        uint32_t hash = 0;    // of the item's cookie: probes and moves need not touch the item
    };

    // Fibonacci hashing: socket cookies are near-sequential, the top bits of the
    // product are well spread. An entry's home is the top bits of its hash.
    static uint32_t hash(uint64_t cookie) { return static_cast<uint32_t>((cookie * 0x9E3779B97F4A7C15ULL) >> 32); }
    size_t home(uint32_t h) const { return h >> shift_; }

    void place(Entry e) {
        size_t i = home(e.hash);
        while (index_[i].slot != kNoSlot) i = (i + 1) & mask_;
        index_[i] = e;
    }

    void set_mask() {
        mask_ = index_.size() - 1;
        shift_ = 32;
        for (size_t n = index_.size(); n > 1; n >>= 1) --shift_;
    }

    void grow() {
        std::vector<Entry> old(index_.size() * 2);
        old.swap(index_);
        set_mask();
        for (const Entry& e : old) {
            if (e.slot != kNoSlot) place(e);
        }
    }

    Slot take_free_slot() {
        if (!free_.empty()) {
            const Slot s = free_.back();
            free_.pop_back();
            return s;
        }
        if (next_unused_ == chunks_.size() * kChunkItems) chunks_.push_back(std::make_unique<T[]>(kChunkItems));
        return static_cast<Slot>(next_unused_++);
    }

    std::vector<std::unique_ptr<T[]>> chunks_;  // never move: items stay put
    std::vector<Entry> index_;
    std::vector<Slot> free_;  // erased slots, reused first
    size_t next_unused_ = 0;  // slots below it have been handed out
    size_t size_ = 0;
    size_t mask_ = 0;
    unsigned shift_ = 32;
};

}  // namespace tcptrail::core
