// TCP state and errno names as users read them (Linux names without the TCP_ prefix).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace tcptrail::core {

// "ESTABLISHED", "SYN_SENT", ...; "UNKNOWN(n)"-free: returns "UNKNOWN" for junk.
std::string_view state_name(uint8_t state);

// Inverse of state_name(), for tests and capture validation.
std::optional<uint8_t> state_from_name(std::string_view name);

bool is_valid_state(uint8_t state);

// States with this side's FIN outstanding: a retransmission there resends the FIN.
bool is_fin_state(uint8_t state);

// "ECONNRESET" for 104, etc.; empty for 0 or values we do not name.
std::string_view errno_name(int err);

}  // namespace tcptrail::core
