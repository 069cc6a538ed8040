// Appends JSON fragments to a buffer without parsing format strings: the JSON
// sink formats millions of records per second on replay.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include <fmt/format.h>

#include "sinks/format.hpp"

namespace tcptrail::sinks {

class JsonWriter {
public:
    explicit JsonWriter(fmt::memory_buffer& b) : b_(b) {}

    void raw(std::string_view s) { b_.append(s); }
    void ch(char c) { b_.push_back(c); }
    // ,"name":  (the separator is part of the key: every object starts with a key-less field)
    JsonWriter& key(std::string_view name) {
        b_.push_back(',');
        b_.push_back('"');
        b_.append(name);
        b_.append(std::string_view("\":"));
        return *this;
    }
    void num(uint64_t v) {
        fmt::format_int f(v);
        b_.append(f.data(), f.data() + f.size());
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
        b_.push_back('"');
        b_.append(s);
        b_.push_back('"');
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
    fmt::memory_buffer& b_;
};

}  // namespace tcptrail::sinks
