// Prints a core::Summary: as text for people, or as one JSON object.
#pragma once

#include "core/summary.hpp"
#include "sinks/output_stream.hpp"

namespace tcptrail::sinks {

void write_summary_text(const core::Summary& s, OutputStream& out);
void write_summary_json(const core::Summary& s, OutputStream& out);

}  // namespace tcptrail::sinks
