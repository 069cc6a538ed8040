// Appends JSON fragments to a buffer without parsing format strings: the JSON
// sink formats millions of records per second on replay.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

#include <fmt/format.h>

#include "sinks/format.hpp"
#include "sinks/time_base.hpp"

namespace tcptrail::sinks {

// Copies n <= 32 bytes without a call. A record is some hundred pieces of a
// few bytes each, and a libc memcpy call per piece was a tenth of replay.
inline void copy_short(char* dst, const char* src, size_t n) {
    if (n > 16) {  // two 16-byte copies that may overlap
        std::memcpy(dst, src, 16);
        std::memcpy(dst + n - 16, src + n - 16, 16);
    } else if (n >= 8) {
        std::memcpy(dst, src, 8);
        std::memcpy(dst + n - 8, src + n - 8, 8);
    } else if (n >= 4) {
        std::memcpy(dst, src, 4);
        std::memcpy(dst + n - 4, src + n - 4, 4);
    } else if (n > 0) {  // 1 to 3 bytes
        dst[0] = src[0];
        dst[n / 2] = src[n / 2];
        dst[n - 1] = src[n - 1];
    }
}

inline void copy_bytes(char* dst, const char* src, size_t n) {
    if (n <= 32) {
        copy_short(dst, src, n);
    } else {
        std::memcpy(dst, src, n);
    }
}

// Writes v in decimal so that it ends just before end; returns where it starts.
inline char* decimal_before(char* end, uint64_t v) {
    static constexpr auto kPairs = [] {
        std::array<char, 200> t{};
        for (int i = 0; i < 100; ++i) {
            t[2 * i] = static_cast<char>('0' + i / 10);
            t[2 * i + 1] = static_cast<char>('0' + i % 10);
        }
        return t;
    }();
    while (v >= 100) {
        end -= 2;
        std::memcpy(end, &kPairs[2 * (v % 100)], 2);
        v /= 100;
    }
    if (v >= 10) {
        end -= 2;
        std::memcpy(end, &kPairs[2 * v], 2);
    } else {
        *--end = static_cast<char>('0' + v);
    }
    return end;
}

// Writes JSON into room reserved beforehand (JsonWriter::reserve), with no
// capacity check per piece: the position stays in a register while a record is
// written. The caller reserves at least what it can write.
class JsonCursor {
public:
    explicit JsonCursor(char* at) : p_(at) {}
    char* position() const { return p_; }

    template <size_t N>
    JsonCursor& raw(const char (&s)[N]) {  // a literal: a fixed-size copy
        std::memcpy(p_, s, N - 1);
        p_ += N - 1;
        return *this;
    }
    JsonCursor& raw(std::string_view s) {
        copy_bytes(p_, s.data(), s.size());
        p_ += s.size();
        return *this;
    }
    JsonCursor& ch(char c) {
        *p_++ = c;
        return *this;
    }
    // ,"name":  (every object starts with a key-less field)
    template <size_t N>
    JsonCursor& key(const char (&name)[N]) {
        p_[0] = ',';
        p_[1] = '"';
        std::memcpy(p_ + 2, name, N - 1);
        p_[N + 1] = '"';
        p_[N + 2] = ':';
        p_ += N + 3;
        return *this;
    }
    JsonCursor& key(std::string_view name) {  // a name known only at run time
        p_[0] = ',';
        p_[1] = '"';
        copy_bytes(p_ + 2, name.data(), name.size());
        p_[name.size() + 2] = '"';
        p_[name.size() + 3] = ':';
        p_ += name.size() + 4;
        return *this;
    }
    JsonCursor& num(uint64_t v) {  // at most 20 bytes
        char digits[20];
        char* end = digits + sizeof(digits);
        const char* start = decimal_before(end, v);
        const auto n = static_cast<size_t>(end - start);
        copy_short(p_, start, n);
        p_ += n;
        return *this;
    }
    template <typename T>
    JsonCursor& opt(const std::optional<T>& v) {
        return v ? num(*v) : null();
    }
    JsonCursor& boolean(bool v) { return v ? raw("true") : raw("false"); }
    JsonCursor& null() { return raw("null"); }
    // A string known to need no escaping (names, addresses, timestamps).
    JsonCursor& plain(std::string_view s) {
        *p_ = '"';
        copy_bytes(p_ + 1, s.data(), s.size());
        p_[s.size() + 1] = '"';
        p_ += s.size() + 2;
        return *this;
    }
    JsonCursor& plain_or_null(const char* s) { return s ? plain(s) : null(); }
    JsonCursor& addr(uint8_t family, const uint8_t* a) {  // at most kMaxAddrText bytes
        p_ = write_addr(p_, family, a);
        return *this;
    }
    JsonCursor& time(const TimeBase& time, uint64_t mono_ns) {  // TimeBase::kRfc3339Size bytes
        p_ = time.write_rfc3339(p_, mono_ns);
        return *this;
    }
    JsonCursor& text(std::string_view s) {  // escaped: at most json_string_bound(s.size()) bytes
        p_ = write_json_string(p_, s);
        return *this;
    }

private:
    char* p_;
};

// Appends pieces to a buffer, each through a JsonCursor over room reserved for
// it: for the few lines that are not records (or that embed one).
class JsonWriter {
public:
    explicit JsonWriter(fmt::memory_buffer& b) : b_(b) {}

    void raw(std::string_view s) {
        piece(s.size(), [&](JsonCursor& c) { c.raw(s); });
    }
    void ch(char ch) {
        piece(1, [&](JsonCursor& c) { c.ch(ch); });
    }
    // ,"name":  (the separator is part of the key: every object starts with a key-less field)
    JsonWriter& key(std::string_view name) {
        piece(name.size() + 4, [&](JsonCursor& c) { c.key(name); });
        return *this;
    }
    void num(uint64_t v) {
        piece(20, [&](JsonCursor& c) { c.num(v); });
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
        piece(s.size() + 2, [&](JsonCursor& c) { c.plain(s); });
    }
    void plain_or_null(const char* s) {
        if (s) {
            plain(s);
        } else {
            null();
        }
    }
    void text(std::string_view s) {  // escaped
        piece(json_string_bound(s.size()), [&](JsonCursor& c) { c.text(s); });
    }
    fmt::memory_buffer& buffer() { return b_; }

    // Room for n more bytes, to be written through the cursor and handed back.
    JsonCursor reserve(size_t n) {
        b_.reserve(b_.size() + n);
        return JsonCursor(b_.data() + b_.size());
    }
    void commit(const JsonCursor& c) { b_.resize(static_cast<size_t>(c.position() - b_.data())); }

private:
    template <typename Write>
    void piece(size_t bound, Write write) {
        JsonCursor c = reserve(bound);
        write(c);
        commit(c);
    }

    fmt::memory_buffer& b_;
};

}  // namespace tcptrail::sinks
