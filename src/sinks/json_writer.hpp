// Appends JSON fragments to a buffer without parsing format strings: the JSON
// sink formats millions of records per second on replay.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

#include <fmt/format.h>

#include "sinks/format.hpp"

namespace tcptrail::sinks {

class JsonWriter {
public:
    explicit JsonWriter(fmt::memory_buffer& b) : b_(b) {}

    void raw(std::string_view s) { put(s.data(), s.size()); }
    void ch(char c) { b_.push_back(c); }
    // ,"name":  (the separator is part of the key: every object starts with a key-less field)
    JsonWriter& key(std::string_view name) {
        char* p = grow(name.size() + 4);
        *p++ = ',';
        *p++ = '"';
        std::memcpy(p, name.data(), name.size());
        p += name.size();
        *p++ = '"';
        *p = ':';
        return *this;
    }
    void num(uint64_t v) {
        fmt::format_int f(v);
        put(f.data(), f.size());
    }
    template <typename T>
    void opt(const std::optional<T>& v) {
        if (v) {
            num(*v);
        } else {
            null();
        }
    }
    void boolean(bool v) { raw(v ? std::string_view("true") : std::string_view("false")); }
    void null() { raw("null"); }
    // A string known to need no escaping (names, addresses, timestamps).
    void plain(std::string_view s) {
        char* p = grow(s.size() + 2);
        *p++ = '"';
        std::memcpy(p, s.data(), s.size());
        p[s.size()] = '"';
    }
    void plain_or_null(const char* s) {
        if (s) {
            plain(s);
        } else {
            null();
        }
    }
    void text(std::string_view s) { append_json_string(b_, s); }  // escaped
    fmt::memory_buffer& buffer() { return b_; }

private:
    // Extends the buffer by n bytes and returns where they start. fmt's own
    // append() is an out-of-line loop: too slow for millions of tiny pieces.
    char* grow(size_t n) {
        const size_t at = b_.size();
        b_.resize(at + n);
        return b_.data() + at;
    }
    void put(const char* s, size_t n) { std::memcpy(grow(n), s, n); }

    fmt::memory_buffer& b_;
};

}  // namespace tcptrail::sinks
