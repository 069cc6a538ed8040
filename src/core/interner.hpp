// Values that recur across many sockets (process names, local addresses),
// stored once each and named by a 32-bit index. Nothing is ever removed: there
// are few distinct values, and each costs a few dozen bytes.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <unordered_map>
#include <vector>

namespace tcptrail::core {

template <class T, class Hash = std::hash<T>>
class Interner {
public:
    uint32_t intern(const T& value) {
        // Consecutive sockets mostly share the value: skip the hash lookup then.
        if (last_ < values_.size() && values_[last_] == value) return last_;
        // Else a direct-mapped cache of recent values by hash, before the map's
        // node chase (a host's clients may rotate over hundreds of local addresses).
        const size_t h = Hash{}(value);
        uint32_t& slot = recent_[h % kRecent];
        if (slot < values_.size() && values_[slot] == value) return last_ = slot;
        auto [it, added] = index_.try_emplace(value, static_cast<uint32_t>(values_.size()));
        if (added) values_.push_back(value);
        last_ = slot = it->second;
        return last_;
    }
    const T& operator[](uint32_t i) const { return values_[i]; }

private:
    static constexpr size_t kRecent = 256;
    std::unordered_map<T, uint32_t, Hash> index_;
    std::vector<T> values_;
    uint32_t last_ = 0;                                          // the latest value interned
    std::array<uint32_t, kRecent> recent_ = filled(UINT32_MAX);  // indexes into values_, by hash

    static constexpr std::array<uint32_t, kRecent> filled(uint32_t v) {
        std::array<uint32_t, kRecent> a{};
        a.fill(v);
        return a;
    }
};

}  // namespace tcptrail::core
